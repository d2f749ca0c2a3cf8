// Every body, query and response shape, as strict zod schemas: the routes validate with them and
// /openapi.json is generated from them, so the documentation cannot drift from the checks.
import { z } from 'zod';
import { AUDIT_ACTIONS } from '@clouddocs/audit';
import { ROLES, SHARE_PERMISSIONS } from './access';

/** The named schemas of this API: they become /openapi.json's components. */
export const docsSchemas = z.registry<{ id: string; description?: string }>();

export const TITLE_MAX = 200;
export const CONTENT_MAX = 100_000;
export const ORG_NAME_MAX = 100;
export const PAGE_MAX = 100;
export const PAGE_DEFAULT = 50;

/** A user id (`sub`) or a client id: opaque, printable, bounded. */
export const principalId = z.string().regex(/^[A-Za-z0-9._:@|-]{1,255}$/, 'must be a user or client id');
const objectId = z.string().describe('an id as returned by the API');
/** The shape of every org and document id (a UUID from crypto.randomUUID); anything else cannot exist. */
export const isObjectId = (value: string): boolean => /^[A-Za-z0-9-]{1,64}$/.test(value);

const title = z.string().min(1).max(TITLE_MAX);
const content = z.string().max(CONTENT_MAX);
export const orgName = z.string().trim().min(1).max(ORG_NAME_MAX);
export const role = z.enum(ROLES);

// Bodies
export const createOrgBody = z.object({ name: orgName }).strict().register(docsSchemas, { id: 'CreateOrg' });
export const putMemberBody = z.object({ role }).strict().register(docsSchemas, { id: 'PutMember' });
export const createDocumentBody = z
  .object({ title, content, orgId: z.uuid().nullable().optional() })
  .strict()
  .register(docsSchemas, { id: 'CreateDocument' });
export const patchDocumentBody = z
  .object({ title: title.optional(), content: content.optional() })
  .strict()
  .refine((b) => b.title !== undefined || b.content !== undefined, 'give title, content or both')
  .register(docsSchemas, { id: 'PatchDocument' });
export const putShareBody = z.object({ permission: z.enum(SHARE_PERMISSIONS) }).strict().register(docsSchemas, { id: 'PutShare' });

// Queries
const limit = z.coerce.number().int().min(1).max(PAGE_MAX).optional().describe(`page size, at most ${PAGE_MAX} (default ${PAGE_DEFAULT})`);
const cursor = z.string().min(1).max(1024).optional().describe('the nextCursor of the previous page');
export const pageQuery = z.object({ limit, cursor }).strict();
export const auditQuery = z
  .object({
    limit,
    cursor,
    action: z
      .string()
      .max(2000)
      .optional()
      .describe('comma-separated actions to keep')
      .transform((v, ctx) => {
        if (v === undefined) return undefined;
        const actions = v.split(',').filter(Boolean);
        const unknown = actions.filter((a) => !(AUDIT_ACTIONS as readonly string[]).includes(a));
        if (unknown.length) ctx.addIssue({ code: 'custom', message: `unknown action(s): ${unknown.join(', ')}` });
        return actions;
      }),
    since: z.iso.datetime({ offset: true }).optional().describe('events at or after this instant'),
    until: z.iso.datetime({ offset: true }).optional().describe('events before this instant'),
  })
  .strict();

// Responses
const timestamp = z.iso.datetime();
const membershipView = z.object({ orgId: objectId, role });
export const meView = z
  .object({
    sub: z.string(),
    client_id: z.string(),
    kind: z.enum(['user', 'client', 'api_key']),
    scopes: z.array(z.string()),
    memberships: z.array(membershipView),
  })
  .register(docsSchemas, { id: 'Me' });
export const orgView = z
  .object({ id: objectId, name: z.string(), role, createdAt: timestamp })
  .register(docsSchemas, { id: 'Org', description: 'an organization, with the caller\'s role in it' });
export const memberView = z
  .object({ id: z.string(), type: z.enum(['user', 'client']), role })
  .register(docsSchemas, { id: 'Member', description: 'a member by id (never an email)' });
export const orgDetailView = orgView.extend({ members: z.array(memberView) }).register(docsSchemas, { id: 'OrgDetail' });
export const membershipResult = z.object({ orgId: objectId, userId: z.string(), role }).register(docsSchemas, { id: 'Membership' });
export const documentView = z
  .object({
    id: objectId,
    title: z.string(),
    content: z.string(),
    orgId: objectId.nullable(),
    ownerId: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
    permissions: z.array(z.enum(['read', 'write', 'delete', 'share'])).describe('what the caller may do to it'),
  })
  .register(docsSchemas, { id: 'Document' });
export const documentSummaryView = documentView.omit({ content: true }).register(docsSchemas, { id: 'DocumentSummary' });
export const shareView = z.object({ documentId: objectId, userId: z.string(), permission: z.enum(SHARE_PERMISSIONS) }).register(docsSchemas, { id: 'Share' });
export const auditEventView = z
  .object({
    id: z.number().int(),
    occurredAt: timestamp,
    actor: z.object({ type: z.string(), id: z.string().nullable() }),
    action: z.string(),
    target: z.object({ type: z.string(), id: z.string().nullable() }).nullable(),
    outcome: z.enum(['success', 'failure', 'denied']),
    orgId: z.string().nullable(),
    requestId: z.string().nullable(),
    detail: z.record(z.string(), z.unknown()),
  })
  .register(docsSchemas, { id: 'AuditEvent' });

export const page = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() }).register(docsSchemas, { id });

export const problemView = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    requestId: z.string().optional(),
  })
  .register(docsSchemas, { id: 'Problem', description: 'RFC 9457 problem details' });
