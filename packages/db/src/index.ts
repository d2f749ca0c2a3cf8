export { startEmbeddedPostgres, type EmbeddedPostgres } from './embedded';
export { locateDatabase, type DatabaseLocation } from './locate';
export { createKnex, SERVICE_ROLE, type Knex, type DatabaseOptions } from './knex';
export { migrate, type Migration, type SchemaGrants } from './migrate';
export { createTestDatabase, freePort, type TestDatabase } from './testing';
