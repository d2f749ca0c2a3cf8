import type { Knex, Migration, SchemaGrants } from '@clouddocs/db';
import { addMonths, createMonthPartition, ensureDefaultPartition, monthOf, parseMonth, PARTITION_LOCK } from './partitions';

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
  {
    // audit.events partitioned by UTC month (RANGE on occurred_at), rebuilt from the existing table
    // with every event unchanged (ids, hashes, the id sequence's value). The primary key and the
    // chain uniqueness must include the partition key; each partition adds its own UNIQUE (chain_id,
    // seq), and verify's seq-continuity walk covers the rest (RETENTION.md).
    name: 'audit_003_partitions',
    async up(knex) {
      await knex.raw('SELECT pg_advisory_xact_lock(?)', [PARTITION_LOCK]);
      // Writers' order (chains, then events): running services wait for the rebuild instead of deadlocking.
      await knex.raw('LOCK TABLE audit.chains IN EXCLUSIVE MODE');
      await knex.raw('LOCK TABLE audit.events IN ACCESS EXCLUSIVE MODE');
      await knex.raw('ALTER TABLE audit.events RENAME TO events_unpartitioned');
      // Index names are per schema: free them for the new table.
      await knex.raw('ALTER TABLE audit.events_unpartitioned DROP CONSTRAINT events_pkey');
      await knex.raw('ALTER TABLE audit.events_unpartitioned DROP CONSTRAINT events_chain_id_seq_key');
      await knex.raw('DROP INDEX audit.events_org_idx');
      await knex.raw('DROP INDEX audit.events_action_idx');
      // The sequence outlives the old table (DROP would take an owned sequence with it).
      await knex.raw('ALTER SEQUENCE audit.events_id_seq OWNED BY NONE');
      await knex.raw(`
        CREATE TABLE audit.events (
          id bigint NOT NULL DEFAULT nextval('audit.events_id_seq'::regclass),
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
      // Partitioned indexes: every partition, present and future, gets its own.
      await knex.raw('CREATE INDEX events_org_idx ON audit.events (org_id, id DESC) WHERE org_id IS NOT NULL');
      await knex.raw('CREATE INDEX events_action_idx ON audit.events (action, id DESC)');
      await knex.raw('CREATE INDEX events_actor_idx ON audit.events (actor_id, id DESC) WHERE actor_id IS NOT NULL');
      await knex.raw('CREATE INDEX events_target_idx ON audit.events (target_id, id DESC) WHERE target_id IS NOT NULL');
      await knex.raw('CREATE INDEX events_occurred_idx ON audit.events (occurred_at)');
      // The message names the table a caller used (audit.events), whichever partition the row is in.
      await knex.raw(`
        CREATE OR REPLACE FUNCTION audit.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
          target text := (SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                          WHERE c.oid = coalesce(pg_partition_root(TG_RELID), TG_RELID));
        BEGIN
          RAISE EXCEPTION '% is append-only: % refused', target, TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$`);
      // Row triggers on the parent are cloned to every partition, present and future; TRUNCATE ones are
      // not, so each partition gets its own (partitions.ts).
      await knex.raw(`CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON audit.events
        FOR EACH ROW EXECUTE FUNCTION audit.refuse_change()`);
      await knex.raw(`CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON audit.events
        FOR EACH STATEMENT EXECUTE FUNCTION audit.refuse_change()`);
      const trx = knex as Knex.Transaction;
      await ensureDefaultPartition(trx);
      const { rows } = await knex.raw(`SELECT DISTINCT to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM') AS month FROM audit.events_unpartitioned`);
      const current = monthOf(new Date());
      const months = [...rows.map((r: { month: string }) => parseMonth(r.month)!), current, addMonths(current, 1)];
      for (const month of months) await createMonthPartition(trx, month);
      await knex.raw(`INSERT INTO audit.events (id, chain_id, seq, occurred_at, actor_type, actor_id, action, target_type, target_id,
          outcome, org_id, request_id, ip, user_agent, detail, prev_hash, hash)
        SELECT id, chain_id, seq, occurred_at, actor_type, actor_id, action, target_type, target_id,
          outcome, org_id, request_id, ip, user_agent, detail, prev_hash, hash
        FROM audit.events_unpartitioned ORDER BY id`);
      await knex.raw('DROP TABLE audit.events_unpartitioned');
      await knex.raw('ALTER SEQUENCE audit.events_id_seq OWNED BY audit.events.id');
    },
  },
  {
    // The writer's group append as a function: PL/pgSQL keeps the plans of its statements for the
    // session, so a batch is no longer parsed and planned each time (a named prepared statement would do
    // the same, but breaks behind PgBouncer in transaction mode before 1.21 and on the embedded store's
    // one shared session; a function call is an ordinary statement). The head moves only from where the
    // writer expects it, the rows go in only if it moved, and the checkpoint (when given) with them: one
    // statement, atomic as the CTE it replaces. The rows' JSON keys are the hashed fields' names, so
    // that each row is the very text that was hashed (log.ts). SECURITY INVOKER: the caller's privileges.
    name: 'audit_004_group_append',
    async up(knex) {
      await knex.raw(`
        CREATE OR REPLACE FUNCTION audit.group_append(
          chain text, from_seq bigint, from_hash text, to_seq bigint, to_hash text, batch json,
          checkpoint_created_at timestamptz DEFAULT NULL, checkpoint_key_id text DEFAULT NULL, checkpoint_signature text DEFAULT NULL
        ) RETURNS integer LANGUAGE plpgsql AS $$
        DECLARE
          appended integer;
        BEGIN
          UPDATE audit.chains SET head_seq = to_seq, head_hash = to_hash
            WHERE id = chain AND head_seq = from_seq AND head_hash = from_hash;
          IF NOT FOUND THEN
            RETURN 0;
          END IF;
          INSERT INTO audit.events (chain_id, seq, occurred_at, actor_type, actor_id, action, target_type, target_id, outcome,
              org_id, request_id, ip, user_agent, detail, prev_hash, hash)
            SELECT r."chainId", r.seq, r."occurredAt", r."actorType", r."actorId", r.action, r."targetType", r."targetId", r.outcome,
              r."orgId", r."requestId", r.ip, r."userAgent", r.detail, r."prevHash", r.hash
            FROM json_to_recordset(batch) AS r("chainId" text, seq bigint, "occurredAt" timestamptz, "actorType" text,
              "actorId" text, action text, "targetType" text, "targetId" text, outcome text, "orgId" text, "requestId" text,
              ip text, "userAgent" text, detail jsonb, "prevHash" text, hash text);
          GET DIAGNOSTICS appended = ROW_COUNT;
          IF checkpoint_created_at IS NOT NULL THEN
            INSERT INTO audit.checkpoints (chain_id, seq, hash, created_at, key_id, signature)
              VALUES (chain, to_seq, to_hash, checkpoint_created_at, checkpoint_key_id, checkpoint_signature)
              ON CONFLICT (chain_id, seq) DO NOTHING;
          END IF;
          RETURN appended;
        END $$`);
    },
  },
];

export const auditGrants: SchemaGrants = { schema: 'audit', appendOnly: ['events', 'checkpoints'] };
