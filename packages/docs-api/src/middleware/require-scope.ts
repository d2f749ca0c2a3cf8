// Step 2, require the route's scope. Rule: a valid token without it → 403 insufficient_scope
// with the `scope` attribute naming what is needed (RFC 6750 §3.1), recorded as access.denied.
import type { Scope } from '../access';
import { InsufficientScopeError } from '../errors';
import type { RecordDenial } from './record-denial';
import { principalOf, type Step } from './state';

export function requireScope(scope: Scope, recordDenial: RecordDenial): Step {
  return async (ctx, next) => {
    if (!principalOf(ctx).scopes.has(scope)) {
      await recordDenial(ctx, { target: null, orgId: null, reason: `insufficient_scope: ${scope}` });
      throw new InsufficientScopeError(scope);
    }
    await next();
  };
}
