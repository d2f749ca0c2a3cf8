// The client certificate a TLS terminator forwards (RFC 8705): nginx's `$ssl_client_escaped_cert`
// (URL-encoded PEM) and `$ssl_client_verify` (`SUCCESS` when it verified the certificate against the
// CAs it trusts). Read only when the proxy is trusted: otherwise any caller could claim a certificate.
// Used by oidc-provider's features.mTLS and by the JWT introspection/revocation front alike.
import { hash, X509Certificate } from 'node:crypto';

export interface PresentedCertificate {
  /** PEM, as oidc-provider's getCertificate returns it. */
  pem: string;
  x509: X509Certificate;
  /** The terminator verified it against its trusted CAs (RFC 8705 §2.1, the PKI method). */
  verified: boolean;
}

export interface CertificateHeaders {
  trustProxy: boolean;
  certHeader: string;
  verifyHeader: string;
}

/** A forwarded header value that is not a certificate (the request is then a 400, never a 5xx). */
export class MalformedCertificateError extends Error {
  override readonly name = 'MalformedCertificateError';
}

const MAX_HEADER = 16 * 1024;

/** The certificate of this request; undefined without one or when the proxy is not trusted. */
export function presentedCertificate(get: (name: string) => string, headers: CertificateHeaders): PresentedCertificate | undefined {
  if (!headers.trustProxy) return undefined;
  const raw = get(headers.certHeader);
  if (!raw) return undefined;
  if (raw.length > MAX_HEADER) throw new MalformedCertificateError('client certificate header too large');
  let pem: string;
  try {
    pem = decodeURIComponent(raw);
  } catch {
    throw new MalformedCertificateError('client certificate header is not URL-encoded PEM');
  }
  if (!/^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*$/.test(pem)) throw new MalformedCertificateError('client certificate header is not a PEM certificate');
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(pem);
  } catch {
    throw new MalformedCertificateError('client certificate header is not a valid certificate');
  }
  return { pem, x509, verified: get(headers.verifyHeader) === 'SUCCESS' };
}

/** RFC 8705 §3.1: the certificate's SHA-256 thumbprint, base64url (`cnf["x5t#S256"]`). */
export const certificateThumbprint = (x509: X509Certificate) => hash('sha256', x509.raw, 'base64url');

/** RDNs of an RFC 4514 string (`CN=a,O=b`) or of node's subject (one per line), as sorted `TYPE=value`. */
function rdns(dn: string, separator: RegExp): string[] {
  return dn
    .split(separator)
    .map((part) => part.replace(/\\(.)/g, '$1').trim())
    .filter(Boolean)
    .map((part) => {
      const eq = part.indexOf('=');
      return eq === -1 ? part : `${part.slice(0, eq).trim().toUpperCase()}=${part.slice(eq + 1).trim()}`;
    })
    .sort();
}

/** RFC 8705 §2.1.2: the certificate's subject is the registered `tls_client_auth_subject_dn`. */
export function subjectMatches(x509: X509Certificate, registeredDn: string): boolean {
  const expected = rdns(registeredDn, /(?<!\\),/);
  const actual = rdns(x509.subject, /\n/);
  return expected.length > 0 && expected.length === actual.length && expected.every((rdn, i) => rdn === actual[i]);
}

/** Whether a subject DN is well formed enough to register (`TYPE=value` RDNs, comma-separated). */
export function subjectDnProblem(dn: string): string | undefined {
  const parts = dn.split(/(?<!\\),/);
  if (!dn.trim() || dn.length > 1024 || parts.some((p) => !/^\s*[A-Za-z][A-Za-z0-9.-]*\s*=\s*\S/.test(p))) return `tls_client_auth_subject_dn ${JSON.stringify(dn)} must be an RFC 4514 DN such as "CN=client,O=Example"`;
  return undefined;
}
