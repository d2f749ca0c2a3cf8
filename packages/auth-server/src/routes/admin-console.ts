// The admin console (`/admin`): server-rendered pages over the admin API's own libraries, for platform
// administrators who signed in with a second factor (steps/require-admin). Rules: every page is
// no-store with the usual security headers; every action is a POST with the page CSRF field, the
// destructive ones with a confirmation box; each action is the lifecycle operation the admin API runs,
// audited with the administrator as actor, and takes effect everywhere at once.
import { queryEvents, type AuditAction } from '@clouddocs/audit';
import type { Knex } from '@clouddocs/db';
import { z } from 'zod';
import { cursor } from '../admin/route';
import { ConflictError } from '../errors';
import type { KeyStore } from '../keys/keys';
import type { ClientLifecycle } from '../libraries/client-lifecycle';
import type { ClientLibrary } from '../libraries/clients';
import { actors, audit } from '../request-scope';
import { formOf, signedInOf, type PageContext, type PageRoute, type PageStep } from '../steps/page';
import { readForm } from '../steps/read-form';
import { requireAdmin } from '../steps/require-admin';
import { requireSignedIn } from '../steps/require-signed-in';
import { adminPage, auditView, clientDetailView, clientListView, keysView, userDetailView, userListView, type Paging } from '../views/admin';
import { renderPage, seeOther } from '../views/interaction';
import { html } from '../views/layout';
import { CSRF, type PageDeps } from './deps';

export interface AdminConsoleDeps {
  clients: ClientLibrary;
  clientLifecycle: ClientLifecycle;
  keyStore: KeyStore;
  knex: Knex;
  activationDelaySeconds: number;
  refreshKeys: () => Promise<unknown>;
}

/** Items per list page: `?limit=` (1 to 100), 25 by default. */
const pageSize = (ctx: PageContext) => Math.min(100, Math.max(1, Number(str(ctx.query.limit) ?? 25) || 25));
const NOTHING = html``;
const actionBody = z.object({ csrf: CSRF, confirm: z.string().max(8).optional(), previous_secret_expires_in: z.enum(['0', '3600', '86400', '604800']).optional() }).strict();
const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);

/** Next/Previous links: `trail` holds the cursors of the pages before this one. */
function paging(ctx: PageContext, next: string | null, keep: Record<string, string | undefined>): Paging {
  const trail = str(ctx.query.trail)?.split(',') ?? [];
  const here = str(ctx.query.cursor) ?? '-';
  const link = (c: string | undefined, t: string[]) => {
    const params = new URLSearchParams(Object.entries(keep).filter((e): e is [string, string] => e[1] !== undefined));
    if (c && c !== '-') params.set('cursor', c);
    if (t.length) params.set('trail', t.join(','));
    return `${ctx.path}?${params}`;
  };
  return {
    next: next ? link(next, [...trail, here].slice(-20)) : undefined,
    previous: str(ctx.query.cursor) ? link(trail.at(-1), trail.slice(0, -1)) : undefined,
  };
}

export function adminConsoleRoutes(deps: PageDeps): PageRoute[] {
  const admin = deps.adminConsole;
  const guard: PageStep[] = [requireSignedIn(deps), requireAdmin(deps)];
  const show = (ctx: PageContext, title: string, body: Parameters<typeof adminPage>[1], status = 200, error?: string) =>
    renderPage(ctx, title, adminPage(title, body, typeof ctx.query.notice === 'string' ? 'Done.' : undefined, error), status);
  const actor = (ctx: PageContext) => actors.user(signedInOf(ctx).account.id);
  const form = readForm({
    schema: actionBody,
    csrf: (ctx, sent) => deps.pageCsrf.valid(ctx, sent),
    again: async (ctx, problem, status) => show(ctx, 'Request not accepted', NOTHING, status, problem === 'csrf' ? 'This form has expired. Reload the page and try again.' : 'The form could not be read.'),
  });

  const clientPage = async (ctx: PageContext, id: string, extra: { secret?: string; status?: number; error?: string } = {}) => {
    const client = await admin.clients.get(id);
    if (!client) return show(ctx, 'Client', NOTHING, 404, 'No such client.');
    show(ctx, client.client_name, clientDetailView(client, deps.pageCsrf.token(ctx), extra.secret), extra.status, extra.error);
  };
  const userPage = async (ctx: PageContext, id: string, extra: { status?: number; error?: string } = {}) => {
    const user = await deps.users.get(id);
    if (!user) return show(ctx, 'User', NOTHING, 404, 'No such user.');
    show(ctx, user.email, userDetailView(user, deps.pageCsrf.token(ctx)), extra.status, extra.error);
  };

  /** Runs a lifecycle operation, audits it and goes back to the object's page (409 shown there). */
  const act = (kind: 'client' | 'user', run: (ctx: PageContext, id: string) => Promise<{ event: Parameters<typeof audit>[1] } | undefined>): PageStep => async (ctx) => {
    const id = ctx.params.id!;
    const back = kind === 'client' ? clientPage : userPage;
    try {
      const outcome = await run(ctx, id);
      if (!outcome) return back(ctx, id, { status: 404, error: `No such ${kind}.` });
      audit(ctx, outcome.event);
    } catch (err) {
      if (err instanceof ConflictError) return back(ctx, id, { status: 409, error: err.message });
      throw err;
    }
    seeOther(ctx, `/admin/${kind}s/${encodeURIComponent(id)}?notice=done`);
  };
  const confirmed: PageStep = async (ctx, next) => {
    if (formOf<z.infer<typeof actionBody>>(ctx).confirm !== 'yes') return show(ctx, 'Not confirmed', NOTHING, 400, 'Tick the confirmation box to do this.');
    return next();
  };

  return [
    { method: 'get', path: '/admin', steps: [...guard, async (ctx) => seeOther(ctx, '/admin/clients')] },
    {
      method: 'get',
      path: '/admin/clients',
      steps: [
        ...guard,
        async (ctx) => {
          const q = str(ctx.query.q)?.slice(0, 200);
          const size = pageSize(ctx);
          const items = await admin.clients.list({ q, after: cursor.decode(str(ctx.query.cursor)), limit: size + 1 });
          const next = items.length > size ? cursor.encode(items[size - 1]!.client_id) : null;
          show(ctx, 'Clients', clientListView(items.slice(0, size), q, paging(ctx, next, { q, limit: str(ctx.query.limit) })));
        },
      ],
    },
    { method: 'get', path: '/admin/clients/:id', steps: [...guard, (ctx) => clientPage(ctx, ctx.params.id!)] },
    { method: 'post', path: '/admin/clients/:id/disable', steps: [...guard, form, confirmed, act('client', (ctx, id) => admin.clientLifecycle.setDisabled(actor(ctx), id, true))] },
    { method: 'post', path: '/admin/clients/:id/enable', steps: [...guard, form, act('client', (ctx, id) => admin.clientLifecycle.setDisabled(actor(ctx), id, false))] },
    { method: 'post', path: '/admin/clients/:id/delete', steps: [...guard, form, confirmed, act('client', (ctx, id) => admin.clientLifecycle.remove(actor(ctx), id))] },
    {
      method: 'post',
      path: '/admin/clients/:id/secret',
      steps: [
        ...guard,
        form,
        async (ctx) => {
          const id = ctx.params.id!;
          const outcome = await admin.clientLifecycle.rotateSecret(actor(ctx), id, Number(formOf<z.infer<typeof actionBody>>(ctx).previous_secret_expires_in ?? '0'));
          if (!outcome) return clientPage(ctx, id, { status: 404, error: 'No such confidential client.' });
          audit(ctx, outcome.event);
          // The new secret is shown once, on this answer (no redirect that would need to carry it).
          await clientPage(ctx, id, { secret: outcome.result.client_secret });
        },
      ],
    },
    {
      method: 'get',
      path: '/admin/users',
      steps: [
        ...guard,
        async (ctx) => {
          const email = str(ctx.query.email)?.slice(0, 320);
          const size = pageSize(ctx);
          const items = await deps.users.list({ email, after: cursor.decode(str(ctx.query.cursor)), limit: size + 1 });
          const next = items.length > size ? cursor.encode(items[size - 1]!.email) : null;
          show(ctx, 'Users', userListView(items.slice(0, size), email, paging(ctx, next, { email, limit: str(ctx.query.limit) })));
        },
      ],
    },
    { method: 'get', path: '/admin/users/:id', steps: [...guard, (ctx) => userPage(ctx, ctx.params.id!)] },
    { method: 'post', path: '/admin/users/:id/disable', steps: [...guard, form, confirmed, act('user', (ctx, id) => deps.users.setDisabled(actor(ctx), id, true))] },
    { method: 'post', path: '/admin/users/:id/enable', steps: [...guard, form, act('user', (ctx, id) => deps.users.setDisabled(actor(ctx), id, false))] },
    { method: 'post', path: '/admin/users/:id/sign-out', steps: [...guard, form, act('user', (ctx, id) => deps.users.signOut(actor(ctx), id))] },
    { method: 'post', path: '/admin/users/:id/reset-second-factors', steps: [...guard, form, confirmed, act('user', (ctx, id) => deps.users.resetSecondFactors(actor(ctx), id))] },
    { method: 'post', path: '/admin/users/:id/delete', steps: [...guard, form, confirmed, act('user', (ctx, id) => deps.users.erase(actor(ctx), id))] },
    { method: 'get', path: '/admin/keys', steps: [...guard, async (ctx) => show(ctx, 'Keys', keysView(await admin.keyStore.list(), deps.pageCsrf.token(ctx)))] },
    {
      method: 'post',
      path: '/admin/keys/rotate',
      steps: [
        ...guard,
        form,
        async (ctx) => {
          const rotated = await admin.keyStore.rotate(admin.activationDelaySeconds);
          await admin.refreshKeys();
          audit(ctx, { action: 'key.rotated', actor: actor(ctx), target: { type: 'key_generation', id: String(rotated.generation) }, outcome: 'success', detail: { kids: rotated.keys.map((k) => k.kid), route: 'admin console' } });
          seeOther(ctx, '/admin/keys?notice=done');
        },
      ],
    },
    {
      method: 'get',
      path: '/admin/audit',
      steps: [
        ...guard,
        async (ctx) => {
          const filters = { action: str(ctx.query.action)?.slice(0, 100), actor: str(ctx.query.actor)?.slice(0, 200), target: str(ctx.query.target)?.slice(0, 320) };
          const before = cursor.decode(str(ctx.query.cursor));
          const events = await queryEvents(admin.knex, {
            actions: filters.action ? [filters.action as AuditAction] : undefined,
            actorId: filters.actor,
            targetId: filters.target,
            beforeId: before && /^[0-9]+$/.test(before) ? Number(before) : undefined,
            limit: pageSize(ctx) + 1,
          });
          const size = pageSize(ctx);
          const next = events.length > size ? cursor.encode(String(events[size - 1]!.id)) : null;
          show(ctx, 'Audit', auditView(events.slice(0, size), filters, paging(ctx, next, { ...filters, limit: str(ctx.query.limit) })));
        },
      ],
    },
  ];
}
