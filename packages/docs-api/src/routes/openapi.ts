// GET /openapi.json: OpenAPI 3.1, generated from the route definitions and their zod schemas, so
// every route, scope and error response documented is the one the router enforces.
import { z } from 'zod';
import { DPOP_ALGORITHMS } from '../algorithms';
import { DPOP_PROOF_WINDOW_SECONDS } from '../dpop-proof';
import { docsSchemas } from '../schemas';
import type { RouteDefinition } from './route';

const REF = (id: string) => `#/components/schemas/${id}`;

/** `/documents/:id` → `/documents/{id}` */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function schemaOf(schema: z.ZodType, io: 'input' | 'output'): unknown {
  const id = docsSchemas.get(schema)?.id;
  if (id) return { $ref: REF(id) };
  const { $schema: _drop, ...json } = z.toJSONSchema(schema, { io, unrepresentable: 'any' }) as Record<string, unknown>;
  return json;
}

function queryParameters(schema: z.ZodType) {
  const json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as { properties?: Record<string, Record<string, unknown>>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => {
    const { description, ...rest } = property;
    return { name, in: 'query', required: json.required?.includes(name) ?? false, ...(description ? { description } : {}), schema: rest };
  });
}

const problem = (description: string) => ({ description, content: { 'application/problem+json': { schema: { $ref: REF('Problem') } } } });

export function buildOpenApi(routes: RouteDefinition[], info: { version: string; issuer: string }) {
  const { schemas } = z.toJSONSchema(docsSchemas, { io: 'output', uri: REF, unrepresentable: 'any' }) as { schemas: Record<string, Record<string, unknown>> };
  for (const schema of Object.values(schemas)) {
    delete schema.$schema;
    delete schema.$id; // the component's place in the document names it
  }
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const responses: Record<string, unknown> = {};
    const { success } = route;
    responses[String(success.status)] = {
      description: success.description,
      ...(success.schema
        ? { content: { [success.contentType ?? 'application/json']: { schema: schemaOf(success.schema, 'output') } } }
        : success.contentType
          ? { content: { [success.contentType]: { schema: { type: 'string' } } } }
          : {}),
    };
    if (route.access !== 'public') {
      responses['400'] = problem('malformed request: the Authorization header is not "<scheme> <credential>", or a NUL or invalid UTF-8 in the URL or a header');
      responses['401'] = {
        ...problem('no token, or an invalid, expired or revoked one; a DPoP-bound token sent as Bearer, an unbound one sent as DPoP, or a missing, invalid or replayed DPoP proof'),
        headers: { 'WWW-Authenticate': { schema: { type: 'string' }, description: 'RFC 6750 Bearer or RFC 9449 DPoP challenge (`invalid_token`, `invalid_dpop_proof`)' } },
      };
      responses['503'] = problem('the auth server keys are not loaded yet, the audit log is unavailable, or a DPoP proof cannot be checked for replay');
    }
    if (route.access !== 'public' && route.access !== 'token') {
      responses['403'] = { ...problem(`insufficient_scope: the token lacks ${route.access}`), headers: { 'WWW-Authenticate': { schema: { type: 'string' } } } };
    }
    if (route.query || route.body) {
      responses['400'] = problem('the Authorization header is not "<scheme> <credential>", or the body, query or cursor fails the strict schema (unknown fields included), or the JSON is malformed, or a NUL or invalid UTF-8 anywhere');
    }
    if (route.body) {
      responses['413'] = problem('the body is too large');
      responses['415'] = problem('the body is not application/json');
    }
    for (const [status, description] of Object.entries(route.errors)) {
      const existing = responses[status] as { description?: string } | undefined;
      responses[status] = { ...(existing ?? {}), ...problem(existing?.description ? `${existing.description}; or ${description}` : description) };
    }
    const pathParams = [...route.path.matchAll(/:([A-Za-z0-9_]+)/g)].map((m) => m[1]!);
    paths[openApiPath(route.path)] ??= {};
    paths[openApiPath(route.path)]![route.method] = {
      operationId: route.operationId,
      summary: route.summary,
      // Either scheme (OpenAPI 3.1: alternatives are separate requirement objects).
      security: route.access === 'public' ? [] : [{ bearer: route.access === 'token' ? [] : [route.access] }, { dpop: route.access === 'token' ? [] : [route.access] }],
      ...(route.access !== 'public' && route.access !== 'token' ? { 'x-required-scope': route.access } : {}),
      parameters: [
        ...pathParams.map((name) => ({ name, in: 'path', required: true, description: route.params?.[name] ?? name, schema: { type: 'string' } })),
        ...(route.query ? queryParameters(route.query) : []),
      ],
      ...(route.body ? { requestBody: { required: true, content: { 'application/json': { schema: schemaOf(route.body, 'input') } } } } : {}),
      responses,
    };
  }
  return {
    openapi: '3.1.0',
    info: { title: 'CloudDocs docs API', version: info.version },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: {
      schemas,
      securitySchemes: {
        // Scopes: docs:read docs:write orgs:read orgs:write audit:read (OpenAPI 3.1 lists them per operation).
        bearer: { type: 'openIdConnect', openIdConnectUrl: `${info.issuer}/.well-known/openid-configuration`, description: 'RFC 9068 JWT access tokens from the CloudDocs auth server, audience this API' },
        dpop: {
          type: 'http',
          scheme: 'DPoP',
          description:
            `RFC 9449: a DPoP-bound access token (\`cnf.jkt\`) from the same auth server, sent as \`Authorization: DPoP <token>\` with a \`DPoP\` header holding a fresh proof for this request (\`htm\`, \`htu\` = this API's public URL and the path, \`iat\` within ${DPOP_PROOF_WINDOW_SECONDS} s, a new \`jti\`, \`ath\`), signed with ${DPOP_ALGORITHMS.join(', ')}`,
        },
      },
    },
  };
}

export function openApiRoute(document: () => unknown): RouteDefinition {
  return {
    method: 'get',
    path: '/openapi.json',
    operationId: 'openapi',
    summary: 'This document',
    access: 'public',
    success: { status: 200, description: 'the OpenAPI 3.1 document' },
    errors: {},
    steps: [
      (ctx) => {
        ctx.body = document();
      },
    ],
  };
}
