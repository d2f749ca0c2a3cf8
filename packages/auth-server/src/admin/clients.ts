// Admin API: clients. List (search by name or id, cursor), create (secret shown once), read,
// update (checked by the same rules as a creation), delete, disable/enable and secret rotation with
// an overlap window. A client's secret is never returned by a read. Changes take effect at once in
// every process (libraries/client-lifecycle) and are audited with the caller as actor.
import type { AuditLog } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';
import { ClientError, type ClientInput, type ClientLibrary } from '../libraries/clients';
import { OrgBindingError, type OrgBinder } from '../libraries/org-binding';
import type { ClientLifecycle } from '../libraries/client-lifecycle';
import { BadRequestError, NotFoundError } from '../errors';
import { audit } from '../request-scope';
import type { EventFields } from '../libraries/client-lifecycle';
import { answer, bodyOf, callerOf, page, queryOf, type AdminContext, type AdminRoute } from './route';
import { clientCreate, clientUpdate, clientView, list, pageQuery, secretRotation } from './schemas';
import type { z } from 'zod';

const ID = { clientId: 'the client id' };
const missing = () => new NotFoundError('no such client');

/** Snake-case API fields → the library's input. */
function inputOf(body: z.infer<typeof clientUpdate> & { application_type?: 'web' | 'native' }): Partial<ClientInput> {
  const input: Partial<ClientInput> = {};
  if (body.client_name !== undefined) input.name = body.client_name;
  if (body.redirect_uris !== undefined) input.redirectUris = body.redirect_uris;
  if (body.post_logout_redirect_uris !== undefined) input.postLogoutRedirectUris = body.post_logout_redirect_uris;
  if (body.grant_types !== undefined) input.grants = body.grant_types;
  if (body.scope !== undefined) input.scope = body.scope;
  if (body.token_endpoint_auth_method !== undefined) input.authMethod = body.token_endpoint_auth_method;
  if (body.application_type !== undefined) input.applicationType = body.application_type;
  if (body.dpop_bound_access_tokens !== undefined) input.dpopBoundAccessTokens = body.dpop_bound_access_tokens;
  if (body.jwks !== undefined) input.jwks = body.jwks as unknown as NonNullable<ClientInput['jwks']>;
  if (body.jwks_uri !== undefined) input.jwksUri = body.jwks_uri;
  if (body.tls_client_auth_subject_dn !== undefined) input.tlsSubjectDn = body.tls_client_auth_subject_dn;
  if (body.tls_client_certificate_bound_access_tokens !== undefined) input.mtlsBound = body.tls_client_certificate_bound_access_tokens;
  if (body.backchannel_logout_uri !== undefined) input.backchannelLogoutUri = body.backchannel_logout_uri;
  if (body.backchannel_logout_session_required !== undefined) input.backchannelLogoutSessionRequired = body.backchannel_logout_session_required;
  return input;
}

/** Library rule violations are the request's fault: 400 with the rule. */
async function rules<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ClientError || err instanceof OrgBindingError) throw new BadRequestError(err.message);
    throw err;
  }
}

const done = <T>(ctx: AdminContext, outcome: { result: T; event: EventFields } | undefined, status = 200): void => answer(ctx, outcome, 'no such client', status);

export interface ClientRouteDeps {
  clients: ClientLibrary;
  lifecycle: ClientLifecycle;
  knex: Knex;
  audit: AuditLog;
  /** Binds a machine client to an organization (org_id/role); absent when the auth server runs alone. */
  bindToOrg?: OrgBinder;
}

export function clientRoutes(deps: ClientRouteDeps): AdminRoute[] {
  return [
    {
      method: 'get',
      path: '/clients',
      operationId: 'listClients',
      summary: 'Clients by id, searchable by name or id',
      access: 'admin:read',
      query: pageQuery('q'),
      success: { status: 200, description: 'a page of clients', schema: list(clientView) },
      errors: { 400: 'bad query or cursor' },
      handler: async (ctx) => {
        const q = queryOf<{ q?: string; cursor?: string; limit: number }>(ctx);
        await page(ctx, q, (after, limit) => deps.clients.list({ q: q.q, after, limit }), (c) => c.client_id);
      },
    },
    {
      method: 'post',
      path: '/clients',
      operationId: 'createClient',
      summary: 'Registers a client; a confidential one gets its secret once',
      access: 'admin:write',
      body: clientCreate,
      success: { status: 201, description: 'the client, with client_secret for a confidential one' },
      errors: { 400: 'a client rule is broken, or the organization binding is refused' },
      handler: async (ctx) => {
        const body = bodyOf<z.infer<typeof clientCreate>>(ctx);
        const { org_id: orgId, role } = body;
        if ((orgId === undefined) !== (role === undefined)) throw new BadRequestError('org_id and role go together');
        if (orgId !== undefined && !deps.bindToOrg) throw new BadRequestError('this auth server runs without the docs API schema: org_id cannot be bound here');
        const input = { ...inputOf(body), name: body.client_name };
        // The client and its organization binding commit together, or neither does.
        const created = await rules(() =>
          deps.knex.transaction(async (trx) => {
            const client = await deps.clients.create(input, trx);
            if (orgId !== undefined && role !== undefined) {
              if (!client.grant_types.includes('client_credentials')) throw new ClientError('org_id and role bind a client_credentials client to an organization');
              await deps.bindToOrg!(trx, deps.audit, { orgId, clientId: client.client_id, role });
            }
            return client;
          }),
        );
        audit(ctx, { action: 'client.created', actor: callerOf(ctx).actor, target: { type: 'client', id: created.client_id }, outcome: 'success', ...(orgId ? { orgId } : {}), detail: { name: created.client_name, grants: created.grant_types, public: created.token_endpoint_auth_method === 'none', authMethod: created.token_endpoint_auth_method, route: 'admin', ...(orgId ? { org: orgId, role } : {}) } });
        ctx.status = 201;
        ctx.body = { ...(await deps.clients.get(created.client_id)), ...(created.client_secret ? { client_secret: created.client_secret } : {}), ...(orgId ? { org_id: orgId, role } : {}) };
      },
    },
    {
      method: 'get',
      path: '/clients/:clientId',
      operationId: 'getClient',
      summary: 'One client (never its secret)',
      access: 'admin:read',
      params: ID,
      success: { status: 200, description: 'the client', schema: clientView },
      errors: { 404: 'no such client' },
      handler: async (ctx) => {
        const client = await deps.clients.get(ctx.params.clientId!);
        if (!client) throw missing();
        ctx.body = client;
      },
    },
    {
      method: 'patch',
      path: '/clients/:clientId',
      operationId: 'updateClient',
      summary: 'Changes a client; the change applies on the next request in every process',
      access: 'admin:write',
      params: ID,
      body: clientUpdate,
      success: { status: 200, description: 'the changed client', schema: clientView },
      errors: { 400: 'a client rule is broken', 404: 'no such client' },
      handler: async (ctx) => done(ctx, await rules(() => deps.lifecycle.update(callerOf(ctx).actor, ctx.params.clientId!, inputOf(bodyOf(ctx))))),
    },
    {
      method: 'delete',
      path: '/clients/:clientId',
      operationId: 'deleteClient',
      summary: 'Deletes a client, its grants and tokens',
      access: 'admin:write',
      params: ID,
      success: { status: 204, description: 'deleted' },
      errors: { 404: 'no such client' },
      handler: async (ctx) => done(ctx, await deps.lifecycle.remove(callerOf(ctx).actor, ctx.params.clientId!), 204),
    },
    ...(['disable', 'enable'] as const).map(
      (verb): AdminRoute => ({
        method: 'post',
        path: `/clients/:clientId/${verb}`,
        operationId: `${verb}Client`,
        summary: verb === 'disable' ? 'The client can no longer authenticate; its grants and tokens are revoked' : 'The client may authenticate again',
        access: 'admin:write',
        params: ID,
        success: { status: 200, description: 'the client', schema: clientView },
        errors: { 404: 'no such client' },
        handler: async (ctx) => done(ctx, await deps.lifecycle.setDisabled(callerOf(ctx).actor, ctx.params.clientId!, verb === 'disable')),
      }),
    ),
    {
      method: 'post',
      path: '/clients/:clientId/secret',
      operationId: 'rotateClientSecret',
      summary: 'A new secret; the previous one works for previous_secret_expires_in seconds (0: not at all)',
      access: 'admin:write',
      params: ID,
      body: secretRotation,
      success: { status: 200, description: 'the new secret, shown once' },
      errors: { 404: 'no such confidential client' },
      handler: async (ctx) => done(ctx, await deps.lifecycle.rotateSecret(callerOf(ctx).actor, ctx.params.clientId!, bodyOf<z.infer<typeof secretRotation>>(ctx).previous_secret_expires_in)),
    },
  ];
}
