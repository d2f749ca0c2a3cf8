// GET /admin/v1/openapi.json: OpenAPI 3.1 generated from the admin route definitions and their zod
// schemas, so every route, scope and error documented is the one the router enforces.
import { z } from 'zod';
import { ADMIN_PREFIX, type AdminRoute } from './route';

const openApiPath = (path: string) => `${ADMIN_PREFIX}${path}`.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function json(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return rest;
}

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } });

export function buildAdminOpenApi(routes: AdminRoute[], info: { issuer: string; audience: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {
      [String(route.success.status)]: {
        description: route.success.description,
        ...(route.success.schema ? { content: { 'application/json': { schema: json(route.success.schema, 'output') } } } : {}),
      },
    };
    for (const [status, description] of Object.entries(route.errors)) responses[status] = problem(description);
    if (route.access !== 'public') {
      responses['401'] = problem('no token, or not a valid admin API access token');
      responses['403'] = problem(`the token lacks ${route.access}`);
    }
    if (route.body || route.query) responses['400'] ??= problem('fails the strict schema');
    const parameters = [
      ...Object.entries(route.params ?? {}).map(([name, description]) => ({ name, in: 'path', required: true, description, schema: { type: 'string' } })),
      ...(route.query
        ? Object.entries((json(route.query, 'input').properties ?? {}) as Record<string, Record<string, unknown>>).map(([name, schema]) => ({ name, in: 'query', required: false, schema }))
        : []),
    ];
    (paths[openApiPath(route.path)] ??= {})[route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.access !== 'public' ? { security: [{ bearer: [route.access] }] } : { security: [] }),
      ...(parameters.length ? { parameters } : {}),
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: json(route.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CloudDocs admin API', version: '1' },
    servers: [{ url: info.issuer }],
    paths,
    components: {
      securitySchemes: { bearer: { type: 'oauth2', description: `RFC 9068 access tokens with aud ${info.audience}`, flows: { clientCredentials: { tokenUrl: `${info.issuer}/token`, scopes: { 'admin:read': 'read', 'admin:write': 'change' } } } } },
      schemas: {
        Problem: { type: 'object', required: ['type', 'title', 'status', 'detail'], properties: { type: { type: 'string' }, title: { type: 'string' }, status: { type: 'integer' }, detail: { type: 'string' }, requestId: { type: 'string' } } },
      },
    },
  };
}
