// The checkpoint key: parsed from AUDIT_CHECKPOINT_KEY (PEM or JWK, Ed25519 only, the config module
// naming the variable), a development key generated once under DATA_DIR on the embedded store, and
// the public keys `audit verify` trusts.
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadAuthConfig, loadDocsConfig } from '@clouddocs/config';
import { createLogger } from '@clouddocs/observability';
import {
  CheckpointKeyError,
  DEV_CHECKPOINT_KEY_FILE,
  checkpointKeyId,
  developmentCheckpointKey,
  parseCheckpointPrivateKey,
  parseCheckpointPublicKeys,
  signerFromPrivateKey,
} from './checkpoint-key';
import { auditCheckpointOptions, checkpointPublicKeysFromConfig, checkpointSignerFromConfig } from './checkpoint-config';
import { checkpointSignatureValid, signCheckpoint } from './checkpoint';

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-key-'));
  dirs.push(dir);
  return dir;
};
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

const ed = generateKeyPairSync('ed25519');
const pem = ed.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const jwk = JSON.stringify(ed.privateKey.export({ format: 'jwk' }));
const silent = createLogger({ level: 'silent', name: 'test' });

describe('parsing the key', () => {
  it('takes a PKCS#8 PEM (also written on one line with \\n) or a private JWK, with the same key id', () => {
    const id = checkpointKeyId(ed.publicKey);
    expect(id).toMatch(/^ed25519:[\w-]{16}$/);
    expect(signerFromPrivateKey(parseCheckpointPrivateKey(pem)).keyId).toBe(id);
    expect(signerFromPrivateKey(parseCheckpointPrivateKey(pem.replace(/\n/g, '\\n'))).keyId).toBe(id);
    expect(signerFromPrivateKey(parseCheckpointPrivateKey(jwk)).keyId).toBe(id);
  });

  it('refuses another key type, a public key and garbage, naming what was read', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => parseCheckpointPrivateKey(ec, 'AUDIT_CHECKPOINT_KEY')).toThrow(new CheckpointKeyError('AUDIT_CHECKPOINT_KEY must be an Ed25519 key, not ec'));
    expect(() => parseCheckpointPrivateKey(JSON.stringify(ed.publicKey.export({ format: 'jwk' })))).toThrow(/not a usable private key/);
    expect(() => parseCheckpointPrivateKey('hunter2')).toThrow(/not a usable private key/);
  });

  it('public keys come from an SPKI PEM, a private PEM, a JWK or a JWK Set', () => {
    const other = generateKeyPairSync('ed25519');
    const id = checkpointKeyId(ed.publicKey);
    expect(Object.keys(parseCheckpointPublicKeys(ed.publicKey.export({ type: 'spki', format: 'pem' }) as string))).toEqual([id]);
    expect(Object.keys(parseCheckpointPublicKeys(pem))).toEqual([id]);
    expect(Object.keys(parseCheckpointPublicKeys(jwk))).toEqual([id]);
    const set = JSON.stringify({ keys: [ed.publicKey.export({ format: 'jwk' }), other.publicKey.export({ format: 'jwk' })] });
    expect(Object.keys(parseCheckpointPublicKeys(set)).sort()).toEqual([id, checkpointKeyId(other.publicKey)].sort());
    expect(() => parseCheckpointPublicKeys('nothing here')).toThrow(/no usable Ed25519 public key/);
  });
});

describe('the configuration', () => {
  it('AUDIT_CHECKPOINT_KEY that is not an Ed25519 private key fails fast naming the variable', () => {
    for (const load of [loadAuthConfig, loadDocsConfig]) {
      expect(() => load({ AUDIT_CHECKPOINT_KEY: 'not a key' })).toThrow(ConfigError);
      expect(() => load({ AUDIT_CHECKPOINT_KEY: 'not a key' })).toThrow(/AUDIT_CHECKPOINT_KEY: must be an Ed25519 private key/);
      const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
      expect(() => load({ AUDIT_CHECKPOINT_KEY: rsa })).toThrow(/AUDIT_CHECKPOINT_KEY/);
      expect(load({ AUDIT_CHECKPOINT_KEY: pem }).AUDIT_CHECKPOINT_KEY).toBe(pem);
      expect(load({ AUDIT_CHECKPOINT_KEY: jwk }).AUDIT_CHECKPOINT_KEY).toBe(jwk);
    }
    const defaults = loadAuthConfig({});
    expect(defaults).toMatchObject({ AUDIT_CHECKPOINT_EVERY_EVENTS: 100, AUDIT_CHECKPOINT_EVERY_SECONDS: 10 });
    expect(defaults.AUDIT_CHECKPOINT_FILE).toBeUndefined();
    expect(() => loadAuthConfig({ AUDIT_CHECKPOINT_EVERY_EVENTS: '0' })).toThrow(/AUDIT_CHECKPOINT_EVERY_EVENTS/);
    expect(() => loadDocsConfig({ AUDIT_CHECKPOINT_EVERY_SECONDS: 'soon' })).toThrow(/AUDIT_CHECKPOINT_EVERY_SECONDS/);
  });

  it('on the embedded store without a key, a development key is generated once under DATA_DIR with mode 0600', async () => {
    const dataDir = tempDir();
    const config = loadAuthConfig({ DATA_DIR: dataDir });
    expect(await checkpointPublicKeysFromConfig(config)).toBeUndefined(); // verify never creates one
    const [a, b] = await Promise.all([checkpointSignerFromConfig(config, { create: true }), checkpointSignerFromConfig(config, { create: true })]);
    expect(a!.keyId).toBe(b!.keyId);
    const file = join(dataDir, DEV_CHECKPOINT_KEY_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
    expect((await developmentCheckpointKey(dataDir, { create: true }))!.export({ format: 'jwk' })).toEqual(a!.privateKey.export({ format: 'jwk' }));
    const trusted = (await checkpointPublicKeysFromConfig(config))!;
    const base = { chainId: 'c', seq: 1, hash: '0'.repeat(64), createdAt: new Date().toISOString() };
    expect(checkpointSignatureValid({ ...base, keyId: a!.keyId, signature: signCheckpoint(base, a!) }, trusted)).toBe(true);
  });

  it('the configured key wins; on a real PostgreSQL without one there are no checkpoints', async () => {
    const dataDir = tempDir();
    const configured = await checkpointSignerFromConfig(loadAuthConfig({ DATA_DIR: dataDir, AUDIT_CHECKPOINT_KEY: pem }), { create: true });
    expect(configured!.keyId).toBe(checkpointKeyId(createPublicKey(ed.privateKey)));
    const real = loadDocsConfig({ DATA_DIR: dataDir, DATABASE_URL: 'postgres://owner@db.example/clouddocs' });
    expect(await checkpointSignerFromConfig(real, { create: true })).toBeNull();
    expect(await auditCheckpointOptions(real, silent)).toBeUndefined();
    expect(() => statSync(join(dataDir, DEV_CHECKPOINT_KEY_FILE))).toThrow(/ENOENT/);
    const options = await auditCheckpointOptions(loadDocsConfig({ DATA_DIR: dataDir, AUDIT_CHECKPOINT_KEY: jwk, AUDIT_CHECKPOINT_EVERY_EVENTS: '5', AUDIT_CHECKPOINT_EVERY_SECONDS: '2' }), silent);
    expect(options).toMatchObject({ everyEvents: 5, everyMs: 2000, signer: { keyId: configured!.keyId } });
  });
});
