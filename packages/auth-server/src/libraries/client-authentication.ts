// Client authentication for the endpoints the server answers itself (the JWT introspection and
// revocation front), exactly as oidc-provider authenticates at its own endpoints: the same methods,
// the client's registered method deciding which are accepted, constant-time secret comparison.
// Each method is one entry of METHODS: a new one (private_key_jwt, tls_client_auth, …) is one more
// entry that finds its credential in the request and checks it against the client.
import type Provider from 'oidc-provider';
import { InvalidClientError } from '../errors';
import { sameSecret } from './csrf';

export interface AuthenticatedClient {
  clientId: string;
  /** Authenticated with a credential (not a public client). */
  confidential: boolean;
}

type Client = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

interface PresentedCredential {
  clientId: string;
  /** Checks the credential against the registered client. */
  verify(client: Client): boolean;
  /** The registered methods this credential may stand for (oidc-provider's shared/client_auth.js). */
  acceptedFor: readonly string[];
}

const SECRET_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

/** RFC 6749 §2.3.1: the client id and secret of HTTP Basic (form-urlencoded) or of the body. */
export function presentedSecret(header: string, body: URLSearchParams): { clientId: string; secret: string; via: 'basic' | 'post' } | undefined {
  if (!header) {
    const secret = body.get('client_secret');
    const clientId = body.get('client_id');
    return secret !== null && clientId ? { clientId, secret, via: 'post' } : undefined;
  }
  const match = /^Basic ([A-Za-z0-9+/=]+)$/i.exec(header);
  if (!match || body.has('client_secret')) return undefined;
  const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return { clientId: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20')), secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, '%20')), via: 'basic' };
  } catch {
    return undefined;
  }
}

const secretCredential = (clientId: string, secret: string): PresentedCredential => ({
  clientId,
  acceptedFor: SECRET_METHODS,
  verify: (client) => Boolean(client.clientSecret && sameSecret(secret, client.clientSecret)),
});

function basic(header: string, body: URLSearchParams): PresentedCredential | undefined {
  const presented = presentedSecret(header, body);
  if (!presented) throw new InvalidClientError();
  return secretCredential(presented.clientId, presented.secret);
}

const METHODS: ((header: string, body: URLSearchParams) => PresentedCredential | undefined)[] = [
  (header, body) => (header ? basic(header, body) : undefined),
  (_header, body) => {
    const presented = presentedSecret('', body);
    return presented ? secretCredential(presented.clientId, presented.secret) : undefined;
  },
  (_header, body) => {
    const clientId = body.get('client_id');
    return clientId ? { clientId, acceptedFor: ['none'], verify: () => true } : undefined;
  },
];

export function createClientAuthentication(deps: { provider: () => Provider }) {
  return {
    /** The client this request authenticates as; InvalidClientError otherwise. */
    async authenticate(authorization: string, body: URLSearchParams): Promise<AuthenticatedClient> {
      let credential: PresentedCredential | undefined;
      for (const method of METHODS) if ((credential = method(authorization, body))) break;
      if (!credential) throw new InvalidClientError();
      const client = await deps.provider().Client.find(credential.clientId);
      if (!client || !credential.acceptedFor.includes(client.clientAuthMethod ?? '') || !credential.verify(client)) throw new InvalidClientError();
      return { clientId: client.clientId, confidential: client.clientAuthMethod !== 'none' };
    },
  };
}

export type ClientAuthentication = ReturnType<typeof createClientAuthentication>;
