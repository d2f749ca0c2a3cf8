// GET /me: the caller as the API sees it.
import { meView } from '../schemas';
import { membershipsOf, principalOf } from '../middleware/state';
import type { RouteDefinition } from './route';

export function meRoutes(): RouteDefinition[] {
  return [
    {
      method: 'get',
      path: '/me',
      operationId: 'getMe',
      summary: 'The caller: sub, client_id (an API key\'s id for a key), kind, scopes and org memberships',
      access: 'token',
      success: { status: 200, description: 'the caller', schema: meView },
      errors: {},
      steps: [
        async (ctx) => {
          const principal = principalOf(ctx);
          ctx.body = {
            sub: principal.id,
            client_id: principal.clientId,
            kind: principal.apiKeyId ? 'api_key' : principal.kind,
            scopes: [...principal.scopes],
            memberships: membershipsOf(ctx),
          };
        },
      ],
    },
  ];
}
