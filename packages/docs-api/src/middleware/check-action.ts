// Step 5, check the action. Rule: a caller who can see the object but may not do this to it gets
// 403 (an editor deleting, a reader sharing, a viewer managing members), recorded as access.denied.
import type { DocumentAction, Role } from '../access';
import { ForbiddenError } from '../errors';
import type { RecordDenial } from './record-denial';
import { documentActionsOf, documentOf, orgOf, type Step } from './state';

export function requireDocumentAction(action: DocumentAction, recordDenial: RecordDenial): Step {
  return async (ctx, next) => {
    const doc = documentOf(ctx);
    if (!documentActionsOf(ctx).has(action)) {
      await recordDenial(ctx, { target: { type: 'document', id: doc.id }, orgId: doc.orgId, reason: `may not ${action}` });
      throw new ForbiddenError(`you may not ${action} this document`);
    }
    await next();
  };
}

export function requireOrgRole(allowed: readonly Role[], what: string, recordDenial: RecordDenial): Step {
  return async (ctx, next) => {
    const org = orgOf(ctx);
    if (!allowed.includes(org.role)) {
      await recordDenial(ctx, { target: { type: 'org', id: org.id }, orgId: org.id, reason: `role ${org.role} may not ${what}` });
      throw new ForbiddenError(`only ${allowed.join(' and ')}s may ${what}`);
    }
    await next();
  };
}
