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
      // The refusal names the partitioned table, not the partition the row is in.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          whole text := coalesce((SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = TG_RELID), TG_TABLE_NAME);
        BEGIN
          RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, whole, TG_OP USING ERRCODE = 'insufficient_privilege';
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
  {
    // audit.events partitioned by month of occurred_at (declarative partitioning), so that retention
    // drops whole partitions (`clouddocs audit prune`) instead of deleting rows. A partition's key must
    // be in every unique constraint: (id, occurred_at) and (chain_id, seq, occurred_at) — the chain
    // head's compare-and-set keeps seq unique per chain. Indexes and the append-only triggers are
    // declared on the parent and so exist on every partition; rows of a month without its partition
    // land in the DEFAULT one. audit.ensure_partitions(until) creates the missing months (run by the
    // migration, for three months ahead, and by every prune).
    name: 'audit_003_partitions',
    async up(knex) {
      await knex.raw('ALTER TABLE audit.events RENAME TO events_unpartitioned');
      await knex.raw('ALTER SEQUENCE audit.events_id_seq OWNED BY NONE');
      for (const [from, to] of [
        ['events_pkey', 'events_unpartitioned_pkey'],
        ['events_chain_id_seq_key', 'events_unpartitioned_chain_id_seq_key'],
      ]) {
        await knex.raw(`ALTER TABLE audit.events_unpartitioned RENAME CONSTRAINT ${from} TO ${to}`);
      }
      await knex.raw('ALTER INDEX audit.events_org_idx RENAME TO events_unpartitioned_org_idx');
      await knex.raw('ALTER INDEX audit.events_action_idx RENAME TO events_unpartitioned_action_idx');
      await knex.raw(`
        CREATE TABLE audit.events (
          id bigint NOT NULL DEFAULT nextval('audit.events_id_seq'),
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
          PRIMARY KEY (id, occurred_at),
          UNIQUE (chain_id, seq, occurred_at)
        ) PARTITION BY RANGE (occurred_at)`);
      await knex.raw('ALTER SEQUENCE audit.events_id_seq OWNED BY audit.events.id');
      await knex.raw('CREATE TABLE audit.events_default PARTITION OF audit.events DEFAULT');
      // One partition per month, named events_yYYYYmMM; a month that already has rows in the DEFAULT
      // partition is left there (its partition could not be attached without moving them).
      await knex.raw(`
        CREATE FUNCTION audit.ensure_partitions(since timestamptz, until timestamptz) RETURNS integer
        LANGUAGE plpgsql AS $$
        DECLARE
          month timestamptz := date_trunc('month', since AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
          created integer := 0;
          name text;
        BEGIN
          WHILE month <= until LOOP
            name := 'events_y' || to_char(month AT TIME ZONE 'UTC', 'YYYY') || 'm' || to_char(month AT TIME ZONE 'UTC', 'MM');
            IF to_regclass('audit.' || name) IS NULL AND NOT EXISTS (
              SELECT 1 FROM audit.events_default WHERE occurred_at >= month AND occurred_at < month + interval '1 month'
            ) THEN
              EXECUTE format('CREATE TABLE audit.%I PARTITION OF audit.events FOR VALUES FROM (%L) TO (%L)',
                name, month, month + interval '1 month');
              created := created + 1;
            END IF;
            month := month + interval '1 month';
          END LOOP;
          RETURN created;
        END $$`);
      await knex.raw(`SELECT audit.ensure_partitions(coalesce((SELECT min(occurred_at) FROM audit.events_unpartitioned), now()), now() + interval '3 months')`);
      await knex.raw('INSERT INTO audit.events SELECT * FROM audit.events_unpartitioned');
      await knex.raw('DROP TABLE audit.events_unpartitioned');
      await knex.raw('CREATE INDEX events_org_idx ON audit.events (org_id, id DESC) WHERE org_id IS NOT NULL');
      await knex.raw('CREATE INDEX events_action_idx ON audit.events (action, id DESC)');
      await knex.raw('CREATE INDEX events_chain_seq_idx ON audit.events (chain_id, seq)');
      // The refusal names the partitioned table, not the partition the row is in.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          whole text := coalesce((SELECT p.relname FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent WHERE i.inhrelid = TG_RELID), TG_TABLE_NAME);
        BEGIN
          RAISE EXCEPTION '%.% is append-only: % refused', TG_TABLE_SCHEMA, whole, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$`);
      await knex.raw(`CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
        FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()`);
      await knex.raw(`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()`);
    },
  },
];

export const auditGrants: SchemaGrants = { schema: 'audit', appendOnly: ['events', 'checkpoints'] };
