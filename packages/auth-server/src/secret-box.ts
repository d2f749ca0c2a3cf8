// Secrets at rest (private signing keys, client secrets, TOTP secrets, the recovery-code pepper):
// AES-256-GCM under a key derived from AUTH_ENCRYPTION_KEY. Format: v1.<iv>.<ciphertext>.<tag>, base64url.
//
// Rotating AUTH_ENCRYPTION_KEY: the services run with the new key and the old one as
// AUTH_ENCRYPTION_KEY_PREVIOUS; they seal under the new key and open under either (GCM's tag tells
// which key sealed a value), and `clouddocs keys reseal` re-encrypts what is stored under the old one.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';

function deriveKey(secret: string): Buffer {
  return Buffer.from(hkdfSync('sha256', secret, 'clouddocs-secret-box', 'aes-256-gcm v1', 32));
}

function parse(sealed: string): { iv: string; ct: string; tag: string } | undefined {
  const [version, iv, ct, tag] = sealed.split('.');
  return version === 'v1' && iv && ct !== undefined && tag ? { iv, ct, tag } : undefined;
}

export class SecretBox {
  private readonly key: Buffer;
  private readonly previousKey: Buffer | undefined;

  constructor(secret: string, previous?: string) {
    this.key = deriveKey(secret);
    this.previousKey = previous ? deriveKey(previous) : undefined;
  }

  /** The box of a service or command: AUTH_ENCRYPTION_KEY, and the previous key during a rotation. */
  static fromConfig(config: { AUTH_ENCRYPTION_KEY: string; AUTH_ENCRYPTION_KEY_PREVIOUS?: string | undefined }): SecretBox {
    return new SecretBox(config.AUTH_ENCRYPTION_KEY, config.AUTH_ENCRYPTION_KEY_PREVIOUS);
  }

  seal(plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), ct.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  open(sealed: string): string {
    if (!parse(sealed)) throw new Error('unrecognised sealed secret');
    const opened = this.tryOpen(sealed, this.key) ?? (this.previousKey ? this.tryOpen(sealed, this.previousKey) : undefined);
    if (opened === undefined) throw new Error('sealed secret does not open under AUTH_ENCRYPTION_KEY (or AUTH_ENCRYPTION_KEY_PREVIOUS)');
    return opened;
  }

  /**
   * Where a stored value stands: `current` (sealed under AUTH_ENCRYPTION_KEY), `previous` (under
   * AUTH_ENCRYPTION_KEY_PREVIOUS: reseal it) or `unknown` (under neither: left alone and reported).
   */
  sealedUnder(sealed: string): 'current' | 'previous' | 'unknown' {
    if (this.tryOpen(sealed, this.key) !== undefined) return 'current';
    if (this.previousKey && this.tryOpen(sealed, this.previousKey) !== undefined) return 'previous';
    return 'unknown';
  }

  private tryOpen(sealed: string, key: Buffer): string | undefined {
    const parts = parse(sealed);
    if (!parts) return undefined;
    const { iv, ct, tag } = parts;
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      return undefined;
    }
  }
}
