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

// Each command lives in its own module and is loaded only when called.
export const commands: Record<string, Command> = {
  start: lazy('run the auth server and the docs API (migrates and seeds first)', () => import('./start')),
  migrate: lazy('apply migrations to DATABASE_URL (as the owner) or the embedded store', () => import('./migrate')),
  'user create': lazy('create a user: --email E --password-stdin [--name N]', () => import('./user-create')),
  'client create': lazy('register an OAuth client: --name N [--redirect-uri U]… [--grant G]… [--scope S] [--public] [--org ID --role R]', () => import('./client-create')),
  'org create': lazy('create an organization: --name N --owner EMAIL', () => import('./org-create')),
  'keys rotate': lazy('publish a new signing key set; it signs once every process has it', () => import('./keys-rotate')),
  'audit verify': lazy('walk every audit hash chain; non-zero exit names the first broken event', () => import('./audit-verify')),
  'apikey create': lazy('create an API key for a user (shown once): --email E --name N --scope "S" [--expires-in-days D]', () => import('./apikey-create')),
  'apikey list': lazy("list a user's API keys: --email E", () => import('./apikey-list')),
  'apikey revoke': lazy('revoke an API key: ID', () => import('./apikey-revoke')),
  'audit tail': lazy('print the newest audit events [--follow] [--limit N]', () => import('./audit-tail')),
};
