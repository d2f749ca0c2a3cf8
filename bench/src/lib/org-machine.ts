// What the docs API reads are measured with: an org owned by a user, a machine client bound to it as an
// editor (so its client-credentials token reads and writes the org's documents), and one 200-character org
// document created through the docs API itself.
import { AuditLog } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher } from '@clouddocs/auth-server';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api';
import type { BenchStores } from './stores';

export async function seedOrgMachine(stores: BenchStores, name: string) {
  const { config, admin, box } = stores;
  const clients = createClientLibrary({ knex: admin, box, issuer: config.AUTH_ISSUER });
  const accounts = createAccountLibrary({ knex: admin, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const audit = await AuditLog.open(admin, 'bench');
  const owner = await accounts.create({ email: `${name}-owner@clouddocs.test`, password: `${name}-owner-password-1`, emailVerified: true });
  const org = await createOrganization(admin, audit, { name: `${name} org`, ownerId: owner.id });
  const machine = await clients.create({ name: `${name} machine`, grants: ['client_credentials'] });
  await bindClientToOrg(admin, audit, { orgId: org.id, clientId: machine.client_id, role: 'editor' });
  return { clients, accounts, audit, owner, org, machine };
}

/** `Authorization: Basic` for a client id and secret (RFC 6749 §2.3.1). */
export const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

/** A client-credentials access token for the machine client, from the auth server at `issuer`. */
export async function machineToken(issuer: string, machine: { client_id: string; client_secret?: string | null }, scope = 'docs:read docs:write'): Promise<string> {
  const response = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(machine.client_id, machine.client_secret!), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
  if (response.status !== 200) throw new Error(`no token for the benchmark's machine client: ${response.status} ${await response.text()}`);
  return ((await response.json()) as { access_token: string }).access_token;
}

/** Creates the benchmark's org document through the docs API; its id. */
export async function createOrgDocument(docsUrl: string, accessToken: string, orgId: string): Promise<string> {
  const created = await fetch(`${docsUrl}/documents`, {
    method: 'POST',
    headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ title: 'Bench', content: 'x'.repeat(200), orgId }),
  });
  if (created.status !== 201) throw new Error(`could not create the benchmark document: ${created.status} ${await created.text()}`);
  return ((await created.json()) as { id: string }).id;
}
