// Baseline: oidc-provider with its memory adapter, the same ES256 JWT access tokens, nothing else.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const es = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const audience = 'http://localhost:4000';
const provider = new Provider('http://127.0.0.1', {
  jwks: {
    keys: [
      { ...(rsa.privateKey.export({ format: 'jwk' }) as object), kid: 'rs', alg: 'RS256', use: 'sig' },
      { ...(es.privateKey.export({ format: 'jwk' }) as object), kid: 'es', alg: 'ES256', use: 'sig' },
    ] as never,
  },
  clients: [{ client_id: 'bench', client_secret: 'bench-secret-bench-secret-bench-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'docs:read docs:write' }],
  scopes: ['docs:read', 'docs:write'],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async () => audience,
      useGrantedResource: async () => true,
      getResourceServerInfo: async () => ({ scope: 'docs:read docs:write', audience, accessTokenTTL: 600, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256', kid: 'es' } } }),
    },
  },
});
const server = provider.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`READY ${JSON.stringify({ url: `http://127.0.0.1:${port}`, clientId: 'bench', clientSecret: 'bench-secret-bench-secret-bench-secret' })}\n`);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
