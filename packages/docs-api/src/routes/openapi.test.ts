// /openapi.json documents exactly the routes the router serves, with their scopes and errors.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness';
import { openApiPath } from './openapi';

let h: Harness;
let doc: any;
beforeAll(async () => {
  h = await startHarness();
  const res = await h.request('GET', '/openapi.json');
  expect(res.status).toBe(200);
  doc = res.body;
});
afterAll(() => h?.close());

const METHODS = ['get', 'post', 'put', 'patch', 'delete'];
const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, op]) => ({ path, method, op })),
  );

describe('/openapi.json', () => {
  it('is OpenAPI 3.1 with paths in {param} form', () => {
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/documents/{id}', '/orgs/{orgId}/members/{userId}', '/documents/{id}/shares/{userId}', '/orgs/{orgId}/audit']));
    expect(Object.keys(doc.paths).some((p) => p.includes(':'))).toBe(false);
  });

  it('every documented route exists in the router (and answers, not 404/405)', async () => {
    for (const { path, method, op } of operations()) {
      const concrete = path.replace(/\{[^}]+\}/g, '00000000-0000-4000-8000-000000000000');
      expect(h.api.router.match(concrete, method.toUpperCase()).route, `${method} ${path}`).toBe(true);
      const res = await h.request(method.toUpperCase(), concrete);
      expect(res.status, `${method} ${path}`).toBe(op.security.length === 0 ? 200 : 401);
    }
  });

  it('every router route is documented', () => {
    const documented = new Set(operations().map(({ path, method }) => `${method} ${path}`));
    const served = h.api.router.stack.flatMap((layer) =>
      layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m.toLowerCase()} ${openApiPath(String(layer.path))}`),
    );
    expect(served.length).toBeGreaterThan(10);
    for (const route of served) expect(documented, route).toContain(route);
    expect(served.length).toBe(documented.size);
  });

  it('documents each route\'s scope under either scheme (Bearer or DPoP), its challenges and problem+json error bodies', () => {
    const scopes: Record<string, string> = {
      'post /orgs': 'orgs:write',
      'get /orgs': 'orgs:read',
      'get /orgs/{orgId}': 'orgs:read',
      'put /orgs/{orgId}/members/{userId}': 'orgs:write',
      'delete /orgs/{orgId}/members/{userId}': 'orgs:write',
      'post /documents': 'docs:write',
      'get /documents': 'docs:read',
      'get /documents/{id}': 'docs:read',
      'patch /documents/{id}': 'docs:write',
      'delete /documents/{id}': 'docs:write',
      'put /documents/{id}/shares/{userId}': 'docs:write',
      'delete /documents/{id}/shares/{userId}': 'docs:write',
      'get /orgs/{orgId}/audit': 'audit:read',
    };
    for (const { path, method, op } of operations()) {
      const scope = scopes[`${method} ${path}`];
      if (scope) {
        expect(op.security, `${method} ${path}`).toEqual([{ bearer: [scope] }, { dpop: [scope] }]);
        expect(op.responses['403'].content['application/problem+json']).toBeDefined();
      }
      if (op.security.length > 0) {
        expect(op.responses['401'].headers['WWW-Authenticate']).toBeDefined();
        for (const [status, response] of Object.entries(op.responses as Record<string, any>)) {
          if (Number(status) >= 400) expect(response.content['application/problem+json'].schema.$ref, `${method} ${path} ${status}`).toBe('#/components/schemas/Problem');
        }
      }
    }
    expect(operations().find((o) => o.path === '/me')!.op.security).toEqual([{ bearer: [] }, { dpop: [] }]);
    expect(doc.paths['/orgs/{orgId}/members/{userId}'].put.responses['409']).toBeDefined();
    expect(doc.paths['/documents/{id}'].get.responses['404']).toBeDefined();
    expect(doc.components.securitySchemes.bearer.openIdConnectUrl).toBe(`${h.issuer}/.well-known/openid-configuration`);
    expect(doc.components.securitySchemes.dpop).toMatchObject({ type: 'http', scheme: 'DPoP' });
  });

  it('request bodies are the strict schemas the routes validate with (no additional properties)', () => {
    const bodies = operations().filter((o) => o.op.requestBody);
    expect(bodies.length).toBe(5);
    for (const { op } of bodies) {
      const ref = op.requestBody.content['application/json'].schema.$ref as string;
      const schema = doc.components.schemas[ref.split('/').pop()!];
      expect(schema.additionalProperties, ref).toBe(false);
    }
    expect(doc.components.schemas.CreateDocument.required).toEqual(['title', 'content']);
    expect(doc.components.schemas.CreateDocument.properties.title.maxLength).toBe(200);
    const list = doc.paths['/documents'].get.parameters.map((p: { name: string }) => p.name);
    expect(list).toEqual(['limit', 'cursor']);
  });

  it('every $ref resolves inside the document', () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    for (const ref of refs) {
      const target = ref.slice(8, -1);
      expect(target.startsWith('#/components/schemas/'), target).toBe(true);
      expect(doc.components.schemas[target.split('/').pop()!], target).toBeDefined();
    }
  });
});
