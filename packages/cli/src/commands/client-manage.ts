// `clouddocs client list | show ID | update ID [flags as create] | disable ID | enable ID | delete ID |
// rotate-secret ID [--previous-expires-in S]`: the admin API's client operations, through the same
// libraries (libraries/clients and libraries/client-lifecycle), so their rules and effects are the
// same: a change reaches every auth server process at once, disabling or deleting revokes the
// client's grants and tokens. Every change is audited with the CLI as actor. A client's secret is
// never printed by `show` or `list`; `rotate-secret` prints the new one once.
import { ClientError, SECRET_METHODS, type ClientInput, type ClientView } from '@clouddocs/auth-server/toolkit';
import { parseOptions } from '../args';
import { allPages, CLI_ACTOR, idAndRest, recorded, withOperator } from '../operator';
import { CliError, type CommandResult } from '../output';
import { authLines, clientAuthInput, CLIENT_AUTH_FLAGS } from './client-auth-flags';

const missing = (id: string) => `no client has the id ${id}`;
const MAX_OVERLAP = 30 * 24 * 3600;

function describe(c: ClientView): string {
  const lines = [
    `client_id: ${c.client_id}`,
    `client_name: ${c.client_name}`,
    `disabled: ${c.disabled}`,
    `token_endpoint_auth_method: ${c.token_endpoint_auth_method}`,
    `grants: ${c.grant_types.join(', ')}`,
    `scope: ${c.scope}`,
  ];
  if (c.redirect_uris.length) lines.push(`redirect_uris: ${c.redirect_uris.join(', ')}`);
  if (c.post_logout_redirect_uris.length) lines.push(`post_logout_redirect_uris: ${c.post_logout_redirect_uris.join(', ')}`);
  if (c.dpop_bound_access_tokens) lines.push('dpop_bound_access_tokens: true');
  lines.push(...authLines(c));
  if (c.backchannel_logout_uri) lines.push(`backchannel_logout_uri: ${c.backchannel_logout_uri}${c.backchannel_logout_session_required ? ' (sid required)' : ''}`);
  if (c.previous_secret_expires_at) lines.push(`previous secret works until: ${c.previous_secret_expires_at}`);
  lines.push(`created_at: ${c.created_at}`, `updated_at: ${c.updated_at}`);
  return lines.join('\n');
}

/** Client rules broken by a change are the operator's to fix: one line. */
async function rules<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    if (err instanceof ClientError) throw new CliError(err.message);
    throw err;
  }
}

export async function list(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { q: { type: 'string' } });
  return withOperator(async (op) => {
    const items = await allPages((after, limit) => op.clients.list({ q: opts.q, after, limit }), (c) => c.client_id);
    const text = items.length ? items.map((c) => `${c.client_id}  ${c.client_name}${c.disabled ? '  (disabled)' : ''}  [${c.grant_types.join(', ')}]`).join('\n') : '(no clients)';
    return { json: { items }, text };
  });
}

export async function show(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'client');
  parseOptions(rest, {});
  return withOperator(async (op) => {
    const client = await op.clients.get(id);
    if (!client) throw new CliError(missing(id));
    return { json: { ...client }, text: describe(client) };
  });
}

export async function update(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'client');
  const opts = parseOptions(rest, {
    name: { type: 'string' },
    'redirect-uri': { type: 'string', multiple: true },
    'post-logout-redirect-uri': { type: 'string', multiple: true },
    grant: { type: 'string', multiple: true },
    scope: { type: 'string' },
    dpop: { type: 'boolean' },
    'no-dpop': { type: 'boolean' },
    'backchannel-logout-uri': { type: 'string' },
    'backchannel-logout-session-required': { type: 'boolean' },
    'application-type': { type: 'string' },
    ...CLIENT_AUTH_FLAGS,
  });
  const change: Partial<ClientInput> = clientAuthInput(opts);
  if (opts.name !== undefined) change.name = opts.name;
  if (opts['redirect-uri'] !== undefined) change.redirectUris = opts['redirect-uri'];
  if (opts['post-logout-redirect-uri'] !== undefined) change.postLogoutRedirectUris = opts['post-logout-redirect-uri'];
  if (opts.grant !== undefined) change.grants = opts.grant;
  if (opts.scope !== undefined) change.scope = opts.scope;
  if (opts.dpop && opts['no-dpop']) throw new CliError('--dpop and --no-dpop exclude each other', 2);
  if (opts.dpop || opts['no-dpop']) change.dpopBoundAccessTokens = opts.dpop === true;
  // An empty --backchannel-logout-uri "" removes it.
  if (opts['backchannel-logout-uri'] !== undefined) change.backchannelLogoutUri = opts['backchannel-logout-uri'] || null;
  if (opts['backchannel-logout-session-required'] !== undefined) change.backchannelLogoutSessionRequired = opts['backchannel-logout-session-required'];
  const applicationType = opts['application-type'];
  if (applicationType !== undefined) {
    if (applicationType !== 'web' && applicationType !== 'native') throw new CliError('--application-type must be web or native', 2);
    change.applicationType = applicationType;
  }
  if (Object.keys(change).length === 0) throw new CliError('nothing to change: give --name, --redirect-uri, --post-logout-redirect-uri, --grant, --scope, --dpop/--no-dpop, --backchannel-logout-uri, --application-type, --auth-method, --jwks-file, --jwks-uri, --tls-subject-dn or --mtls-bound', 2);
  return withOperator(async (op) => {
    const client = await recorded(op, await rules(() => op.clientLifecycle.update(CLI_ACTOR, id, change)), missing(id));
    return { json: { ...client }, text: `updated client ${client.client_id}\n${describe(client)}` };
  });
}

function toggle(disabled: boolean) {
  return async (args: string[]): Promise<CommandResult> => {
    const { id, rest } = idAndRest(args, 'client');
    parseOptions(rest, {});
    return withOperator(async (op) => {
      const client = await recorded(op, await op.clientLifecycle.setDisabled(CLI_ACTOR, id, disabled), missing(id));
      const text = disabled ? `disabled client ${id}: it cannot authenticate, its grants and tokens are revoked` : `enabled client ${id}: it may authenticate again`;
      return { json: { ...client }, text };
    });
  };
}
export const disable = toggle(true);
export const enable = toggle(false);

export async function remove(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'client');
  parseOptions(rest, {});
  return withOperator(async (op) => {
    await recorded(op, await op.clientLifecycle.remove(CLI_ACTOR, id), missing(id));
    return { json: { client_id: id, deleted: true }, text: `deleted client ${id}, its grants and tokens` };
  });
}

export async function rotateSecret(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'client');
  const opts = parseOptions(rest, { 'previous-expires-in': { type: 'string' } });
  const raw = opts['previous-expires-in'] ?? '0';
  if (!/^\d+$/.test(raw) || Number(raw) > MAX_OVERLAP) throw new CliError(`--previous-expires-in must be a whole number of seconds from 0 to ${MAX_OVERLAP}`, 2);
  return withOperator(async (op) => {
    const client = await op.clients.get(id);
    if (!client) throw new CliError(missing(id));
    if (client.token_endpoint_auth_method === 'none') throw new CliError(`client ${id} is public: it has no secret to rotate`);
    if (!SECRET_METHODS.includes(client.token_endpoint_auth_method)) throw new CliError(`client ${id} authenticates with ${client.token_endpoint_auth_method}: it has no secret to rotate`);
    const rotated = await recorded(op, await op.clientLifecycle.rotateSecret(CLI_ACTOR, id, Number(raw)), missing(id));
    const previous = rotated.previous_secret_expires_at ? `the previous secret works until ${rotated.previous_secret_expires_at}` : 'the previous secret no longer works';
    return {
      json: { client_id: id, ...rotated },
      text: `client_id: ${id}\nclient_secret: ${rotated.client_secret}   (shown once; store it now)\n${previous}`,
    };
  });
}
