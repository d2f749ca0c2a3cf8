// The demo that the first `npm start` on the embedded store creates and prints once: a user, an
// organization, a confidential web client and a machine client bound to the organization.
import { createHash, randomBytes } from 'node:crypto';
import { AuditLog } from '@clouddocs/audit';
import { argon2ParamsFrom, createAccountLibrary, createClientLibrary, PasswordHasher, SecretBox } from '@clouddocs/auth-server';
import type { AuthConfig } from '@clouddocs/config';
import type { Knex } from '@clouddocs/db';
import { bindClientToOrg, createOrganization } from '@clouddocs/docs-api';

export const DEMO_EMAIL = 'demo@clouddocs.test';
export const DEMO_REDIRECT = 'http://localhost:8080/callback';

export async function seedDemoOnce(knex: Knex, config: AuthConfig): Promise<string | undefined> {
  const claimed = await knex('auth.demo_seed').insert({ id: 1 }).onConflict('id').ignore().returning('id');
  if (claimed.length === 0) return undefined;
  const box = new SecretBox(config.AUTH_ENCRYPTION_KEY);
  const accounts = createAccountLibrary({ knex, hasher: new PasswordHasher(argon2ParamsFrom(config)) });
  const clients = createClientLibrary({ knex, box, issuer: config.AUTH_ISSUER });
  const audit = await AuditLog.open(knex, 'seed');
  const password = `demo-${randomBytes(9).toString('base64url')}`;
  const { user, org, web, machine } = await knex.transaction(async (trx) => {
    const user = await accounts.create({ email: DEMO_EMAIL, password, name: 'Demo User', emailVerified: true }, trx);
    const org = await createOrganization(trx, audit, { name: 'Demo Org', ownerId: user.id });
    const web = await clients.create({ name: 'CloudDocs demo app', redirectUris: [DEMO_REDIRECT] }, trx);
    const machine = await clients.create({ name: 'CloudDocs demo worker', grants: ['client_credentials'] }, trx);
    await bindClientToOrg(trx, audit, { orgId: org.id, clientId: machine.client_id, role: 'editor' });
    await audit.appendInTransaction(trx, [
      { action: 'user.created', actor: { type: 'system', id: 'seed' }, target: { type: 'account', id: user.id }, outcome: 'success', detail: { via: 'demo seed' } },
      { action: 'client.created', actor: { type: 'system', id: 'seed' }, target: { type: 'client', id: web.client_id }, outcome: 'success', detail: { via: 'demo seed' } },
      { action: 'client.created', actor: { type: 'system', id: 'seed' }, target: { type: 'client', id: machine.client_id }, outcome: 'success', orgId: org.id, detail: { via: 'demo seed', role: 'editor' } },
    ]);
    return { user, org, web, machine };
  });
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
    '==== CloudDocs demo (printed once; secrets are not shown again) ====',
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
