// /documents/:id/shares/:userId: the document's owner (org admins and owners for org documents)
// shares it with a user for reading or writing, or stops sharing it.
import type { z } from 'zod';
import { BadRequestError } from '../errors';
import { requireDocumentAction } from '../middleware/check-action';
import { loadDocument } from '../middleware/load-document';
import { bodyOf, documentOf, eventContext, type DocsContext } from '../middleware/state';
import { principalId, putShareBody, shareView } from '../schemas';
import type { RouteDeps } from './deps';
import type { RouteDefinition } from './route';

function shareUserId(ctx: DocsContext): string {
  const parsed = principalId.safeParse(ctx.params.userId);
  if (!parsed.success) throw new BadRequestError('userId must be a user id');
  return parsed.data;
}

export function shareRoutes({ knex, authz, documents, recordDenial }: RouteDeps): RouteDefinition[] {
  const load = loadDocument(knex, authz, recordDenial);
  const sharers = requireDocumentAction('share', recordDenial);
  const params = { id: 'the document id', userId: 'the user id (a token\'s sub) to share with' };
  const errors = {
    400: 'userId is not a user id',
    403: 'the caller may see the document but not share it',
    404: 'no such document (or share), or the caller may not see it, or userId is not an existing, enabled user',
  } as const;
  return [
    {
      method: 'put',
      path: '/documents/:id/shares/:userId',
      operationId: 'putShare',
      summary: 'Share a document with a user for reading or writing',
      access: 'docs:write',
      params,
      body: putShareBody,
      success: { status: 200, description: 'the share (201 when it was created)', schema: shareView },
      errors,
      steps: [
        load,
        sharers,
        async (ctx) => {
          const doc = documentOf(ctx);
          const userId = shareUserId(ctx);
          if (doc.orgId === null && userId === doc.ownerId) throw new BadRequestError('the owner already has every right on this document');
          const { permission } = bodyOf<z.infer<typeof putShareBody>>(ctx);
          const { created } = await documents.share(eventContext(ctx), doc, userId, permission);
          ctx.status = created ? 201 : 200;
          ctx.body = { documentId: doc.id, userId, permission };
        },
      ],
    },
    {
      method: 'delete',
      path: '/documents/:id/shares/:userId',
      operationId: 'deleteShare',
      summary: 'Stop sharing a document with a user',
      access: 'docs:write',
      params,
      success: { status: 204, description: 'no longer shared' },
      errors,
      steps: [
        load,
        sharers,
        async (ctx) => {
          await documents.unshare(eventContext(ctx), documentOf(ctx), shareUserId(ctx));
          ctx.status = 204;
        },
      ],
    },
  ];
}
