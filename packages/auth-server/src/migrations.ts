import type { Migration, SchemaGrants } from '@clouddocs/db';

export const authMigrations: Migration[] = [
  {
    name: 'auth_001_init',
    async up(knex) {
      await knex.raw('CREATE SCHEMA IF NOT EXISTS auth');
      await knex.raw(`
        CREATE TABLE auth.accounts (
          id text PRIMARY KEY,
          email text NOT NULL UNIQUE CHECK (email = lower(email)),
          name text,
          email_verified boolean NOT NULL DEFAULT false,
          password_hash text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          updated_at timestamptz NOT NULL DEFAULT now()
        )`);
      await knex.raw(`
        CREATE TABLE auth.clients (
          client_id text PRIMARY KEY,
          name text NOT NULL,
          metadata jsonb NOT NULL,
          secret_enc text,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await knex.raw(`
        CREATE TABLE auth.signing_keys (
          kid text PRIMARY KEY,
          alg text NOT NULL,
          generation integer NOT NULL,
          public_jwk jsonb NOT NULL,
          private_enc text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          activates_at timestamptz NOT NULL,
          retires_at timestamptz
        )`);
      await knex.raw('CREATE INDEX signing_keys_generation_idx ON auth.signing_keys (generation)');
      // Durable oidc-provider artifacts (grants, refresh tokens); short-lived ones live in the cache.
      await knex.raw(`
        CREATE TABLE auth.oidc_payloads (
          model text NOT NULL,
          id text NOT NULL,
          payload jsonb NOT NULL,
          grant_id text,
          uid text,
          user_code text,
          expires_at timestamptz,
          consumed_at timestamptz,
          PRIMARY KEY (model, id)
        )`);
      await knex.raw('CREATE INDEX oidc_payloads_grant_idx ON auth.oidc_payloads (grant_id) WHERE grant_id IS NOT NULL');
      await knex.raw('CREATE INDEX oidc_payloads_expiry_idx ON auth.oidc_payloads (expires_at)');
      await knex.raw(`CREATE TABLE auth.demo_seed (id integer PRIMARY KEY CHECK (id = 1), seeded_at timestamptz NOT NULL DEFAULT now())`);
    },
  },
  {
    name: 'auth_002_account_security',
    async up(knex) {
      // Single-use, short-lived tokens sent by mail (email verification, password reset): only a hash is kept.
      await knex.raw(`
        CREATE TABLE auth.account_tokens (
          token_hash text PRIMARY KEY,
          account_id text NOT NULL REFERENCES auth.accounts (id) ON DELETE CASCADE,
          purpose text NOT NULL CHECK (purpose IN ('verify_email', 'password_reset')),
          return_to text,
          created_at timestamptz NOT NULL DEFAULT now(),
          expires_at timestamptz NOT NULL,
          used_at timestamptz
        )`);
      await knex.raw('CREATE INDEX account_tokens_account_idx ON auth.account_tokens (account_id, purpose)');
      // TOTP second factor: the secret sealed with AUTH_ENCRYPTION_KEY; last_step refuses a replayed code.
      await knex.raw(`
        CREATE TABLE auth.mfa_totp (
          account_id text PRIMARY KEY REFERENCES auth.accounts (id) ON DELETE CASCADE,
          secret_enc text NOT NULL,
          last_step bigint,
          enabled_at timestamptz NOT NULL DEFAULT now()
        )`);
      await knex.raw(`
        CREATE TABLE auth.mfa_recovery_codes (
          account_id text NOT NULL REFERENCES auth.accounts (id) ON DELETE CASCADE,
          code_hash text NOT NULL,
          used_at timestamptz,
          PRIMARY KEY (account_id, code_hash)
        )`);
    },
  },
  {
    // The account console lists a person's connected apps: grants found by account through a column
    // of their own, not by parsing oidc-provider's stored payload.
    name: 'auth_003_grant_account_index',
    async up(knex) {
      await knex.raw('ALTER TABLE auth.oidc_payloads ADD COLUMN account_id text, ADD COLUMN client_id text');
      await knex.raw(`UPDATE auth.oidc_payloads SET account_id = payload->>'accountId', client_id = payload->>'clientId' WHERE model = 'Grant'`);
      await knex.raw(`CREATE INDEX oidc_payloads_account_idx ON auth.oidc_payloads (account_id) WHERE model = 'Grant'`);
    },
  },
  {
    name: 'auth_004_enabled_users_view',
    async up(knex) {
      // What other services may know of users: the ids of the users that exist and are enabled (the docs
      // API refuses memberships and shares for anyone else). Read-only by construction: a view with a
      // WITH query is never automatically updatable, whatever grants the schema's tables get. Whoever
      // adds disabled or soft-deleted accounts replaces it (CREATE OR REPLACE VIEW) to leave them out.
      await knex.raw('CREATE VIEW auth.enabled_users AS WITH enabled AS (SELECT id FROM auth.accounts) SELECT id FROM enabled');
    },
  },
  {
    // The operator plane: disabled accounts and clients, platform administrators, a client secret's
    // predecessor kept until its expiry, and the last sign-in. Disabled users leave enabled_users.
    name: 'auth_005_operator_plane',
    async up(knex) {
      await knex.raw(`ALTER TABLE auth.accounts
        ADD COLUMN disabled_at timestamptz,
        ADD COLUMN platform_admin boolean NOT NULL DEFAULT false,
        ADD COLUMN last_sign_in_at timestamptz`);
      await knex.raw(`ALTER TABLE auth.clients
        ADD COLUMN disabled_at timestamptz,
        ADD COLUMN previous_secret_enc text,
        ADD COLUMN previous_secret_expires_at timestamptz,
        ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now()`);
      await knex.raw('CREATE OR REPLACE VIEW auth.enabled_users AS WITH enabled AS (SELECT id FROM auth.accounts WHERE disabled_at IS NULL) SELECT id FROM enabled');
      await knex.raw(`CREATE INDEX oidc_payloads_client_idx ON auth.oidc_payloads (client_id) WHERE model = 'Grant'`);
    },
  },
  {
    // Self-service email change: a link mailed to the new address carries it until it is confirmed.
    name: 'auth_006_email_change',
    async up(knex) {
      await knex.raw('ALTER TABLE auth.account_tokens DROP CONSTRAINT account_tokens_purpose_check');
      await knex.raw(`ALTER TABLE auth.account_tokens ADD CONSTRAINT account_tokens_purpose_check CHECK (purpose IN ('verify_email', 'password_reset', 'change_email'))`);
      await knex.raw('ALTER TABLE auth.account_tokens ADD COLUMN new_email text');
    },
  },
  {
    // API keys (personal access tokens): only a SHA-256 of each key is kept (libraries/api-keys.ts says
    // why that hash suffices), with what the console lists. The docs API sees keys only through the
    // read-only view api_key_credentials (live keys of enabled users, by hash) and records use only
    // through record_api_key_use (last use, in batches; it answers which keys were used for the first time).
    name: 'auth_007_api_keys',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.api_keys (
          id text PRIMARY KEY,
          account_id text NOT NULL REFERENCES auth.accounts (id) ON DELETE CASCADE,
          name text NOT NULL,
          prefix text NOT NULL,
          key_hash text NOT NULL UNIQUE,
          scopes text[] NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          last_used_at timestamptz,
          expires_at timestamptz NOT NULL,
          revoked_at timestamptz
        )`);
      await knex.raw('CREATE INDEX api_keys_account_idx ON auth.api_keys (account_id, created_at)');
      // A WITH query makes the view read-only whatever grants the schema's tables get (like enabled_users).
      await knex.raw(`CREATE VIEW auth.api_key_credentials AS WITH live AS (
          SELECT k.id, k.account_id, k.key_hash, k.scopes, k.expires_at, k.last_used_at IS NOT NULL AS used
          FROM auth.api_keys k JOIN auth.accounts a ON a.id = k.account_id
          WHERE k.revoked_at IS NULL AND a.disabled_at IS NULL)
        SELECT id, account_id, key_hash, scopes, expires_at, used FROM live`);
      // Row locks make "first use" true for exactly one caller, whatever processes flush at once.
      await knex.raw(`CREATE FUNCTION auth.record_api_key_use(key_ids text[], used_ats timestamptz[])
        RETURNS TABLE (key_id text, first_use boolean) LANGUAGE sql AS $$
          WITH used AS (SELECT u.i AS uid, max(u.t) AS t FROM unnest(key_ids, used_ats) AS u(i, t) GROUP BY u.i),
          old AS (SELECT k.id AS oid, k.last_used_at AS before FROM auth.api_keys k JOIN used ON used.uid = k.id FOR UPDATE OF k)
          UPDATE auth.api_keys k SET last_used_at = greatest(old.before, used.t)
          FROM used, old WHERE k.id = used.uid AND old.oid = k.id
          RETURNING k.id, old.before IS NULL
        $$`);
    },
  },
  {
    // OIDC Back-Channel Logout 1.0: one row per logout token to deliver, so that a restart loses none.
    // A process claims due rows (FOR UPDATE SKIP LOCKED) by moving next_attempt_at past its lease; the
    // token itself is signed at delivery time and never stored.
    name: 'auth_009_backchannel_logout',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.backchannel_deliveries (
          id text PRIMARY KEY,
          client_id text NOT NULL,
          sub text NOT NULL,
          sid text,
          jti text NOT NULL,
          reason text NOT NULL,
          status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
          attempts integer NOT NULL DEFAULT 0,
          next_attempt_at timestamptz NOT NULL DEFAULT now(),
          last_error text,
          created_at timestamptz NOT NULL DEFAULT now(),
          finished_at timestamptz
        )`);
      await knex.raw(`CREATE INDEX backchannel_deliveries_due_idx ON auth.backchannel_deliveries (next_attempt_at) WHERE status = 'pending'`);
    },
  },
  {
    // Dynamic client registration (RFC 7591): initial access tokens, kept as SHA-256 hashes, with how
    // often they may be used and until when; a registered client names the token it came with.
    name: 'auth_010_registration_tokens',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.registration_tokens (
          id text PRIMARY KEY,
          token_hash text NOT NULL UNIQUE,
          max_uses integer CHECK (max_uses IS NULL OR max_uses > 0),
          uses integer NOT NULL DEFAULT 0,
          expires_at timestamptz,
          revoked_at timestamptz,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
      await knex.raw('ALTER TABLE auth.clients ADD COLUMN registered_with text');
    },
  },
  {
    // Passkeys (WebAuthn credentials): the public key and signature counter of each, never a secret.
    // A passkey signs in without a password or serves as the second factor (libraries/passkeys.ts).
    name: 'auth_011_passkeys',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.passkeys (
          id text PRIMARY KEY,
          account_id text NOT NULL REFERENCES auth.accounts (id) ON DELETE CASCADE,
          credential_id text NOT NULL UNIQUE,
          public_key bytea NOT NULL,
          counter bigint NOT NULL DEFAULT 0,
          transports text[] NOT NULL DEFAULT '{}',
          device_type text NOT NULL CHECK (device_type IN ('singleDevice', 'multiDevice')),
          backed_up boolean NOT NULL DEFAULT false,
          name text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now(),
          last_used_at timestamptz
        )`);
      await knex.raw('CREATE INDEX passkeys_account_idx ON auth.passkeys (account_id, created_at)');
    },
  },
  {
    // Durable revocations: the cache (Redis) is the fast path, this table the copy that outlives a
    // restart or failover of it. A row is written in the transaction of the revocation's audit event;
    // expired rows are pruned. Readers (the docs API) see live rows through the read-only view.
    name: 'auth_012_durable_revocations',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.revocations (
          kind text NOT NULL CHECK (kind IN ('jti', 'grant', 'sub', 'client', 'api_key')),
          value text NOT NULL,
          revoked_at timestamptz NOT NULL,
          expires_at timestamptz NOT NULL,
          PRIMARY KEY (kind, value)
        )`);
      await knex.raw('CREATE INDEX revocations_expiry_idx ON auth.revocations (expires_at)');
      await knex.raw(`CREATE VIEW auth.live_revocations AS WITH live AS (
          SELECT kind, value, revoked_at, expires_at FROM auth.revocations WHERE expires_at > now())
        SELECT kind, value, revoked_at, expires_at FROM live`);
    },
  },
  {
    // Settings that are secrets of the deployment rather than of one object, sealed like the others
    // (the recovery-code pepper: kept here so that it outlives a rotation of AUTH_ENCRYPTION_KEY).
    name: 'auth_013_sealed_settings',
    async up(knex) {
      await knex.raw(`
        CREATE TABLE auth.sealed_settings (
          name text PRIMARY KEY,
          value_enc text NOT NULL,
          created_at timestamptz NOT NULL DEFAULT now()
        )`);
    },
  },
];

export const authGrants: SchemaGrants = { schema: 'auth' };
