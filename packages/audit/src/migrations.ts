import type { Migration, SchemaGrants } from '@clouddocs/db';

export const auditMigrations: Migration[] = [
  {
    name: 'audit_001_events',
    async up(knex) {
      await knex.raw('CREATE SCHEMA IF NOT EXISTS audit');
      await knex.raw(`
        CREATE TABLE audit.chains (
          id text PRIMARY KEY,
          service text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          head_seq bigint NOT NULL DEFAULT 0,
          head_hash text NOT NULL
        )`);
      await knex.raw(`
        CREATE TABLE audit.events (
          id bigserial PRIMARY KEY,
          chain_id text NOT NULL REFERENCES audit.chains(id),
          seq bigint NOT NULL,
          occurred_at timestamptz NOT NULL,
          actor_type text NOT NULL,
          actor_id text,
          action text NOT NULL,
          target_type text,
          target_id text,
          outcome text NOT NULL CHECK (outcome IN ('success', 'failure', 'denied')),
          org_id text,
          request_id text,
          ip text,
          user_agent text,
          detail jsonb NOT NULL DEFAULT '{}'::jsonb,
          prev_hash text NOT NULL,
          hash text NOT NULL,
          UNIQUE (chain_id, seq)
        )`);
      await knex.raw('CREATE INDEX events_org_idx ON audit.events (org_id, id DESC) WHERE org_id IS NOT NULL');
      await knex.raw('CREATE INDEX events_action_idx ON audit.events (action, id DESC)');
      // The second wall: whatever the role, rows of audit.events can be added, never changed or removed.
      await knex.raw(`
        CREATE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit.events is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$`);
      await knex.raw(`CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
        FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()`);
      await knex.raw(`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()`);
    },
  },
  {
    // Retention: a checkpoint records a chain's (seq, hash) at a cut, optionally signed, so that events up
    // to it can be archived and verification still starts from a known link (see RETENTION.md).
    name: 'audit_002_checkpoints',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE audit.checkpoints (
          id bigserial PRIMARY KEY,
          chain_id text NOT NULL REFERENCES audit.chains(id),
          seq bigint NOT NULL CHECK (seq > 0),
          hash text NOT NULL,
          created_at timestamptz NOT NULL,
          key_id text,
          signature text,
          UNIQUE (chain_id, seq)
        )`);
      await knex.raw(`CREATE TRIGGER checkpoints_append_only BEFORE UPDATE OR DELETE ON audit.checkpoints
        FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()`);
      await knex.raw(`CREATE TRIGGER checkpoints_no_truncate BEFORE TRUNCATE ON audit.checkpoints
        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()`);
      await knex.raw(`
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$`);
    },
  },
];

export const auditGrants: SchemaGrants = { schema: 'audit', appendOnly: ['events', 'checkpoints'] };
