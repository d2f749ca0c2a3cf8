// The client certificate of a request, as the TLS terminator in front forwards it (RFC 8705 §3):
// URL-encoded PEM in DOCS_API_MTLS_CERT_HEADER (nginx `$ssl_client_escaped_cert`). Read only when
// DOCS_API_TRUST_PROXY is true: otherwise any caller could claim any certificate. What a
// certificate-bound token is checked against is the certificate's SHA-256 thumbprint (`x5t#S256`).
import { hash, X509Certificate } from 'node:crypto';

/** What the request says of its client certificate. */
export type PresentedCertificate = { thumbprint: string } | { malformed: string } | undefined;

const MAX_HEADER = 16 * 1024;
const PEM = /^-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----\s*$/;

export function clientCertificateReader(options: { trustProxy: boolean; header: string }) {
  return (get: (name: string) => string): PresentedCertificate => {
    if (!options.trustProxy) return undefined;
    const raw = get(options.header);
    if (!raw) return undefined;
    if (raw.length > MAX_HEADER) return { malformed: 'the client certificate header is too large' };
    let pem: string;
    try {
      pem = decodeURIComponent(raw);
    } catch {
      return { malformed: 'the client certificate header is not URL-encoded PEM' };
    }
    if (!PEM.test(pem)) return { malformed: 'the client certificate header is not a PEM certificate' };
    try {
      return { thumbprint: hash('sha256', new X509Certificate(pem).raw, 'base64url') };
    } catch {
      return { malformed: 'the client certificate header is not a valid certificate' };
    }
  };
}

export type ReadClientCertificate = ReturnType<typeof clientCertificateReader>;
