// Chain checkpoints: a chain's (seq, hash) at a moment, optionally signed, appended to
// audit.checkpoints. Events up to a checkpoint can then be archived, and verification starts from
// the checkpoint's hash instead of the genesis (RETENTION.md).
import { sign, verify, type KeyObject } from 'node:crypto';
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
