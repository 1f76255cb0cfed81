import { type Kysely, type Migration, type MigrationProvider, PostgresAdapter, sql } from 'kysely';

/**
 * Migrations are TypeScript, ordered by name, and portable: only types both SQLite and PostgreSQL
 * understand (text, integer, bigint). Never edit a released migration; add a new one.
 */
const migrations: Record<string, Migration> = {
  '0001_foundation': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('applications')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('client_secret_hash', 'text')
        .addColumn('redirect_urls', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('logout_urls', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('homepage_uri', 'text')
        .addColumn('login_uri', 'text')
        .addColumn('access_token_lifetime', 'integer', (c) => c.notNull())
        .addColumn('refresh_token_lifetime', 'integer', (c) => c.notNull())
        .addColumn('id_token_lifetime', 'integer', (c) => c.notNull())
        .addColumn('authenticated_session_lifetime', 'integer', (c) => c.notNull())
        .addColumn('ask_for_names', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('connections')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('strategy', 'text', (c) => c.notNull())
        .addColumn('name', 'text', (c) => c.notNull().unique())
        .addColumn('display_name', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('connections_strategy').on('connections').column('strategy').execute();

      await db.schema
        .createTable('application_connections')
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addColumn('connection_id', 'text', (c) => c.notNull().references('connections.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('application_connections_pk', ['application_id', 'connection_id'])
        .execute();

      await db.schema
        .createTable('apis')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('audience', 'text', (c) => c.notNull().unique())
        .addColumn('is_management_api', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('api_scopes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addUniqueConstraint('api_scopes_key', ['api_id', 'key'])
        .execute();

      await db.schema
        .createTable('api_applications')
        .addColumn('api_id', 'text', (c) => c.notNull().references('apis.id').onDelete('cascade'))
        .addColumn('application_id', 'text', (c) => c.notNull().references('applications.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('api_applications_pk', ['api_id', 'application_id'])
        .execute();

      await db.schema
        .createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('provided_id', 'text')
        .addColumn('first_name', 'text')
        .addColumn('last_name', 'text')
        .addColumn('picture', 'text')
        .addColumn('is_suspended', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('total_sign_ins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed_sign_ins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_signed_in', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('users_provided_id').on('users').column('provided_id').execute();

      await db.schema
        .createTable('identities')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('normalized_value', 'text', (c) => c.notNull())
        .addColumn('is_verified', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('is_primary', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('connection_id', 'text')
        .addColumn('total_logins', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_login_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addUniqueConstraint('identities_type_value', ['type', 'normalized_value'])
        .execute();
      await db.schema.createIndex('identities_user').on('identities').column('user_id').execute();

      await db.schema
        .createTable('credentials')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('otp_challenges')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('purpose', 'text', (c) => c.notNull())
        .addColumn('recipient', 'text', (c) => c.notNull())
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addColumn('consumed_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('otp_challenges_expiry').on('otp_challenges').column('expires_at').execute();

      await db.schema
        .createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('public_jwk', 'text', (c) => c.notNull())
        .addColumn('private_jwk_sealed', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('active_from', 'bigint', (c) => c.notNull())
        .addColumn('retired_at', 'bigint')
        .addColumn('expires_at', 'bigint')
        .execute();

      await db.schema
        .createTable('oidc_models')
        .addColumn('model', 'text', (c) => c.notNull())
        .addColumn('id', 'text', (c) => c.notNull())
        .addColumn('payload', 'text', (c) => c.notNull())
        .addColumn('grant_id', 'text')
        .addColumn('user_code', 'text')
        .addColumn('uid', 'text')
        .addColumn('expires_at', 'bigint')
        .addColumn('consumed_at', 'bigint')
        .addPrimaryKeyConstraint('oidc_models_pk', ['model', 'id'])
        .execute();
      await db.schema.createIndex('oidc_models_grant').on('oidc_models').column('grant_id').execute();
      await db.schema.createIndex('oidc_models_user_code').on('oidc_models').columns(['model', 'user_code']).execute();
      await db.schema.createIndex('oidc_models_uid').on('oidc_models').columns(['model', 'uid']).execute();
      await db.schema.createIndex('oidc_models_expiry').on('oidc_models').column('expires_at').execute();

      await db.schema
        .createTable('sign_in_flows')
        .addColumn('uid', 'text', (c) => c.primaryKey())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('audit_events')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('actor', 'text')
        .addColumn('subject', 'text')
        .addColumn('data', 'text', (c) => c.notNull().defaultTo('{}'))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('audit_events_created').on('audit_events').column('created_at').execute();
    },
  },
  '0002_sign_in_methods': {
    async up(db: Kysely<any>) {
      // Imported hashes keep their algorithm until the user's next successful sign-in upgrades them.
      await db.schema.alterTable('credentials').addColumn('hashing_method', 'text', (c) => c.notNull().defaultTo('argon2id')).execute();
      await db.schema.alterTable('credentials').addColumn('hash_params', 'text').execute();
      await db.schema.alterTable('credentials').addColumn('is_temporary', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      await db.schema.alterTable('users').addColumn('is_password_reset_requested', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('users').addColumn('accepts_marketing', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      await db.schema.alterTable('applications').addColumn('show_sign_in_link', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      await db.schema.alterTable('applications').addColumn('use_gravatar_fallback', 'integer', (c) => c.notNull().defaultTo(1)).execute();
      await db.schema.alterTable('applications').addColumn('ask_marketing_consent', 'integer', (c) => c.notNull().defaultTo(0)).execute();

      // Attack protection, counted here so a lockout holds across every replica.
      await db.schema
        .createTable('sign_in_failures')
        .addColumn('user_id', 'text', (c) => c.primaryKey().references('users.id').onDelete('cascade'))
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0003_organizations': {
    async up(db: Kysely<any>) {
      await db.schema
        .createTable('organizations')
        .addColumn('code', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('external_id', 'text')
        .addColumn('is_default', 'integer', (c) => c.notNull().defaultTo(0))
        // Section 042: who may join, and how.
        .addColumn('allowed_domains', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('is_auto_join_domain_list', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('is_allow_registrations', 'integer', (c) => c.notNull().defaultTo(0))
        // Section 046: an organization with its own sign-in methods replaces the environment's.
        .addColumn('has_own_connections', 'integer', (c) => c.notNull().defaultTo(0))
        // Section 047: the organization's own SSO session policy.
        .addColumn('session_policy', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('organizations_external_id').on('organizations').column('external_id').execute();

      await db.schema
        .createTable('organization_members')
        .addColumn('organization_code', 'text', (c) => c.notNull().references('organizations.code').onDelete('cascade'))
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('joined_at', 'bigint', (c) => c.notNull())
        .addColumn('last_accessed_at', 'bigint')
        .addPrimaryKeyConstraint('organization_members_pk', ['organization_code', 'user_id'])
        .execute();
      await db.schema.createIndex('organization_members_user').on('organization_members').column('user_id').execute();

      await db.schema
        .createTable('roles')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('is_default_role', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('permissions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('key', 'text', (c) => c.notNull().unique())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('role_permissions')
        .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
        .addColumn('permission_id', 'text', (c) => c.notNull().references('permissions.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('role_permissions_pk', ['role_id', 'permission_id'])
        .execute();

      await db.schema
        .createTable('member_roles')
        .addColumn('organization_code', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('role_id', 'text', (c) => c.notNull().references('roles.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('member_roles_pk', ['organization_code', 'user_id', 'role_id'])
        .addForeignKeyConstraint('member_roles_member', ['organization_code', 'user_id'], 'organization_members', ['organization_code', 'user_id'], (fk) => fk.onDelete('cascade'))
        .execute();

      await db.schema
        .createTable('member_permissions')
        .addColumn('organization_code', 'text', (c) => c.notNull())
        .addColumn('user_id', 'text', (c) => c.notNull())
        .addColumn('permission_id', 'text', (c) => c.notNull().references('permissions.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('member_permissions_pk', ['organization_code', 'user_id', 'permission_id'])
        .addForeignKeyConstraint('member_permissions_member', ['organization_code', 'user_id'], 'organization_members', ['organization_code', 'user_id'], (fk) => fk.onDelete('cascade'))
        .execute();

      await db.schema
        .createTable('feature_flags')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        // Kinde's flag types: b(oolean), i(nteger), s(tring); values are JSON.
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('default_value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      await db.schema
        .createTable('organization_feature_flags')
        .addColumn('organization_code', 'text', (c) => c.notNull().references('organizations.code').onDelete('cascade'))
        .addColumn('flag_key', 'text', (c) => c.notNull().references('feature_flags.key').onDelete('cascade'))
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('organization_feature_flags_pk', ['organization_code', 'flag_key'])
        .execute();

      await db.schema
        .createTable('user_feature_flags')
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('flag_key', 'text', (c) => c.notNull().references('feature_flags.key').onDelete('cascade'))
        .addColumn('value', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('user_feature_flags_pk', ['user_id', 'flag_key'])
        .execute();

      await db.schema
        .createTable('organization_connections')
        .addColumn('organization_code', 'text', (c) => c.notNull().references('organizations.code').onDelete('cascade'))
        .addColumn('connection_id', 'text', (c) => c.notNull().references('connections.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('organization_connections_pk', ['organization_code', 'connection_id'])
        .execute();

      // Which organization a grant (and so every token issued from it) speaks for.
      await db.schema
        .createTable('grant_organizations')
        .addColumn('grant_id', 'text', (c) => c.primaryKey())
        .addColumn('organization_code', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();

      // Section 050: tokens issued after this instant reflect the current state (refresh_claims).
      await db.schema.alterTable('users').addColumn('claims_refreshed_at', 'bigint').execute();

      await db.schema.alterTable('applications').addColumn('is_org_name_in_token', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('applications').addColumn('is_organizations_in_id_token', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('applications').addColumn('is_hasura_mapping_enabled', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0004_sessions': {
    async up(db: Kysely<any>) {
      // Whose a Session (or any model) is, so a person's sessions can be listed and ended.
      await db.schema.alterTable('oidc_models').addColumn('account_id', 'text').execute();
      await db.schema.createIndex('oidc_models_account').on('oidc_models').columns(['model', 'account_id']).execute();
      // Last activity per SSO session, for the inactivity timeout (section 048).
      await db.schema
        .createTable('session_activity')
        .addColumn('session_uid', 'text', (c) => c.primaryKey())
        .addColumn('last_seen_at', 'bigint', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
    },
  },
  '0005_creator_roles': {
    async up(db: Kysely<any>) {
      // Issue 4: whoever creates an organization at sign-up gets these roles in it (e.g. admin).
      await db.schema.alterTable('roles').addColumn('is_default_creator_role', 'integer', (c) => c.notNull().defaultTo(0)).execute();
    },
  },
  '0006_mfa': {
    async up(db: Kysely<any>) {
      // Issue 6: second factors (sections 052–054).
      await db.schema
        .createTable('mfa_factors')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('type', 'text', (c) => c.notNull())
        .addColumn('secret_sealed', 'text')
        .addColumn('destination', 'text')
        .addColumn('is_verified', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('last_used_step', 'bigint')
        .addColumn('usage_count', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('last_used_at', 'bigint')
        .execute();
      await db.schema.createIndex('mfa_factors_user').on('mfa_factors').column('user_id').execute();
      // One email or SMS factor per destination (TOTP rows have none: NULLs never clash in either dialect).
      await db.schema.createIndex('mfa_factors_destination').on('mfa_factors').columns(['user_id', 'type', 'destination']).unique().execute();

      await db.schema
        .createTable('recovery_codes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('code_hash', 'text', (c) => c.notNull())
        .addColumn('used_at', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('recovery_codes_user_hash').on('recovery_codes').columns(['user_id', 'code_hash']).unique().execute();

      // Section 054: enforcement, the organization's own factors, exempt roles and enterprise connections.
      await db.schema.alterTable('organizations').addColumn('mfa_policy', 'text').execute();
    },
  },
  '0007_application_scopes': {
    async up(db: Kysely<any>) {
      // Which of an API's scopes each authorized machine-to-machine application may hold. Until now an
      // authorization carried every scope: those keep them all, so nothing changes for them.
      await db.schema
        .createTable('api_application_scopes')
        .addColumn('api_id', 'text', (c) => c.notNull())
        .addColumn('application_id', 'text', (c) => c.notNull())
        .addColumn('scope_id', 'text', (c) => c.notNull().references('api_scopes.id').onDelete('cascade'))
        .addPrimaryKeyConstraint('api_application_scopes_pk', ['api_id', 'application_id', 'scope_id'])
        .addForeignKeyConstraint('api_application_scopes_authorization', ['api_id', 'application_id'], 'api_applications', ['api_id', 'application_id'], (fk) =>
          fk.onDelete('cascade'),
        )
        .execute();
      await db
        .insertInto('api_application_scopes')
        .columns(['api_id', 'application_id', 'scope_id'])
        .expression((eb: any) =>
          eb
            .selectFrom('api_applications')
            .innerJoin('api_scopes', 'api_scopes.api_id', 'api_applications.api_id')
            .select(['api_applications.api_id', 'api_applications.application_id', 'api_scopes.id']),
        )
        .execute();
    },
  },
  '0008_attack_counters': {
    async up(db: Kysely<any>) {
      // Attempts are counted per account *or* per identity not yet an account (a sign-up code guessed
      // at): one table keyed by subject, which is the user id for accounts as before.
      await db.schema
        .createTable('attempt_counters')
        .addColumn('subject', 'text', (c) => c.primaryKey())
        .addColumn('failures', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('locked_until', 'bigint')
        .addColumn('updated_at', 'bigint', (c) => c.notNull())
        .execute();
      await db
        .insertInto('attempt_counters')
        .columns(['subject', 'failures', 'locked_until', 'updated_at'])
        .expression((eb: any) => eb.selectFrom('sign_in_failures').select(['user_id', 'failures', 'locked_until', 'updated_at']))
        .execute();
      await db.schema.dropTable('sign_in_failures').execute();
      // Fixed-window counters (codes sent per recipient and per address, failures per address), shared
      // by every replica; a row lives until its window ends.
      await db.schema
        .createTable('rate_counters')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('count', 'integer', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .execute();
      await db.schema.createIndex('rate_counters_expiry').on('rate_counters').column('expires_at').execute();
    },
  },
  '0009_connection_options': {
    async up(db: Kysely<any>) {
      // Social (and later enterprise) connections carry their options as one JSON document sealed with
      // the master key (client secrets, Apple's private key), whether the provider's verified email
      // links accounts (section 004), and the organization that manages it (Kinde's organization_code).
      await db.schema.alterTable('connections').addColumn('options_sealed', 'text').execute();
      await db.schema.alterTable('connections').addColumn('is_trusted', 'integer', (c) => c.notNull().defaultTo(0)).execute();
      await db.schema.alterTable('connections').addColumn('organization_code', 'text').execute();
    },
  },
  '0011_saml_replay': {
    async up(db: Kysely<any>) {
      // Each SAML assertion is accepted once (SAML profiles §4.1.4.5): its id is kept until it expires.
      await db.schema
        .createTable('saml_replay')
        .addColumn('connection_id', 'text', (c) => c.notNull().references('connections.id').onDelete('cascade'))
        .addColumn('assertion_id', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'bigint', (c) => c.notNull())
        .addPrimaryKeyConstraint('saml_replay_pk', ['connection_id', 'assertion_id'])
        .execute();
      await db.schema.createIndex('saml_replay_expiry').on('saml_replay').column('expires_at').execute();
      // The IdP's metadata as last fetched from saml_idp_metadata_url (its signing certificates, SSO URLs).
      await db.schema
        .createTable('saml_idp_metadata')
        .addColumn('connection_id', 'text', (c) => c.primaryKey().references('connections.id').onDelete('cascade'))
        .addColumn('url', 'text', (c) => c.notNull())
        .addColumn('xml', 'text', (c) => c.notNull())
        .addColumn('fetched_at', 'bigint', (c) => c.notNull())
        .execute();
      // Section 038: home-realm domains are unique across the environment's connections.
      await db.schema
        .createTable('connection_domains')
        .addColumn('domain', 'text', (c) => c.primaryKey())
        .addColumn('connection_id', 'text', (c) => c.notNull().references('connections.id').onDelete('cascade'))
        .execute();
      await db.schema.createIndex('connection_domains_connection').on('connection_domains').column('connection_id').execute();
    },
  },
  '0013_list_indexes': {
    async up(db: Kysely<any>) {
      // Management lists page by (created_at, id) (store/pagination.ts): without these, the first page
      // of a million users sorts the whole table (155 ms → 0.07 ms on SQLite, issue 13).
      await db.schema.createIndex('users_created').on('users').columns(['created_at', 'id']).execute();
      await db.schema.createIndex('organizations_created').on('organizations').columns(['created_at', 'code']).execute();
      await db.schema.createIndex('organization_members_joined').on('organization_members').columns(['organization_code', 'joined_at', 'user_id']).execute();
    },
  },
  '0012_events': {
    async up(db: Kysely<any>) {
      // The audit log becomes the outbox (DESIGN.md §5b): `data` is what Kinde would send for the
      // type (webhooks and GET /events/{id} show it as is); `detail` is Gatehouse's own audit context
      // (the application, the method used), never sent; `source` is Kinde's api|admin|user.
      await db.schema.alterTable('audit_events').addColumn('source', 'text').execute();
      await db.schema.alterTable('audit_events').addColumn('address', 'text').execute();
      await db.schema.alterTable('audit_events').addColumn('detail', 'text').execute();
      await db.schema.createIndex('audit_events_type').on('audit_events').columns(['type', 'created_at']).execute();
      await db.schema.createIndex('audit_events_subject').on('audit_events').columns(['subject', 'created_at']).execute();

      await db.schema
        .createTable('webhooks')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('name', 'text', (c) => c.notNull())
        .addColumn('endpoint', 'text', (c) => c.notNull())
        .addColumn('description', 'text')
        .addColumn('event_types', 'text', (c) => c.notNull())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .execute();

      // One row per (webhook, event). `position` orders deliveries of one subject: the only column
      // that is not portable, because both engines must number rows in insertion order themselves
      // (a shared counter row would serialise every write that records an event).
      const postgres = db.getExecutor().adapter instanceof PostgresAdapter;
      await db.schema
        .createTable('webhook_deliveries')
        .addColumn('position', postgres ? 'bigserial' : 'integer', (c) => c.primaryKey())
        .addColumn('webhook_id', 'text', (c) => c.notNull().references('webhooks.id').onDelete('cascade'))
        .addColumn('event_id', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'bigint', (c) => c.notNull())
        .addColumn('leased_until', 'bigint')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
      await db.schema.createIndex('webhook_deliveries_due').on('webhook_deliveries').columns(['status', 'next_attempt_at']).execute();
      await db.schema.createIndex('webhook_deliveries_subject').on('webhook_deliveries').columns(['webhook_id', 'subject', 'status', 'position']).execute();
      await db.schema.createIndex('webhook_deliveries_event').on('webhook_deliveries').column('event_id').execute();

      await db.schema
        .createTable('webhook_attempts')
        .addColumn('delivery_position', 'bigint', (c) => c.notNull().references('webhook_deliveries.position').onDelete('cascade'))
        .addColumn('attempt', 'integer', (c) => c.notNull())
        .addColumn('attempted_at', 'bigint', (c) => c.notNull())
        .addColumn('status_code', 'integer')
        .addColumn('duration_ms', 'integer', (c) => c.notNull())
        .addColumn('error', 'text')
        .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_position', 'attempt'])
        .execute();

      // Bulk imports started through the management API, and their progress (any replica can answer).
      await db.schema
        .createTable('import_jobs')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('total', 'integer', (c) => c.notNull())
        .addColumn('done', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('updated', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('skipped', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failed', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('failures', 'text', (c) => c.notNull().defaultTo('[]'))
        .addColumn('error', 'text')
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('finished_at', 'bigint')
        .execute();
    },
  },
  '0014_grant_external_groups': {
    async up(db: Kysely<any>) {
      // Section 032: an enterprise IdP's groups travel with the grant into every token issued from it.
      await db.schema.alterTable('grant_organizations').addColumn('external_groups', 'text').execute();
    },
  },
  '0015_import_job_heartbeats': {
    async up(db: Kysely<any>) {
      // A running import beats `updated_at` (domain/import/jobs.ts): a job not heard from for a while
      // lost its process and reads as interrupted, while another replica's live job is left alone.
      await db.schema.alterTable('import_jobs').addColumn('updated_at', 'bigint', (c) => c.notNull().defaultTo(0)).execute();
      await db.updateTable('import_jobs').set((eb) => ({ updated_at: eb.ref('created_at') })).execute();
    },
  },
  '0016_access_requests': {
    async up(db: Kysely<any>) {
      // People who may not sign up ask for access instead (domain/access-requests.ts). `pending_key`
      // (email + organization) is set only while a request waits: its unique index keeps one pending
      // request per person and organization, and frees the pair once the request is decided.
      await db.schema
        .createTable('access_requests')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('email', 'text', (c) => c.notNull())
        .addColumn('first_name', 'text')
        .addColumn('last_name', 'text')
        .addColumn('user_id', 'text')
        .addColumn('organization_code', 'text')
        .addColumn('application_id', 'text')
        .addColumn('status', 'text', (c) => c.notNull())
        .addColumn('pending_key', 'text', (c) => c.unique())
        .addColumn('created_at', 'bigint', (c) => c.notNull())
        .addColumn('decided_at', 'bigint')
        .addColumn('decided_by', 'text')
        .execute();
      await db.schema.createIndex('access_requests_status').on('access_requests').columns(['status', 'created_at', 'id']).execute();
    },
  },
  '0017_oidc_model_partial_indexes': {
    async up(db: Kysely<any>) {
      // Each secondary index of oidc_models only holds the rows its queries look for (issue 13): a
      // refresh token has no uid or user code, and only Sessions and Grants are listed by account
      // (the adapter stores account_id for those alone). Every lookup is by equality, which tells
      // both databases the value is not null, so they use these partial indexes.
      await db.updateTable('oidc_models').set({ account_id: null }).where('model', 'not in', ['Session', 'Grant']).execute();
      for (const [name, columns, nullable] of [
        ['oidc_models_grant', ['grant_id'], 'grant_id'],
        ['oidc_models_user_code', ['model', 'user_code'], 'user_code'],
        ['oidc_models_uid', ['model', 'uid'], 'uid'],
        ['oidc_models_account', ['model', 'account_id'], 'account_id'],
      ] as const) {
        await db.schema.dropIndex(name).execute();
        await db.schema.createIndex(name).on('oidc_models').columns([...columns]).where(sql.ref(nullable), 'is not', null).execute();
      }
    },
  },
  '0018_access_request_provider_identity': {
    async up(db: Kysely<any>) {
      // A request filed from a social or enterprise sign-in names the provider's person, so that
      // approval links that identity and the person signs in with the provider afterwards.
      for (const column of ['connection_id', 'provider_subject', 'provider_label']) {
        await db.schema.alterTable('access_requests').addColumn(column, 'text').execute();
      }
    },
  },
  '0019_sign_in_flow_in_interaction': {
    async up(db: Kysely<any>) {
      // The hosted pages' state of a sign-in rides in the engine's Interaction row, which every sign-in
      // request reads anyway (issue 13: five statements fewer per password sign-in). `sign_in_flows`
      // stays while an older release may still run beside this one during a rolling upgrade; a flow
      // that moves between the two releases starts again at its first page (state.ts STATE_VERSION).
      await db.schema.alterTable('oidc_models').addColumn('flow_state', 'text').execute();
    },
  },
};

export const migrationProvider: MigrationProvider = {
  async getMigrations() {
    return migrations;
  },
};
