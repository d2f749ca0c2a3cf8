// An `access.denied` event for every 403 and every 404 of an object looked up by a well-formed id,
// whether it exists or not (so a hidden object and a missing one cost the same). It has no
// transaction of its own, so it goes through the group commit, and is written before the answer.
import type { Target } from '@clouddocs/audit';
import type { AuditWriter } from '../libraries/audit-writer';
import type { Logger } from '@clouddocs/observability';
import { event } from '../libraries/event-context';
import { eventContext, type DocsContext } from './state';

export type RecordDenial = (ctx: DocsContext, denial: { target: Target | null; orgId: string | null; reason: string }) => Promise<void>;

export function createDenialRecorder(audit: AuditWriter, logger: Logger): RecordDenial {
  return async (ctx, { target, orgId, reason }) => {
    try {
      await audit.record(
        event(eventContext(ctx), { action: 'access.denied', target, outcome: 'denied', orgId, detail: { reason, method: ctx.method, route: String(ctx._matchedRoute ?? ctx.path) } }),
      );
    } catch (err) {
      // The denial stands either way; a lost denial event is an operational alarm, not a reason to allow.
      logger.error({ err, requestId: ctx.state.requestId }, 'could not record an access.denied event');
    }
  };
}
