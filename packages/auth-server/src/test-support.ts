// A fresh database with the auth schema for one test file (PostgreSQL when DATABASE_URL is set,
// embedded PGlite otherwise), dropped after the file.
import { createKnex, createTestDatabase, migrate, type Knex, type TestDatabase } from '@clouddocs/db';
import { afterAll, beforeAll } from 'vitest';
import { authGrants, authMigrations } from './migrations';

export function useAuthDatabase(): { readonly knex: Knex } {
  let db: TestDatabase | undefined;
  let knex: Knex | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    knex = await createKnex({ url: db.url, poolMax: 4 });
    await migrate(knex, authMigrations, [authGrants]);
  });
  afterAll(async () => {
    await knex?.destroy();
    await db?.drop();
  });
  return {
    get knex() {
      if (!knex) throw new Error('the test database is not open yet (use it inside a test or hook)');
      return knex;
    },
  };
}
