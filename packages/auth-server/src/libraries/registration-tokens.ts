// Initial access tokens for dynamic client registration (RFC 7591 §3.1): made by an operator (`clouddocs
// client registration-token create`, the admin API), shown once, stored as a SHA-256 hash (a 256-bit
// random value needs no slow hash, like API keys), usable `max_uses` times until `expires_at`. A
// registration takes a use atomically and gives it back if no client was registered.
import { createHash, randomBytes } from 'node:crypto';
import type { Knex } from '@clouddocs/db';
import { createRegistrationTokenQueries, type RegistrationTokenRow } from '../queries/registration-tokens';

export const REGISTRATION_TOKEN_PREFIX = 'cd_reg_';
export const REGISTRATION_TOKEN_LIMITS = { maxUses: 1_000_000, maxExpiresInSeconds: 365 * 24 * 3600 } as const;

export interface RegistrationTokenView {
  id: string;
  max_uses: number | null;
  uses: number;
  expires_at: string | null;
  revoked: boolean;
  created_at: string;
}

const hash = (token: string) => createHash('sha256').update(token, 'utf8').digest('hex');
const iso = (v: Date | string | null) => (v ? new Date(v).toISOString() : null);

export class RegistrationTokenError extends Error {
  override readonly name = 'RegistrationTokenError';
}

export function createRegistrationTokenLibrary(deps: { knex: Knex }) {
  const queries = createRegistrationTokenQueries(deps.knex);
  const view = (row: RegistrationTokenRow): RegistrationTokenView => ({
    id: row.id,
    max_uses: row.max_uses,
    uses: row.uses,
    expires_at: iso(row.expires_at),
    revoked: row.revoked_at !== null,
    created_at: iso(row.created_at)!,
  });
  return {
    /** A new token (its value only in this answer). No limit given: unlimited uses, no expiry. */
    async create(input: { maxUses?: number; expiresIn?: number } = {}): Promise<RegistrationTokenView & { token: string }> {
      if (input.maxUses !== undefined && (!Number.isInteger(input.maxUses) || input.maxUses < 1 || input.maxUses > REGISTRATION_TOKEN_LIMITS.maxUses)) {
        throw new RegistrationTokenError(`max uses must be a whole number from 1 to ${REGISTRATION_TOKEN_LIMITS.maxUses}`);
      }
      if (input.expiresIn !== undefined && (!Number.isInteger(input.expiresIn) || input.expiresIn < 1 || input.expiresIn > REGISTRATION_TOKEN_LIMITS.maxExpiresInSeconds)) {
        throw new RegistrationTokenError(`expires in must be a whole number of seconds from 1 to ${REGISTRATION_TOKEN_LIMITS.maxExpiresInSeconds}`);
      }
      const token = `${REGISTRATION_TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
      const row = await queries.insert({
        id: `rt_${randomBytes(9).toString('base64url')}`,
        token_hash: hash(token),
        max_uses: input.maxUses ?? null,
        expires_at: input.expiresIn !== undefined ? new Date(Date.now() + input.expiresIn * 1000) : null,
      });
      return { token, ...view(row) };
    },
    async list(page: { after?: string; limit: number }): Promise<RegistrationTokenView[]> {
      return (await queries.list(page)).map(view);
    },
    async get(id: string): Promise<RegistrationTokenView | undefined> {
      const row = await queries.byId(id);
      return row ? view(row) : undefined;
    },
    /** Revoked at once; false for an unknown or already revoked token. */
    revoke: (id: string) => queries.revoke(id),
    /** The id of a live token (not revoked, not expired): the registration in progress has taken its use already. */
    async live(token: string): Promise<string | undefined> {
      return (await queries.liveByHash(hash(token)))?.id;
    },
    takeUse: (token: string) => queries.takeUse(hash(token)),
    giveBackUse: (id: string) => queries.giveBackUse(id),
  };
}

export type RegistrationTokenLibrary = ReturnType<typeof createRegistrationTokenLibrary>;
