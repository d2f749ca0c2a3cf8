// The checkpoint signing key (Ed25519), kept away from the database: read from AUDIT_CHECKPOINT_KEY
// (a PKCS#8 PEM or a private JWK), or on the embedded store a development key generated once under
// DATA_DIR. Verification takes the public half (derived from the private key, or given as a PEM /
// JWK / JWK Set file). A key's id is derived from its public key, so every process signing with the
// same key writes the same key id.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { CheckpointSigner } from './checkpoint';

export class CheckpointKeyError extends Error {
  override readonly name = 'CheckpointKeyError';
}

/** The development key's file under DATA_DIR (embedded store only). */
export const DEV_CHECKPOINT_KEY_FILE = 'audit-checkpoint-key.pem';

/** `ed25519:` and 16 base64url characters of the SHA-256 of the public key (SPKI DER). */
export function checkpointKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return `ed25519:${createHash('sha256').update(der).digest('base64url').slice(0, 16)}`;
}

function requireEd25519(key: KeyObject, what: string): KeyObject {
  if (key.asymmetricKeyType !== 'ed25519') throw new CheckpointKeyError(`${what} must be an Ed25519 key, not ${key.asymmetricKeyType ?? key.type}`);
  return key;
}

/** A PEM given on one line with literal `\n` (common in environment files) is read as the PEM it stands for. */
function pemText(text: string): string {
  return text.includes('-----BEGIN') && !text.includes('\n') ? text.replace(/\\n/g, '\n') : text;
}

/** Parses an Ed25519 private key: a PKCS#8 PEM or a private JWK (`{"kty":"OKP","crv":"Ed25519","d":…,"x":…}`). */
export function parseCheckpointPrivateKey(text: string, what = 'the checkpoint key'): KeyObject {
  const trimmed = text.trim();
  let key: KeyObject;
  try {
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed);
      if (typeof jwk?.d !== 'string') throw new Error('a JWK without "d" is not a private key');
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } else if (/-----BEGIN (ENCRYPTED )?PRIVATE KEY-----/.test(trimmed)) {
      key = createPrivateKey({ key: pemText(trimmed), format: 'pem' });
    } else {
      throw new Error('expected a PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----") or a private JWK');
    }
  } catch (err) {
    if (err instanceof CheckpointKeyError) throw err;
    throw new CheckpointKeyError(`${what} is not a usable private key: ${(err as Error).message.split('\n')[0]}`);
  }
  return requireEd25519(key, what);
}

export function signerFromPrivateKey(privateKey: KeyObject): CheckpointSigner {
  requireEd25519(privateKey, 'the checkpoint key');
  return { keyId: checkpointKeyId(createPublicKey(privateKey)), privateKey };
}

/**
 * Trusted public keys by key id from a file's text: an SPKI PEM, a PKCS#8 PEM (its public half),
 * several PEM blocks, a JWK (public or private) or a JWK Set.
 */
export function parseCheckpointPublicKeys(text: string, what = 'the public key file'): Record<string, KeyObject> {
  const keys: Record<string, KeyObject> = {};
  const add = (key: KeyObject) => {
    const pub = key.type === 'private' ? createPublicKey(key) : key;
    requireEd25519(pub, what);
    keys[checkpointKeyId(pub)] = pub;
  };
  const trimmed = pemText(text.trim());
  try {
    if (trimmed.startsWith('{')) {
      const json = JSON.parse(trimmed);
      const jwks: unknown[] = Array.isArray(json?.keys) ? json.keys : [json];
      for (const jwk of jwks) {
        const { d, ...pub } = jwk as Record<string, unknown>;
        void d;
        add(createPublicKey({ key: pub as never, format: 'jwk' }));
      }
    } else {
      const blocks = trimmed.match(/-----BEGIN ([A-Z ]+)-----[\s\S]+?-----END \1-----/g) ?? [];
      if (blocks.length === 0) throw new Error('no PEM block or JWK found');
      for (const block of blocks) add(block.includes('PRIVATE KEY') ? createPrivateKey(block) : createPublicKey(block));
    }
  } catch (err) {
    if (err instanceof CheckpointKeyError) throw err;
    throw new CheckpointKeyError(`${what} holds no usable Ed25519 public key: ${(err as Error).message.split('\n')[0]}`);
  }
  return keys;
}

/**
 * The development key under `dataDir`, generated on first use (mode 0600). Processes starting
 * together agree: the key is written to a temporary file and linked into place, so the first link
 * wins and the others read it.
 */
export async function developmentCheckpointKey(dataDir: string, options: { create: boolean }): Promise<KeyObject | null> {
  const file = join(resolve(dataDir), DEV_CHECKPOINT_KEY_FILE);
  try {
    return parseCheckpointPrivateKey(await fs.readFile(file, 'utf8'), file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    if (!options.create) return null;
  }
  await fs.mkdir(resolve(dataDir), { recursive: true });
  const { privateKey } = generateKeyPairSync('ed25519');
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temp, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  try {
    await fs.link(temp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    await fs.unlink(temp).catch(() => {});
  }
  return parseCheckpointPrivateKey(readFileSync(file, 'utf8'), file);
}
