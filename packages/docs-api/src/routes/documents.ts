// /documents: create, list what the caller may see, read, edit, delete.
import { z } from 'zod';
import { createsInOrg, documentActions, roleIn, type DocumentAction } from '../access';
import { ForbiddenError, NotFoundError } from '../errors';
import { requireDocumentAction } from '../middleware/check-action';
import { loadDocument } from '../middleware/load-document';
import { bodyOf, documentActionsOf, documentOf, eventContext, membershipsOf, principalOf, queryOf } from '../middleware/state';
import { createDocumentQueries, type DocumentRecord } from '../queries/documents';
import { createDocumentBody, documentSummaryView, documentView, page, pageQuery, patchDocumentBody, PAGE_DEFAULT } from '../schemas';
import { pageOf, type RouteDeps } from './deps';
import type { RouteDefinition } from './route';

const ACTION_ORDER: DocumentAction[] = ['read', 'write', 'delete', 'share'];
const position = z.object({ t: z.iso.datetime(), i: z.string().max(64) }).strict();

const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * `date.toISOString()`, formatted here: V8 formats it through printf-style C++ (about a microsecond,
 * twice per document read). Outside years 0-9999, and for an invalid date, toISOString itself answers.
 */
export function isoTimestamp(date: Date): string {
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) return date.toISOString();
  return (
    `${pad(year, 4)}-${pad(date.getUTCMonth() + 1, 2)}-${pad(date.getUTCDate(), 2)}` +
    `T${pad(date.getUTCHours(), 2)}:${pad(date.getUTCMinutes(), 2)}:${pad(date.getUTCSeconds(), 2)}.${pad(date.getUTCMilliseconds(), 3)}Z`
  );
}

/** The caller's permissions, in ACTION_ORDER. */
function permissionsOf(actions: Set<DocumentAction>): DocumentAction[] {
  const permissions: DocumentAction[] = [];
  for (const action of ACTION_ORDER) if (actions.has(action)) permissions.push(action);
  return permissions;
}

export function documentJson(doc: Omit<DocumentRecord, 'content'> & { content?: string }, actions: Set<DocumentAction>) {
  const { id, title, content, orgId, ownerId } = doc;
  const createdAt = isoTimestamp(doc.createdAt);
  const updatedAt = isoTimestamp(doc.updatedAt);
  const permissions = permissionsOf(actions);
  // Two fixed shapes rather than a conditional spread, which V8 builds key by key at run time (the hot read).
  if (content === undefined) return { id, title, orgId, ownerId, createdAt, updatedAt, permissions };
  return { id, title, content, orgId, ownerId, createdAt, updatedAt, permissions };
}

/** What koa gives an object body; documentBody's string is sent with it, so the answer is the same bytes. */
const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/** documentJson serialised, by row (rows are never changed in place: an update makes a new one) and permissions. */
const serialised = new WeakMap<DocumentRecord, Map<string, string>>();

/**
 * `JSON.stringify(documentJson(row, actions))`, made once per row and set of permissions: the read path
 * serves the authorization cache's row (load-document.ts) many times over, the same bytes each time.
 */
export function documentBody(row: DocumentRecord, actions: Set<DocumentAction>): string {
  let byPermissions = serialised.get(row);
  if (!byPermissions) serialised.set(row, (byPermissions = new Map()));
  const key = permissionsOf(actions).join(' ');
  let body = byPermissions.get(key);
  if (body === undefined) byPermissions.set(key, (body = JSON.stringify(documentJson(row, actions))));
  return body;
}

export function documentRoutes({ knex, authz, cursors, documents, recordDenial }: RouteDeps): RouteDefinition[] {
  const queries = createDocumentQueries(knex);
  const load = loadDocument(knex, authz, recordDenial);
  const idParam = { id: 'the document id' };
  return [
    {
      method: 'post',
      path: '/documents',
      operationId: 'createDocument',
      summary: 'Create a personal document, or an org document (editors, admins and owners of that org)',
      access: 'docs:write',
      body: createDocumentBody,
      success: { status: 201, description: 'the new document', schema: documentView },
      errors: { 403: 'a viewer creating in its org, or a machine client creating a personal document', 404: 'no such organization, or the caller is not a member' },
      steps: [
        async (ctx) => {
          const principal = principalOf(ctx);
          const memberships = membershipsOf(ctx);
          const input = bodyOf<z.infer<typeof createDocumentBody>>(ctx);
          const orgId = input.orgId ?? null;
          if (orgId !== null) {
            const role = roleIn(memberships, orgId);
            if (!role) {
              // As load-org.ts: a missing org and another's cost the same (nothing read) and are recorded alike.
              await recordDenial(ctx, { target: { type: 'org', id: orgId }, orgId, reason: 'not a member' });
              throw new NotFoundError('no such organization');
            }
            if (!createsInOrg(role)) {
              await recordDenial(ctx, { target: { type: 'org', id: orgId }, orgId, reason: `role ${role} may not create documents` });
              throw new ForbiddenError('only editors, admins and owners create documents in an organization');
            }
          } else if (principal.kind === 'client') {
            await recordDenial(ctx, { target: { type: 'document', id: null }, orgId: null, reason: 'a machine client has no personal documents' });
            throw new ForbiddenError('a machine client acts only inside its organization: give its orgId');
          }
          const doc = await documents.create(eventContext(ctx), { ownerId: principal.id, orgId, title: input.title, content: input.content });
          ctx.status = 201;
          ctx.set('Location', `/documents/${doc.id}`);
          ctx.body = documentJson(doc, documentActions(doc, principal, memberships, undefined));
        },
      ],
    },
    {
      method: 'get',
      path: '/documents',
      operationId: 'listDocuments',
      summary: 'The documents the caller may see (own, shared, and of its orgs), newest first, without content',
      access: 'docs:read',
      query: pageQuery,
      success: { status: 200, description: 'a page of documents', schema: page(documentSummaryView, 'DocumentPage') },
      errors: {},
      steps: [
        async (ctx) => {
          const principal = principalOf(ctx);
          const memberships = membershipsOf(ctx);
          const query = queryOf<z.infer<typeof pageQuery>>(ctx);
          const limit = query.limit ?? PAGE_DEFAULT;
          const after = query.cursor ? cursors.decode('documents', query.cursor, position) : undefined;
          const rows = await queries.listVisible(
            { orgIds: memberships.map((m) => m.orgId), ...(principal.kind === 'user' ? { userId: principal.id } : {}) },
            { limit: limit + 1, ...(after ? { before: { createdAt: new Date(after.t), id: after.i } } : {}) },
          );
          const result = pageOf(rows, limit, (last) => cursors.encode('documents', { t: last.createdAt.toISOString(), i: last.id }));
          ctx.body = {
            items: result.items.map((doc) => documentJson(doc, documentActions(doc, principal, memberships, doc.share))),
            nextCursor: result.nextCursor,
          };
        },
      ],
    },
    {
      method: 'get',
      path: '/documents/:id',
      operationId: 'getDocument',
      summary: 'One document the caller may read',
      access: 'docs:read',
      params: idParam,
      success: { status: 200, description: 'the document', schema: documentView },
      errors: { 404: 'no such document, or the caller may not see it' },
      cachedAccess: true,
      steps: [
        load,
        async (ctx) => {
          ctx.set('Content-Type', JSON_CONTENT_TYPE);
          ctx.body = documentBody(documentOf(ctx), documentActionsOf(ctx));
        },
      ],
    },
    {
      method: 'patch',
      path: '/documents/:id',
      operationId: 'updateDocument',
      summary: "Change a document's title or content (write permission)",
      access: 'docs:write',
      params: idParam,
      body: patchDocumentBody,
      success: { status: 200, description: 'the updated document', schema: documentView },
      errors: { 403: 'the caller may read but not write it', 404: 'no such document, or the caller may not see it' },
      steps: [
        load,
        requireDocumentAction('write', recordDenial),
        async (ctx) => {
          const updated = await documents.update(eventContext(ctx), documentOf(ctx), bodyOf<z.infer<typeof patchDocumentBody>>(ctx));
          ctx.body = documentJson(updated, documentActionsOf(ctx));
        },
      ],
    },
    {
      method: 'delete',
      path: '/documents/:id',
      operationId: 'deleteDocument',
      summary: 'Delete a document (its owner; org admins and owners for org documents)',
      access: 'docs:write',
      params: idParam,
      success: { status: 204, description: 'deleted' },
      errors: { 403: 'the caller may see it but not delete it', 404: 'no such document, or the caller may not see it' },
      steps: [
        load,
        requireDocumentAction('delete', recordDenial),
        async (ctx) => {
          await documents.remove(eventContext(ctx), documentOf(ctx));
          ctx.status = 204;
        },
      ],
    },
  ];
}
