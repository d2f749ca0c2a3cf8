import { AuditLog } from '@clouddocs/audit';
import { ClientError, createClientLibrary, SecretBox } from '@clouddocs/auth-server/toolkit';
import { bindClientToOrg, OrganizationNotFoundError, ProblemError } from '@clouddocs/docs-api/toolkit';
import { parseOptions, required } from '../args';
import { withContext } from '../context';
import { CliError, type CommandResult } from '../output';
import { authLines, clientAuthInput, CLIENT_AUTH_FLAGS } from './client-auth-flags';

const ROLES = ['owner', 'admin', 'editor', 'viewer'];

export async function run(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, {
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    grant: { type: 'string', multiple: true },
    scope: { type: 'string' },
    public: { type: 'boolean' },
    dpop: { type: 'boolean' },
    'backchannel-logout-uri': { type: 'string' },
    'backchannel-logout-session-required': { type: 'boolean' },
    'application-type': { type: 'string' },
    org: { type: 'string' },
    role: { type: 'string' },
    ...CLIENT_AUTH_FLAGS,
  });
  const name = required(opts.name, '--name');
  if ((opts.org === undefined) !== (opts.role === undefined)) throw new CliError('--org and --role go together', 2);
  if (opts.role !== undefined && !ROLES.includes(opts.role)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`, 2);
  const applicationType = opts['application-type'];
  if (applicationType !== undefined && applicationType !== 'web' && applicationType !== 'native') throw new CliError('--application-type must be web or native', 2);

  return withContext(async ({ config, knex }) => {
    const clients = createClientLibrary({ knex, box: SecretBox.fromConfig(config), issuer: config.AUTH_ISSUER });
    const audit = await AuditLog.open(knex, 'cli');
    try {
      const created = await knex.transaction(async (trx) => {
        const client = await clients.create(
          {
            name,
            redirectUris: opts['redirect-uri'],
            postLogoutRedirectUris: opts['post-logout-redirect-uri'],
            grants: opts.grant,
            scope: opts.scope,
            public: opts.public,
            applicationType,
            dpopBoundAccessTokens: opts.dpop,
            ...clientAuthInput(opts),
            backchannelLogoutUri: opts['backchannel-logout-uri'],
            backchannelLogoutSessionRequired: opts['backchannel-logout-session-required'],
          },
          trx,
        );
        if (opts.org !== undefined) {
          if (!client.grant_types.includes('client_credentials')) throw new ClientError('--org/--role bind a client_credentials client to an organization');
          await bindClientToOrg(trx, audit, { orgId: opts.org, clientId: client.client_id, role: opts.role as 'owner' | 'admin' | 'editor' | 'viewer' });
        }
        await audit.appendInTransaction(trx, [
          {
            action: 'client.created',
            actor: { type: 'system', id: 'cli' },
            target: { type: 'client', id: client.client_id },
            outcome: 'success',
            orgId: opts.org ?? null,
            detail: { name, grants: client.grant_types, public: client.token_endpoint_auth_method === 'none', authMethod: client.token_endpoint_auth_method, org: opts.org ?? null, role: opts.role ?? null },
          },
        ]);
        return client;
      });
      const json = { ...created, ...(opts.org ? { org_id: opts.org, role: opts.role } : {}) };
      const lines = [`created client ${created.client_name}`, `client_id: ${created.client_id}`];
      if (created.client_secret) lines.push(`client_secret: ${created.client_secret}   (shown once; store it now)`);
      lines.push(`token_endpoint_auth_method: ${created.token_endpoint_auth_method}`, `grants: ${created.grant_types.join(', ')}`, `scope: ${created.scope}`);
      if (created.redirect_uris.length) lines.push(`redirect_uris: ${created.redirect_uris.join(', ')}`);
      lines.push(...authLines(created));
      if (created.dpop_bound_access_tokens) lines.push('dpop_bound_access_tokens: true (every token request needs a DPoP proof)');
      if (opts.org) lines.push(`bound to org ${opts.org} as ${opts.role}`);
      return { json, text: lines.join('\n') };
    } catch (err) {
      if (err instanceof ClientError) throw new CliError(err.message);
      if (err instanceof OrganizationNotFoundError || err instanceof ProblemError) throw new CliError(err.message);
      throw err;
    }
  });
}
