// Chain checkpoints: a chain's (seq, hash) at a moment, optionally signed, appended to
// audit.checkpoints. Events up to a checkpoint can then be archived, and verification starts from
// the checkpoint's hash instead of the genesis (RETENTION.md).
import { sign, verify, type KeyObject } from 'node:crypto';
import { appendFile, readFile } from 'node:fs/promises';
import type { Knex } from '@clouddocs/db';
import { canonicalJson } from './canonical';

export interface CheckpointSigner {
  keyId: string;
  /** Ed25519 (or EC/RSA, signed over SHA-256) private key. */
  privateKey: KeyObject;
}

export interface Checkpoint {
  chainId: string;
  seq: number;
  hash: string;
  createdAt: string;
  keyId: string | null;
  signature: string | null;
  /** Where it was read from, when it came from an exported file. */
  line?: number;
}

/** The bytes a checkpoint signature covers. */
export function checkpointPayload(c: Pick<Checkpoint, 'chainId' | 'seq' | 'hash' | 'createdAt'>): Buffer {
  return Buffer.from(canonicalJson({ chainId: c.chainId, seq: c.seq, hash: c.hash, createdAt: c.createdAt }));
}

const digestFor = (key: KeyObject) => (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448' ? null : 'sha256');

export function signCheckpoint(c: Pick<Checkpoint, 'chainId' | 'seq' | 'hash' | 'createdAt'>, signer: CheckpointSigner): string {
  return sign(digestFor(signer.privateKey), checkpointPayload(c), signer.privateKey).toString('base64url');
}

/** True when the checkpoint carries a valid signature by one of `keys` (by key id). */
export function checkpointSignatureValid(c: Checkpoint, keys: Record<string, KeyObject>): boolean {
  if (!c.keyId || !c.signature) return false;
  const key = keys[c.keyId];
  if (!key) return false;
  try {
    return verify(digestFor(key), checkpointPayload(c), key, Buffer.from(c.signature, 'base64url'));
  } catch {
    return false;
  }
}

export function toCheckpoint(row: Record<string, any>): Checkpoint {
  return {
    chainId: row.chain_id,
    seq: Number(row.seq),
    hash: row.hash,
    createdAt: (row.created_at instanceof Date ? row.created_at : new Date(row.created_at)).toISOString(),
    keyId: row.key_id ?? null,
    signature: row.signature ?? null,
  };
}

/**
 * Records the current head of every chain (or of `chainIds`) that has moved since its last
 * checkpoint. The head row and its last event commit together, so the head is always a real link.
 */
export async function writeCheckpoints(knex: Knex, options: { signer?: CheckpointSigner; chainIds?: string[] } = {}): Promise<Checkpoint[]> {
  const heads = knex('audit.chains as c')
    .select('c.id', 'c.head_seq', 'c.head_hash')
    .where('c.head_seq', '>', 0)
    .whereNotExists(knex('audit.checkpoints as k').whereRaw('k.chain_id = c.id AND k.seq = c.head_seq'));
  if (options.chainIds) heads.whereIn('c.id', options.chainIds);
  const written: Checkpoint[] = [];
  const createdAt = new Date().toISOString();
  for (const head of await heads) {
    const base = { chainId: String(head.id), seq: Number(head.head_seq), hash: String(head.head_hash), createdAt };
    const checkpoint: Checkpoint = {
      ...base,
      keyId: options.signer?.keyId ?? null,
      signature: options.signer ? signCheckpoint(base, options.signer) : null,
    };
    await knex('audit.checkpoints')
      .insert({ chain_id: checkpoint.chainId, seq: checkpoint.seq, hash: checkpoint.hash, created_at: createdAt, key_id: checkpoint.keyId, signature: checkpoint.signature })
      .onConflict(['chain_id', 'seq'])
      .ignore();
    written.push(checkpoint);
  }
  return written;
}

/** A checkpoint as one JSON line (the exported file, the logs). */
export function checkpointJson(c: Checkpoint): { chainId: string; seq: number; hash: string; createdAt: string; keyId: string | null; signature: string | null } {
  return { chainId: c.chainId, seq: c.seq, hash: c.hash, createdAt: c.createdAt, keyId: c.keyId, signature: c.signature };
}

/**
 * A sink that appends each checkpoint as one JSON line to `path` (created 0600 if missing). Lines are
 * short single writes in append mode, so several processes may share the file.
 */
export function checkpointFileSink(path: string): (c: Checkpoint) => Promise<void> {
  return async (c) => {
    await appendFile(path, `${JSON.stringify(checkpointJson(c))}\n`, { mode: 0o600, flag: 'a' });
  };
}

/** Reads an exported checkpoint file; a malformed line is an error naming its line number. */
export async function readCheckpointFile(path: string): Promise<Checkpoint[]> {
  const text = await readFile(path, 'utf8');
  const checkpoints: Checkpoint[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i]!.trim();
    if (!line) continue;
    let c: Record<string, unknown>;
    try {
      c = JSON.parse(line);
    } catch {
      throw new Error(`${path} line ${i + 1}: not JSON`);
    }
    const valid =
      c && typeof c === 'object' && typeof c.chainId === 'string' && Number.isSafeInteger(c.seq) && (c.seq as number) > 0 &&
      typeof c.hash === 'string' && /^[0-9a-f]{64}$/.test(c.hash) && typeof c.createdAt === 'string' && !Number.isNaN(Date.parse(c.createdAt)) &&
      (c.keyId === null || c.keyId === undefined || typeof c.keyId === 'string') && (c.signature === null || c.signature === undefined || typeof c.signature === 'string');
    if (!valid) throw new Error(`${path} line ${i + 1}: not a checkpoint ({ chainId, seq, hash, createdAt, keyId, signature })`);
    checkpoints.push({
      chainId: c.chainId as string,
      seq: c.seq as number,
      hash: c.hash as string,
      createdAt: c.createdAt as string,
      keyId: (c.keyId as string | null | undefined) ?? null,
      signature: (c.signature as string | null | undefined) ?? null,
      line: i + 1,
    });
  }
  return checkpoints;
}
