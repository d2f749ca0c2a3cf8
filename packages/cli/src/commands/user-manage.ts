// `clouddocs user list [--email E] | show ID | disable ID | enable ID | sign-out ID | delete ID`: the
// admin API's user operations, through the same library (libraries/user-lifecycle), so the effects are
// the same: disabling refuses sign-in and ends the user's sessions, grants and tokens; sign-out ends
// every session and grant and every token issued so far; deleting erases the account (the last
// platform administrator cannot be deleted). Every change is audited with the CLI as actor.
import type { UserView } from '@clouddocs/auth-server/toolkit';
import { parseOptions } from '../args';
import { allPages, CLI_ACTOR, idAndRest, recorded, withOperator } from '../operator';
import { CliError, type CommandResult } from '../output';

const missing = (id: string) => `no user has the id ${id}`;

function describe(u: UserView): string {
  return [
    `id: ${u.id}`,
    `email: ${u.email}${u.email_verified ? '' : ' (not verified)'}`,
    `name: ${u.name ?? '-'}`,
    `disabled: ${u.disabled}`,
    `platform_admin: ${u.platform_admin}`,
    `second factors: ${[u.second_factors.totp ? `TOTP, ${u.second_factors.recovery_codes_left} recovery codes left` : '', u.second_factors.passkeys ? `${u.second_factors.passkeys} passkey(s)` : ''].filter(Boolean).join('; ') || 'none'}`,
    `created_at: ${u.created_at}`,
    `last_sign_in_at: ${u.last_sign_in_at ?? 'never'}`,
  ].join('\n');
}

export async function list(args: string[]): Promise<CommandResult> {
  const opts = parseOptions(args, { email: { type: 'string' } });
  return withOperator(async (op) => {
    const items = await allPages((after, limit) => op.users.list({ email: opts.email, after, limit }), (u) => u.email);
    const text = items.length ? items.map((u) => `${u.id}  ${u.email}${u.disabled ? '  (disabled)' : ''}${u.platform_admin ? '  (platform administrator)' : ''}`).join('\n') : '(no users)';
    return { json: { items }, text };
  });
}

export async function show(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'user');
  parseOptions(rest, {});
  return withOperator(async (op) => {
    const user = await op.users.get(id);
    if (!user) throw new CliError(missing(id));
    return { json: { ...user }, text: describe(user) };
  });
}

function toggle(disabled: boolean) {
  return async (args: string[]): Promise<CommandResult> => {
    const { id, rest } = idAndRest(args, 'user');
    parseOptions(rest, {});
    return withOperator(async (op) => {
      const user = await recorded(op, await op.users.setDisabled(CLI_ACTOR, id, disabled), missing(id));
      const text = disabled ? `disabled user ${user.email} (${id}): sign-in refused, sessions, grants and tokens ended` : `enabled user ${user.email} (${id}): they may sign in again`;
      return { json: { ...user }, text };
    });
  };
}
export const disable = toggle(true);
export const enable = toggle(false);

export async function signOut(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'user');
  parseOptions(rest, {});
  return withOperator(async (op) => {
    const ended = await recorded(op, await op.users.signOut(CLI_ACTOR, id), missing(id));
    return { json: { id, ...ended }, text: `signed out user ${id}: ${ended.sessions_ended} session(s) ended, ${ended.grants_revoked} grant(s) revoked` };
  });
}

export async function remove(args: string[]): Promise<CommandResult> {
  const { id, rest } = idAndRest(args, 'user');
  parseOptions(rest, {});
  return withOperator(async (op) => {
    await recorded(op, await op.users.erase(CLI_ACTOR, id), missing(id));
    return { json: { id, deleted: true }, text: `deleted user ${id}: sessions, grants and tokens ended, personal data erased` };
  });
}
