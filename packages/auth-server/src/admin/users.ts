// Admin API: users. List (by email, cursor), create (with a password, or an invitation mail to choose
// one), read, update, disable/enable, sign out everywhere, reset second factors, delete (personal data
// erased), their API keys (list; revoke one: refused by the docs API on the next request). Effects reach every process on the next request (libraries/user-lifecycle); every change
// is audited with the caller as actor.
import type { z } from 'zod';
import { AccountError } from '../accounts/accounts';
import { BadRequestError, ConflictError, NotFoundError } from '../errors';
import type { ApiKeyLibrary } from '../libraries/api-keys';
import type { UserLifecycle } from '../libraries/user-lifecycle';
import type { EventFields } from '../libraries/client-lifecycle';
import { answer, bodyOf, callerOf, page, queryOf, type AdminContext, type AdminRoute } from './route';
import { apiKeyView, list, pageQuery, userCreate, userUpdate, userView } from './schemas';

const ID = { userId: 'the user id (the sub of their tokens)' };
const missing = () => new NotFoundError('no such user');

async function rules<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof AccountError) throw err.code === 'email_taken' ? new ConflictError(err.message) : new BadRequestError(err.message);
    throw err;
  }
}

const done = <T>(ctx: AdminContext, outcome: { result: T; event: EventFields } | undefined, status = 200): void => answer(ctx, outcome, 'no such user', status);

export function userRoutes(deps: { users: UserLifecycle; apiKeys: ApiKeyLibrary }): AdminRoute[] {
  const action = (verb: string, summary: string, run: (ctx: AdminContext) => Promise<Parameters<typeof done>[1]>): AdminRoute => ({
    method: 'post',
    path: `/users/:userId/${verb}`,
    operationId: `${verb.replace(/-(\w)/g, (_m, c: string) => c.toUpperCase())}User`,
    summary,
    access: 'admin:write',
    params: ID,
    success: { status: 200, description: 'done' },
    errors: { 404: 'no such user', 409: 'an administrator acting on themselves' },
    handler: async (ctx) => done(ctx, await run(ctx)),
  });
  return [
    {
      method: 'get',
      path: '/users',
      operationId: 'listUsers',
      summary: 'Users by email (exact match with ?email=)',
      access: 'admin:read',
      query: pageQuery('email'),
      success: { status: 200, description: 'a page of users', schema: list(userView) },
      errors: { 400: 'bad query or cursor' },
      handler: async (ctx) => {
        const q = queryOf<{ email?: string; cursor?: string; limit: number }>(ctx);
        await page(ctx, q, (after, limit) => deps.users.list({ email: q.email, after, limit }), (u) => u.email);
      },
    },
    {
      method: 'post',
      path: '/users',
      operationId: 'createUser',
      summary: 'Creates a user; without a password they get a mail to choose one',
      access: 'admin:write',
      body: userCreate,
      success: { status: 201, description: 'the user', schema: userView },
      errors: { 400: 'invalid email, name or password', 409: 'the email is taken' },
      handler: async (ctx) => done(ctx, await rules(() => deps.users.create(callerOf(ctx).actor, bodyOf<z.infer<typeof userCreate>>(ctx))), 201),
    },
    {
      method: 'get',
      path: '/users/:userId',
      operationId: 'getUser',
      summary: 'One user, with their second factors and last sign-in',
      access: 'admin:read',
      params: ID,
      success: { status: 200, description: 'the user', schema: userView },
      errors: { 404: 'no such user' },
      handler: async (ctx) => {
        const user = await deps.users.get(ctx.params.userId!);
        if (!user) throw missing();
        ctx.body = user;
      },
    },
    {
      method: 'patch',
      path: '/users/:userId',
      operationId: 'updateUser',
      summary: 'Changes a user\'s name or email',
      access: 'admin:write',
      params: ID,
      body: userUpdate,
      success: { status: 200, description: 'the user', schema: userView },
      errors: { 400: 'invalid email or name', 404: 'no such user', 409: 'the email is taken' },
      handler: async (ctx) => done(ctx, await rules(() => deps.users.update(callerOf(ctx).actor, ctx.params.userId!, bodyOf<z.infer<typeof userUpdate>>(ctx)))),
    },
    {
      method: 'delete',
      path: '/users/:userId',
      operationId: 'deleteUser',
      summary: 'Erases a user: sessions, grants and tokens ended, personal data deleted',
      access: 'admin:write',
      params: ID,
      success: { status: 204, description: 'deleted' },
      errors: { 404: 'no such user', 409: 'the last platform administrator, or the caller themselves' },
      handler: async (ctx) => done(ctx, await deps.users.erase(callerOf(ctx).actor, ctx.params.userId!), 204),
    },
    {
      method: 'get',
      path: '/users/:userId/api-keys',
      operationId: 'listUserApiKeys',
      summary: "The user's API keys, newest first, revoked and expired ones included (never the keys themselves)",
      access: 'admin:read',
      params: ID,
      success: { status: 200, description: "the user's API keys", schema: list(apiKeyView) },
      errors: { 404: 'no such user' },
      handler: async (ctx) => {
        if (!(await deps.users.get(ctx.params.userId!))) throw missing();
        ctx.body = { items: await deps.apiKeys.list(ctx.params.userId!), nextCursor: null };
      },
    },
    {
      method: 'delete',
      path: '/users/:userId/api-keys/:keyId',
      operationId: 'revokeUserApiKey',
      summary: 'Revokes one of the user\'s API keys: the docs API refuses it on the next request',
      access: 'admin:write',
      params: { ...ID, keyId: "the API key's id" },
      success: { status: 204, description: 'revoked' },
      errors: { 404: 'no such user, or no such live API key of theirs' },
      handler: async (ctx) => answer(ctx, await deps.apiKeys.revoke(callerOf(ctx).actor, ctx.params.keyId!, ctx.params.userId!), 'no such live API key of this user', 204),
    },
    action('disable', 'Sign-in refused; sessions, grants and tokens ended', (ctx) => deps.users.setDisabled(callerOf(ctx).actor, ctx.params.userId!, true)),
    action('enable', 'Sign-in allowed again', (ctx) => deps.users.setDisabled(callerOf(ctx).actor, ctx.params.userId!, false)),
    action('sign-out', 'Every session and grant of the user ends, and every token issued so far', (ctx) => deps.users.signOut(callerOf(ctx).actor, ctx.params.userId!)),
    action('reset-second-factors', 'Removes the user\'s second factors', (ctx) => deps.users.resetSecondFactors(callerOf(ctx).actor, ctx.params.userId!)),
  ];
}
