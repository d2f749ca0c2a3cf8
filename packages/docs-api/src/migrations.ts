// The `docs` schema: organizations, their members (people and machine clients), documents and shares.
// A machine client's org binding is a membership row whose principal is the client id
// (principal_type 'client'); the partial unique index keeps every client bound to one org only.
import type { Migration, SchemaGrants } from '@clouddocs/db';

export const docsMigrations: Migration[] = [
  {
    name: 'docs_001_orgs_documents',
    async up(knex) {
      await knex.raw('CREATE SCHEMA IF NOT EXISTS docs');
      // timestamptz(3): millisecond precision round-trips exactly through a JS Date, so keyset cursors are exact.
      await knex.raw(`
        CREATE TABLE docs.orgs (
          id text PRIMARY KEY,
          name text NOT NULL,
          created_at timestamptz(3) NOT NULL DEFAULT now()
        )`);
      await knex.raw(`
        CREATE TABLE docs.memberships (
          org_id text NOT NULL REFERENCES docs.orgs(id) ON DELETE CASCADE,
          principal_id text NOT NULL,
          principal_type text NOT NULL CHECK (principal_type IN ('user', 'client')),
          role text NOT NULL CHECK (role IN ('owner', 'admin', 'editor', 'viewer')),
          created_at timestamptz(3) NOT NULL DEFAULT now(),
          PRIMARY KEY (org_id, principal_id)
        )`);
      await knex.raw('CREATE INDEX memberships_principal_idx ON docs.memberships (principal_id, principal_type)');
      await knex.raw(`CREATE UNIQUE INDEX memberships_one_org_per_client ON docs.memberships (principal_id) WHERE principal_type = 'client'`);
      await knex.raw(`
        CREATE TABLE docs.documents (
          id text PRIMARY KEY,
          org_id text REFERENCES docs.orgs(id) ON DELETE CASCADE,
          owner_id text NOT NULL,
          title text NOT NULL,
          content text NOT NULL,
          created_at timestamptz(3) NOT NULL DEFAULT now(),
          updated_at timestamptz(3) NOT NULL DEFAULT now()
        )`);
      await knex.raw('CREATE INDEX documents_owner_idx ON docs.documents (owner_id, created_at DESC, id DESC) WHERE org_id IS NULL');
      await knex.raw('CREATE INDEX documents_org_idx ON docs.documents (org_id, created_at DESC, id DESC)');
      await knex.raw(`
        CREATE TABLE docs.shares (
          document_id text NOT NULL REFERENCES docs.documents(id) ON DELETE CASCADE,
          user_id text NOT NULL,
          permission text NOT NULL CHECK (permission IN ('read', 'write')),
          created_at timestamptz(3) NOT NULL DEFAULT now(),
          PRIMARY KEY (document_id, user_id)
        )`);
      await knex.raw('CREATE INDEX shares_user_idx ON docs.shares (user_id)');
    },
  },
];

export const docsGrants: SchemaGrants = { schema: 'docs' };
