import type { CommandResult } from '../output';

export interface Command {
  summary: string;
  run(args: string[], options: { json: boolean }): Promise<CommandResult | void>;
}

type Module = { run: Command['run'] };
const lazy = (summary: string, load: () => Promise<Module>): Command => ({
  summary,
  run: async (args, options) => (await load()).run(args, options),
});
/** One of several commands that share a module. */
const pick = <M>(load: () => Promise<M>, name: keyof M) => async (): Promise<Module> => ({ run: (await load())[name] as Command['run'] });
const clientManage = () => import('./client-manage');
const userManage = () => import('./user-manage');
const admin = () => import('./admin');

// Each command lives in its own module and is loaded only when called.
export const commands: Record<string, Command> = {
  start: lazy('run the auth server and the docs API (migrates and seeds first)', () => import('./start')),
  migrate: lazy('apply migrations to DATABASE_URL (as the owner) or the embedded store', () => import('./migrate')),
  'user create': lazy('create a user: --email E --password-stdin [--name N]', () => import('./user-create')),
  'client create': lazy('register an OAuth client: --name N [--redirect-uri U]… [--grant G]… [--scope S] [--public] [--org ID --role R]', () => import('./client-create')),
  'client list': lazy('list the OAuth clients (never their secrets)', pick(clientManage, 'list')),
  'client show': lazy('show one client: ID (never its secret)', pick(clientManage, 'show')),
  'client update': lazy('change a client: ID [--name N] [--redirect-uri U]… [--post-logout-redirect-uri U]… [--grant G]… [--scope S] [--dpop|--no-dpop]', pick(clientManage, 'update')),
  'client disable': lazy('disable a client: ID (it cannot authenticate; its grants and tokens are revoked)', pick(clientManage, 'disable')),
  'client enable': lazy('enable a disabled client: ID', pick(clientManage, 'enable')),
  'client delete': lazy('delete a client, its grants and tokens: ID', pick(clientManage, 'remove')),
  'client rotate-secret': lazy('a new client secret, shown once: ID [--previous-expires-in S] (the old one works S more seconds; 0 by default)', pick(clientManage, 'rotateSecret')),
  'user list': lazy('list the users [--email E]', pick(userManage, 'list')),
  'user show': lazy('show one user: ID', pick(userManage, 'show')),
  'user disable': lazy('disable a user: ID (sign-in refused; sessions, grants and tokens ended)', pick(userManage, 'disable')),
  'user enable': lazy('enable a disabled user: ID', pick(userManage, 'enable')),
  'user sign-out': lazy('end every session, grant and token of a user: ID', pick(userManage, 'signOut')),
  'user delete': lazy('delete a user and erase their personal data: ID', pick(userManage, 'remove')),
  'admin grant': lazy('make a user a platform administrator (admin console): --email E', pick(admin, 'grant')),
  'admin revoke': lazy('a user is no longer a platform administrator (not the last one): --email E', pick(admin, 'revoke')),
  'org create': lazy('create an organization: --name N --owner EMAIL', () => import('./org-create')),
  'keys rotate': lazy('publish a new signing key set; it signs once every process has it', () => import('./keys-rotate')),
  'keys list': lazy('the published signing keys and their state (pending, active, retiring)', () => import('./keys-list')),
  'audit verify': lazy('walk every audit hash chain; non-zero exit names the first broken event', () => import('./audit-verify')),
  'apikey create': lazy('create an API key for a user (shown once): --email E --name N --scope "S" [--expires-in-days D]', () => import('./apikey-create')),
  'apikey list': lazy("list a user's API keys: --email E", () => import('./apikey-list')),
  'apikey revoke': lazy('revoke an API key: ID', () => import('./apikey-revoke')),
  'audit prune': lazy('drop the audit partitions of months before --before YYYY-MM, after a signed checkpoint that verify starts from', () => import('./audit-prune')),
  'audit tail': lazy('print the newest audit events [--follow] [--limit N]', () => import('./audit-tail')),
};
