// OIDC Back-Channel Logout 1.0, the delivery side: a loop in every auth server process claims due
// deliveries from auth.backchannel_deliveries (libraries/backchannel-logout.ts), signs each logout token
// with oidc-provider's own IdToken model (`typ: logout+jwt`, the client's ID token algorithm and keys,
// `iss`, `aud`, `iat`, `jti`, `events`, `sub`, `sid`) and POSTs it as `logout_token`. A 2xx is success;
// anything else, a redirect (never followed, §2.8), a timeout or a refused connection is a failure,
// retried with exponential backoff up to the attempt limit. Every delivery and every failed attempt is
// audited; the token never is, nor logged.
import type { AuditLog } from '@clouddocs/audit';
import type { Logger } from '@clouddocs/observability';
import type Provider from 'oidc-provider';
import { OutboundRefusedError, OutboundTimeoutError, postForm } from '../libraries/outbound-post';
import type { DeliveryQueries, DeliveryRow } from '../queries/backchannel-deliveries';
import { actors } from '../request-scope';

const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const BATCH = 10;
const IDLE_POLL_MS = 5_000;
const MAX_BACKOFF_SECONDS = 3_600;
/** Finished deliveries are kept this long (the audit log keeps them for good), pruned at most hourly. */
export const FINISHED_DELIVERY_DAYS = 7;
const PRUNE_EVERY_MS = 3_600_000;

export interface BackchannelDeliveryOptions {
  queries: DeliveryQueries;
  provider: () => Provider;
  audit: AuditLog;
  logger: Logger;
  timeoutSeconds: number;
  attempts: number;
  retrySeconds: number;
  /** Deliveries may go to loopback and private addresses (only a localhost issuer: development). */
  allowInternal: boolean;
}

type ProviderClient = InstanceType<Provider['Client']> & { backchannelLogoutUri?: string };

export function startBackchannelDelivery(options: BackchannelDeliveryOptions) {
  const { queries, logger } = options;
  let stopped = false;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;

  async function logoutToken(client: ProviderClient, row: DeliveryRow): Promise<string> {
    const provider = options.provider();
    const token = new provider.IdToken({ sub: row.sub }, { client, ctx: undefined } as never) as InstanceType<Provider['IdToken']> & { mask: unknown };
    token.mask = { sub: null };
    token.set('events', { [LOGOUT_EVENT]: {} });
    token.set('jti', row.jti);
    if (row.sid) token.set('sid', row.sid);
    return token.issue({ use: 'logout' });
  }

  /** One attempt: undefined on success, else why it failed (and whether trying again could help). */
  async function attempt(row: DeliveryRow): Promise<{ error: string; status?: number; final?: boolean } | undefined> {
    const client = (await options.provider().Client.find(row.client_id).catch(() => undefined)) as ProviderClient | undefined;
    if (!client?.backchannelLogoutUri) return { error: 'the client is gone, disabled or has no backchannel logout URI', final: true };
    let status: number;
    try {
      const body = new URLSearchParams({ logout_token: await logoutToken(client, row) }).toString();
      status = await postForm(new URL(client.backchannelLogoutUri), body, { timeoutMs: options.timeoutSeconds * 1000, allowInternal: options.allowInternal });
    } catch (err) {
      if (err instanceof OutboundTimeoutError) return { error: `no answer within ${options.timeoutSeconds} s` };
      if (err instanceof OutboundRefusedError) return { error: `refused: ${err.message} (back-channel logout goes to public addresses only)`, final: true };
      const e = err as { code?: string; name?: string };
      return { error: `request failed (${e.code ?? e.name ?? 'error'})` };
    }
    if (status >= 200 && status < 300) return undefined;
    const what = status >= 300 && status < 400 ? 'a redirect (not followed)' : `HTTP ${status}`;
    return { error: `answered ${what}`, status };
  }

  async function deliver(row: DeliveryRow): Promise<void> {
    const target = { type: 'client', id: row.client_id };
    const detail = { sub: row.sub, reason: row.reason, attempt: row.attempts };
    let failure: Awaited<ReturnType<typeof attempt>>;
    try {
      failure = await attempt(row);
    } catch (err) {
      logger.warn({ err, delivery: row.id }, 'signing a logout token failed');
      failure = { error: 'the logout token could not be signed' };
    }
    if (!failure) {
      await queries.delivered(row.id);
      await options.audit.record({ action: 'auth.backchannel_logout.delivered', actor: actors.system(), target, outcome: 'success', detail });
      return;
    }
    const final = failure.final === true || row.attempts >= options.attempts;
    const retryIn = final ? null : Math.min(MAX_BACKOFF_SECONDS, options.retrySeconds * 2 ** (row.attempts - 1));
    await queries.failed(row.id, failure.error, retryIn);
    logger.info({ delivery: row.id, client: row.client_id, attempt: row.attempts, final, error: failure.error }, 'back-channel logout delivery failed');
    await options.audit.record({
      action: 'auth.backchannel_logout.failed',
      actor: actors.system(),
      target,
      outcome: 'failure',
      detail: { ...detail, error: failure.error, ...(failure.status ? { status: failure.status } : {}), final, ...(retryIn !== null ? { retry_in_seconds: retryIn } : {}) },
    });
  }

  let prunedAt = 0;
  async function drain(): Promise<void> {
    if (Date.now() - prunedAt > PRUNE_EVERY_MS) {
      prunedAt = Date.now();
      await queries.pruneFinished(FINISHED_DELIVERY_DAYS).catch((err) => logger.warn({ err }, 'finished back-channel logout deliveries could not be pruned'));
    }
    for (;;) {
      const rows = await queries.claim(BATCH, options.timeoutSeconds + 30);
      await Promise.all(rows.map((row) => deliver(row).catch((err) => logger.warn({ err, delivery: row.id }, 'back-channel logout delivery could not be recorded'))));
      if (rows.length < BATCH || stopped) return;
    }
  }

  function schedule(ms: number): void {
    if (stopped) return;
    clearTimeout(timer);
    timer = setTimeout(kick, Math.max(10, Math.min(ms, IDLE_POLL_MS)));
    timer.unref();
  }

  /** Runs the queue now (single flight: a kick during a run runs it once more after). */
  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        await drain().catch((err) => logger.warn({ err }, 'back-channel logout queue unavailable'));
      } while (again && !stopped);
      const next = await queries.nextDueInMs().catch(() => undefined);
      schedule(next ?? IDLE_POLL_MS);
    })().finally(() => {
      running = undefined;
    });
  }

  kick();
  return {
    kick,
    async stop(): Promise<void> {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
