// The demo that the first `npm start` on the embedded store creates and prints once: a user, an
// organization, a confidential web client and a machine client bound to the organization.
// `npm run demo` (scripts/demo.ts) prints it again: the client secrets are stored sealed, so they are
// shown as they are; the password is stored only as a hash, so the demo user gets a new one.
import { createHash, randomBytes } from 'node:crypto';
import { AuditLog } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox } from '@clouddocs/auth-server/toolkit';
import type { AuthConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api/toolkit';

export const DEMO_EMAIL = 'demo@clouddocs.test';
export const DEMO_REDIRECT = 'http://localhost:8080/callback';
const DEMO_WEB_CLIENT = 'CloudDocs demo app';
const DEMO_MACHINE_CLIENT = 'CloudDocs demo worker';

interface Demo {
  user: { id: string; email: string };
  password: string;
  org: { id: string; name: string };
  web: { client_id: string; client_secret?: string | undefined };
  machine: { client_id: string; client_secret?: string | undefined };
}

export async function seedDemoOnce(knex: Knex, config: AuthConfig): Promise<string | undefined> {
  const claimed = await knex('auth.demo_seed').insert({ id: 1 }).onConflict('id').ignore().returning('id');
  if (claimed.length === 0) return undefined;
  const box = SecretBox.fromConfig(config);
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const audit = await AuditLog.open(knex, 'seed');
  const password = `demo-${randomBytes(9).toString('base64url')}`;
  const { user, org, web, machine } = await knex.transaction(async (trx) => {
    const user = await accounts.create({ email: DEMO_EMAIL, password, name: 'Demo User', emailVerified: true }, trx);
    const org = await createOrganization(trx, audit, { name: 'Demo Org', ownerId: user.id });
    const web = await clients.create({ name: DEMO_WEB_CLIENT, redirectUris: [DEMO_REDIRECT] }, trx);
    const machine = await clients.create({ name: DEMO_MACHINE_CLIENT, grants: ['client_credentials'] }, trx);
    await bindClientToOrg(trx, audit, { orgId: org.id, clientId: machine.client_id, role: 'editor' });
    await audit.appendInTransaction(trx, [
      { action: 'user.created', actor: { type: 'system', id: 'seed' }, target: { type: 'account', id: user.id }, outcome: 'success', detail: { via: 'demo seed' } },
      { action: 'client.created', actor: { type: 'system', id: 'seed' }, target: { type: 'client', id: web.client_id }, outcome: 'success', detail: { via: 'demo seed' } },
      { action: 'client.created', actor: { type: 'system', id: 'seed' }, target: { type: 'client', id: machine.client_id }, outcome: 'success', orgId: org.id, detail: { via: 'demo seed', role: 'editor' } },
    ]);
    return { user, org, web, machine };
  });
  await audit.close();
  return demoText({ user, password, org, web, machine }, config, 'printed once; `npm run demo` prints it again with a new password');
}

/**
 * The seeded demo again, or undefined when there is none: the clients' secrets unsealed, and a new
 * password for the demo user (audited as a password reset by the system).
 */
export async function printDemoAgain(knex: Knex, config: AuthConfig): Promise<string | undefined> {
  const seeded = (await knex.raw(`SELECT to_regclass('auth.demo_seed') IS NOT NULL AS ok`)).rows[0]?.ok === true;
  if (!seeded || !(await knex('auth.demo_seed').first('id'))) return undefined;
  const box = SecretBox.fromConfig(config);
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const user = await accounts.findByEmail(DEMO_EMAIL);
  const clientOf = async (name: string) => {
    const row = await knex('auth.clients').where({ name }).orderBy('created_at').first('client_id');
    const client = row ? await clients.findForProvider(row.client_id as string) : undefined;
    return client ? { client_id: String(client.client_id), client_secret: client.client_secret as string | undefined } : undefined;
  };
  const [web, machine] = [await clientOf(DEMO_WEB_CLIENT), await clientOf(DEMO_MACHINE_CLIENT)];
  const org = machine && (await knex('docs.memberships as m').join('docs.orgs as o', 'o.id', 'm.org_id').where('m.principal_id', machine.client_id).first('o.id', 'o.name'));
  if (!user || !web || !machine || !org) return undefined; // the demo was changed by hand: nothing coherent to print
  const password = `demo-${randomBytes(9).toString('base64url')}`;
  await accounts.setPassword(user.id, password, { email: user.email });
  const audit = await AuditLog.open(knex, 'demo');
  await audit.record({ action: 'auth.password_reset.completed', actor: { type: 'system', id: 'demo script' }, target: { type: 'account', id: user.id }, outcome: 'success', detail: { via: 'npm run demo' } });
  await audit.close();
  return demoText({ user, password, org, web, machine }, config, 'printed again: a new password, the same clients');
}

function demoText({ user, password, org, web, machine }: Demo, config: AuthConfig, note: string): string {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const authorize = new URL('/auth', config.AUTH_ISSUER);
  authorize.search = new URLSearchParams({
    client_id: web.client_id,
    response_type: 'code',
    scope: 'openid profile email docs:read docs:write',
    redirect_uri: DEMO_REDIRECT,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    state: randomBytes(8).toString('base64url'),
  }).toString();
  const token = `${config.AUTH_ISSUER}/token`;
  return [
    '',
    `==== CloudDocs demo (${note}) ====`,
    `user:            ${user.email}  password: ${password}  (id ${user.id})`,
    `organization:    ${org.name}  (id ${org.id}; the demo user is its owner)`,
    `web client:      client_id ${web.client_id}`,
    `                 client_secret ${web.client_secret}`,
    `                 redirect_uri ${DEMO_REDIRECT}`,
    `machine client:  client_id ${machine.client_id}  (editor in ${org.name})`,
    `                 client_secret ${machine.client_secret}`,
    '',
    'Sign in (open in a browser; after consent you land on the redirect URI with ?code=…):',
    `  ${authorize.toString()}`,
    'Then exchange the code (PKCE verifier for this URL):',
    `  curl -s -u '${web.client_id}:${web.client_secret}' -d grant_type=authorization_code -d code=CODE -d redirect_uri=${DEMO_REDIRECT} -d code_verifier=${verifier} ${token}`,
    'A machine token, then the docs API:',
    `  TOKEN=$(curl -s -u '${machine.client_id}:${machine.client_secret}' -d grant_type=client_credentials -d 'scope=docs:read docs:write' ${token} | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
    `  curl -s -H "Authorization: Bearer $TOKEN" http://localhost:${config.DOCS_API_PORT}/me`,
    '=====================================================================',
    '',
  ].join('\n');
}
