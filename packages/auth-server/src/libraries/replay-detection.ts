// One-time use of client assertions (RFC 7523 §3 `jti`) and DPoP proofs across every auth server
// process. oidc-provider's ReplayDetection model looks a `jti` up and then saves it; the adapter makes
// that look-up an atomic claim in the shared cache (see oidc/adapter), and the JWT introspection and
// revocation front claims through the same key, so an assertion used at one endpoint of one process
// is refused at every other.
import { hash } from 'node:crypto';
import type { Kv } from '@clouddocs/kv';
import { kvKeys } from '../constants';

export const REPLAY_MODEL = 'ReplayDetection';
/** How long a claim made before the model knows the assertion's `exp` holds (the save then sets it). */
export const PROVISIONAL_CLAIM_SECONDS = 3600;

/** oidc-provider's ReplayDetection id for an issuer and `jti` (lib/models/replay_detection.js). */
export const replayId = (iss: string, jti: string) => hash('sha256', `${iss}${jti}`, 'base64url');

/** True for the first claim of this id in any process; false when it was seen before. */
export function claimReplayId(kv: Kv, id: string, iss: string, ttlSeconds: number): Promise<boolean> {
  return kv.setIfAbsent(kvKeys.model(REPLAY_MODEL, id), JSON.stringify({ jti: id, iss }), Math.max(1, Math.ceil(ttlSeconds)));
}
