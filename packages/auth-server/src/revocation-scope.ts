// The request a revocation belongs to (see request-scope.ts): one AsyncLocalStorage, entered by
// audit-commit, read by the libraries that revoke. Its own module so that those libraries load without
// oidc-provider (the operator CLI uses them with no server).
import { AsyncLocalStorage } from 'node:async_hooks';
import type { RequestScope } from './request-scope';

const requestScopes = new AsyncLocalStorage<RequestScope>();

/** Runs `work` with `scope` as the request whose transaction takes the revocations it makes. */
export function withRevocationScope<T>(scope: RequestScope, work: () => Promise<T>): Promise<T> {
  return requestScopes.run(scope, work);
}

/** The request a revocation made now belongs to, if any (else it is stored on its own). */
export function revocationScope(): RequestScope | undefined {
  return requestScopes.getStore();
}
