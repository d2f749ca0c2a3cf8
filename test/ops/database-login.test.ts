// The services connect to PostgreSQL as their own login, never as the owner or a superuser: with CI's
// DATABASE_URL (the `postgres` superuser) the running auth server and docs API still hold only
// `clouddocs_service`'s privileges, so no statement of theirs can rewrite the audit log. The embedded
// PGlite is one shared session, where the append-only triggers are the wall.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDocsStack, type DocsStack } from '../docs/support';

const real = Boolean(process.env.DATABASE_URL);

describe('the services\' database login', () => {
  let stack: DocsStack;
  beforeAll(async () => {
    stack = await startDocsStack();
  });
  afterAll(async () => {
    await stack?.stop();
  });

  const services = () => [
    ['auth server', stack.auth.knex],
    ['docs API', stack.docs.knex],
  ] as const;

  it('on PostgreSQL both running services are connected as clouddocs_service, which is not a superuser (embedded: the one shared session)', async () => {
    const shared = (await stack.admin.raw('SELECT session_user AS login')).rows[0].login as string;
    for (const [name, knex] of services()) {
      const { rows } = await knex.raw('SELECT session_user AS login, r.rolsuper AS superuser FROM pg_roles r WHERE r.rolname = session_user');
      expect(rows, name).toEqual(real ? [{ login: 'clouddocs_service', superuser: false }] : [{ login: shared, superuser: true }]);
    }
  });

  it('through a service\'s own pool the audit log cannot be emptied: RESET ROLE; DELETE or TRUNCATE is refused, the trigger cannot be switched off', async () => {
    const before = Number((await stack.admin('audit.events').count({ n: '*' }))[0]!.n);
    for (const [name, knex] of services()) {
      await expect(knex.raw('RESET ROLE; TRUNCATE audit.events'), name).rejects.toThrow(real ? /permission denied/ : /append-only/);
      if (!real) continue; // the embedded session is the owner's: there the trigger is the wall
      await expect(knex.raw('RESET ROLE; DELETE FROM audit.events'), name).rejects.toThrow(/permission denied/);
      await expect(knex.raw('ALTER TABLE audit.events DISABLE TRIGGER ALL'), name).rejects.toThrow(/must be owner/);
    }
    expect(Number((await stack.admin('audit.events').count({ n: '*' }))[0]!.n)).toBe(before);
  });
});
