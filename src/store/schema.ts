import type { ColumnType, Generated } from 'kysely';

/**
 * Table shapes as Kysely sees them. Portable across SQLite and PostgreSQL: timestamps are epoch
 * milliseconds in bigints, booleans are 0/1 integers, JSON is text. Each domain module owns its
 * tables; this file only declares them so that one Kysely instance can type every query.
 */
export type Flag = 0 | 1;

export interface SettingsTable {
  key: string;
  value: string;
}

export interface ApplicationsTable {
  id: string;
  name: string;
  type: string;
  client_secret_hash: string | null;
  redirect_urls: string;
  logout_urls: string;
  homepage_uri: string | null;
  login_uri: string | null;
  access_token_lifetime: number;
  refresh_token_lifetime: number;
  id_token_lifetime: number;
  authenticated_session_lifetime: number;
  ask_for_names: Flag;
  show_sign_in_link: Flag;
  use_gravatar_fallback: Flag;
  ask_marketing_consent: Flag;
  is_org_name_in_token: Flag;
  is_organizations_in_id_token: Flag;
  is_hasura_mapping_enabled: Flag;
  created_at: number;
}

export interface ConnectionsTable {
  id: string;
  strategy: string;
  name: string;
  display_name: string;
  created_at: number;
  /** JSON options sealed with the master key (context `connection-options:<id>`); null for built-ins. */
  options_sealed: string | null;
  /** Defaults to 0 (untrusted), so rows inserted without it stay valid. */
  is_trusted: ColumnType<Flag, Flag | undefined, Flag>;
  organization_code: string | null;
}

export interface ApplicationConnectionsTable {
  application_id: string;
  connection_id: string;
}

export interface ApisTable {
  id: string;
  name: string;
  audience: string;
  is_management_api: Flag;
  created_at: number;
}

export interface ApiScopesTable {
  id: string;
  api_id: string;
  key: string;
  description: string | null;
}

export interface ApiApplicationsTable {
  api_id: string;
  application_id: string;
}

/** A scope an authorized machine-to-machine application may hold (Kinde: "add scope to API application"). */
export interface ApiApplicationScopesTable {
  api_id: string;
  application_id: string;
  scope_id: string;
}

export interface UsersTable {
  id: string;
  provided_id: string | null;
  first_name: string | null;
  last_name: string | null;
  picture: string | null;
  is_suspended: Flag;
  total_sign_ins: number;
  failed_sign_ins: number;
  last_signed_in: number | null;
  is_password_reset_requested: Flag;
  accepts_marketing: Flag;
  claims_refreshed_at: number | null;
  created_at: number;
  updated_at: number;
}

export interface IdentitiesTable {
  id: string;
  user_id: string;
  type: string;
  value: string;
  normalized_value: string;
  is_verified: Flag;
  is_primary: Flag;
  connection_id: string | null;
  total_logins: number;
  last_login_at: number | null;
  created_at: number;
}

export interface CredentialsTable {
  user_id: string;
  password_hash: string;
  /** 'argon2id' for every password Gatehouse hashed; an import's algorithm until it is upgraded. */
  hashing_method: string;
  /** JSON: salt, salt position, iterations, variant of an imported hash. */
  hash_params: string | null;
  is_temporary: Flag;
  updated_at: number;
}

/** Wrong attempts per subject: a user id, or `identity:…` for an identity that is not an account yet. */
export interface AttemptCountersTable {
  subject: string;
  failures: number;
  locked_until: number | null;
  updated_at: number;
}

export interface RateCountersTable {
  key: string;
  count: number;
  expires_at: number;
}

export interface OtpChallengesTable {
  id: string;
  purpose: string;
  recipient: string;
  code_hash: string;
  attempts: number;
  expires_at: number;
  consumed_at: number | null;
  created_at: number;
}

export interface SigningKeysTable {
  kid: string;
  public_jwk: string;
  private_jwk_sealed: string;
  created_at: number;
  /** Signing starts here; before it, the key is only published so caches learn it first. */
  active_from: number;
  /** Signing stops here (a newer key took over). */
  retired_at: number | null;
  /** Gone from the JWKS: nothing it signed can still be valid. */
  expires_at: number | null;
}

export interface OidcModelsTable {
  model: string;
  id: string;
  payload: string;
  grant_id: string | null;
  user_code: string | null;
  uid: string | null;
  expires_at: number | null;
  consumed_at: number | null;
  account_id: string | null;
  /** An Interaction's sign-in state (sign-in/flow/state.ts); null on every other model. */
  flow_state: string | null;
}

export interface SessionActivityTable {
  session_uid: string;
  last_seen_at: number;
  expires_at: number;
}

export interface SignInFlowsTable {
  uid: string;
  state: string;
  expires_at: number;
}

export interface AuditEventsTable {
  id: string;
  type: string;
  actor: string | null;
  subject: string | null;
  data: string;
  created_at: number;
  /** Kinde's `source`: `api` (management API), `admin`, `user` (sign-in pages); null for the system. */
  source: string | null;
  /** The client address of the request that caused it. */
  address: string | null;
  /** Gatehouse's audit context (JSON), never sent in webhooks. */
  detail: string | null;
}

export interface WebhooksTable {
  id: string;
  name: string;
  endpoint: string;
  description: string | null;
  /** JSON array of event type codes. */
  event_types: string;
  created_at: number;
}

export interface WebhookDeliveriesTable {
  position: Generated<number>;
  webhook_id: string;
  event_id: string;
  subject: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: number;
  leased_until: number | null;
  created_at: number;
  finished_at: number | null;
}

export interface WebhookAttemptsTable {
  delivery_position: number;
  attempt: number;
  attempted_at: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

export interface ImportJobsTable {
  id: string;
  /** `interrupted`: its process stopped (shut down, or stopped beating `updated_at`) before the end. */
  status: 'running' | 'finished' | 'failed' | 'interrupted';
  total: number;
  done: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
  /** JSON: `[{line, reason}]`, the first thousand. */
  failures: string;
  error: string | null;
  created_at: number;
  /** The heartbeat of the process running it (domain/import/jobs.ts): stale means that process is gone. */
  updated_at: number;
  finished_at: number | null;
}

export interface AccessRequestsTable {
  id: string;
  /** The email the person proved with a one-time code (or the account's, for a member asking to join). */
  email: string;
  first_name: string | null;
  last_name: string | null;
  /** The person's account when they have one (asking to join an organization); set on approval otherwise. */
  user_id: string | null;
  organization_code: string | null;
  /** The application they were signing in to. */
  application_id: string | null;
  status: 'pending' | 'approved' | 'denied';
  /** `<email>|<organization code>` while pending, null once decided: one pending request per pair. */
  pending_key: string | null;
  created_at: number;
  decided_at: number | null;
  /** The management client that decided it. */
  decided_by: string | null;
  /** Filed from a social or enterprise sign-in: the provider's person, linked on approval (all three or none). */
  connection_id: string | null;
  provider_subject: string | null;
  /** What the identity is shown as (the provider's email, username or subject). */
  provider_label: string | null;
}

export interface OrganizationsTable {
  code: string;
  name: string;
  external_id: string | null;
  is_default: Flag;
  allowed_domains: string;
  is_auto_join_domain_list: Flag;
  is_allow_registrations: Flag;
  has_own_connections: Flag;
  /** JSON; null = the applications' session policy applies. */
  session_policy: string | null;
  /** JSON (section 054); null = not enforced, no exemptions. */
  mfa_policy: string | null;
  created_at: number;
}

export interface OrganizationMembersTable {
  organization_code: string;
  user_id: string;
  joined_at: number;
  last_accessed_at: number | null;
}

export interface RolesTable {
  id: string;
  key: string;
  name: string;
  description: string | null;
  is_default_role: Flag;
  is_default_creator_role: Flag;
  created_at: number;
}

export interface PermissionsTable {
  id: string;
  key: string;
  name: string;
  description: string | null;
  created_at: number;
}

export interface RolePermissionsTable {
  role_id: string;
  permission_id: string;
}

export interface MemberRolesTable {
  organization_code: string;
  user_id: string;
  role_id: string;
}

export interface MemberPermissionsTable {
  organization_code: string;
  user_id: string;
  permission_id: string;
}

export interface FeatureFlagsTable {
  key: string;
  name: string;
  description: string | null;
  type: 'b' | 'i' | 's';
  default_value: string;
  created_at: number;
}

export interface OrganizationFeatureFlagsTable {
  organization_code: string;
  flag_key: string;
  value: string;
}

export interface UserFeatureFlagsTable {
  user_id: string;
  flag_key: string;
  value: string;
}

export interface OrganizationConnectionsTable {
  organization_code: string;
  connection_id: string;
}

export interface GrantOrganizationsTable {
  grant_id: string;
  organization_code: string;
  expires_at: number;
  /** JSON array: the enterprise IdP's groups for `ext_groups`; null when the sign-in brought none. */
  external_groups: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface MfaFactorsTable {
  id: string;
  user_id: string;
  type: 'totp' | 'email' | 'sms';
  /** TOTP only: the shared secret (base32), sealed with the master key under `totp:<id>`. */
  secret_sealed: string | null;
  /** Email and SMS only: the address or E.164 number codes go to. */
  destination: string | null;
  is_verified: Flag;
  /** TOTP only: the last time step accepted; codes of that step and earlier are refused (RFC 6238 §5.2). */
  last_used_step: number | null;
  usage_count: number;
  created_at: number;
  last_used_at: number | null;
}

export interface RecoveryCodesTable {
  id: string;
  user_id: string;
  code_hash: string;
  used_at: number | null;
  created_at: number;
}

/** A SAML assertion id already accepted, kept until the assertion expires (migration 0011). */
export interface SamlReplayTable {
  connection_id: string;
  assertion_id: string;
  expires_at: number;
}

/** The IdP metadata document of a SAML connection, as last fetched. */
export interface SamlIdpMetadataTable {
  connection_id: string;
  url: string;
  xml: string;
  fetched_at: number;
}

/** Section 038: one row per home-realm domain; the key makes a domain belong to one connection. */
export interface ConnectionDomainsTable {
  domain: string;
  connection_id: string;
}

export interface Database {
  settings: SettingsTable;
  applications: ApplicationsTable;
  connections: ConnectionsTable;
  application_connections: ApplicationConnectionsTable;
  apis: ApisTable;
  api_scopes: ApiScopesTable;
  api_applications: ApiApplicationsTable;
  api_application_scopes: ApiApplicationScopesTable;
  users: UsersTable;
  identities: IdentitiesTable;
  credentials: CredentialsTable;
  otp_challenges: OtpChallengesTable;
  signing_keys: SigningKeysTable;
  oidc_models: OidcModelsTable;
  sign_in_flows: SignInFlowsTable;
  audit_events: AuditEventsTable;
  attempt_counters: AttemptCountersTable;
  rate_counters: RateCountersTable;
  organizations: OrganizationsTable;
  organization_members: OrganizationMembersTable;
  roles: RolesTable;
  permissions: PermissionsTable;
  role_permissions: RolePermissionsTable;
  member_roles: MemberRolesTable;
  member_permissions: MemberPermissionsTable;
  feature_flags: FeatureFlagsTable;
  organization_feature_flags: OrganizationFeatureFlagsTable;
  user_feature_flags: UserFeatureFlagsTable;
  organization_connections: OrganizationConnectionsTable;
  grant_organizations: GrantOrganizationsTable;
  session_activity: SessionActivityTable;
  mfa_factors: MfaFactorsTable;
  recovery_codes: RecoveryCodesTable;
  saml_replay: SamlReplayTable;
  saml_idp_metadata: SamlIdpMetadataTable;
  connection_domains: ConnectionDomainsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  import_jobs: ImportJobsTable;
  access_requests: AccessRequestsTable;
}
