import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { newClientSecret, sha256Hex, sha256HexMatches } from '../crypto/secrets.ts';
import { type Db, type Tx, inTransaction, isUniqueViolation } from '../store/db.ts';
import { keysetPage, type PageRequest } from '../store/pagination.ts';
import { cached } from '../store/read-cache.ts';
import type { ApplicationsTable } from '../store/schema.ts';
import { DomainError } from './errors.ts';

export const APPLICATION_TYPES = ['reg', 'spa', 'm2m', 'device'] as const;
export type ApplicationType = (typeof APPLICATION_TYPES)[number];

/** Kinde's defaults (section 048 and the tokens settings screen). */
export const DEFAULT_LIFETIMES = {
  access_token_lifetime: 86_400,
  refresh_token_lifetime: 2_592_000,
  id_token_lifetime: 86_400,
  authenticated_session_lifetime: 2_592_000,
} as const;

export interface Application {
  id: string;
  name: string;
  type: ApplicationType;
  clientSecretHash: string | null;
  redirectUrls: string[];
  logoutUrls: string[];
  homepageUri: string | null;
  loginUri: string | null;
  accessTokenLifetime: number;
  refreshTokenLifetime: number;
  idTokenLifetime: number;
  authenticatedSessionLifetime: number;
  askForNames: boolean;
  /** Off = unified sign-up: one screen signs existing people in and registers new ones (section 019). */
  showSignInLink: boolean;
  useGravatarFallback: boolean;
  askMarketingConsent: boolean;
  /** Section 045/050 token switches: `org_name` in access tokens, `organizations` in ID tokens, Hasura claims. */
  isOrgNameInToken: boolean;
  isOrganizationsInIdToken: boolean;
  isHasuraMappingEnabled: boolean;
  createdAt: number;
}

/**
 * The longest any application's access and ID tokens live now, in seconds (never below Kinde's
 * default): how long a signing key must stay published, how long a revocation must be remembered.
 */
export async function longestTokenLifetimes(db: Db | Tx): Promise<{ accessToken: number; idToken: number }> {
  const longest = await db
    .selectFrom('applications')
    .select((eb) => [eb.fn.max('access_token_lifetime').as('access'), eb.fn.max('id_token_lifetime').as('id')])
    .executeTakeFirst();
  return {
    accessToken: Math.max(Number(longest?.access ?? 0), DEFAULT_LIFETIMES.access_token_lifetime),
    idToken: Math.max(Number(longest?.id ?? 0), DEFAULT_LIFETIMES.id_token_lifetime),
  };
}

/** Secrets are stored as SHA-256 (DESIGN.md §5). */
export function clientSecretMatches(storedHash: string | null | undefined, presented: unknown): boolean {
  return typeof storedHash === 'string' && typeof presented === 'string' && sha256HexMatches(storedHash, presented);
}

/** Public clients cannot keep a secret: they authenticate with PKCE alone (RFC 9700 §2.1.1). */
export function isPublicClient(type: ApplicationType): boolean {
  return type === 'spa' || type === 'device';
}

function fromRow(row: ApplicationsTable): Application {
  return {
    id: row.id,
    name: row.name,
    type: row.type as ApplicationType,
    clientSecretHash: row.client_secret_hash,
    redirectUrls: JSON.parse(row.redirect_urls) as string[],
    logoutUrls: JSON.parse(row.logout_urls) as string[],
    homepageUri: row.homepage_uri,
    loginUri: row.login_uri,
    accessTokenLifetime: row.access_token_lifetime,
    refreshTokenLifetime: row.refresh_token_lifetime,
    idTokenLifetime: row.id_token_lifetime,
    authenticatedSessionLifetime: row.authenticated_session_lifetime,
    askForNames: row.ask_for_names === 1,
    showSignInLink: row.show_sign_in_link === 1,
    useGravatarFallback: row.use_gravatar_fallback === 1,
    askMarketingConsent: row.ask_marketing_consent === 1,
    isOrgNameInToken: row.is_org_name_in_token === 1,
    isOrganizationsInIdToken: row.is_organizations_in_id_token === 1,
    isHasuraMappingEnabled: row.is_hasura_mapping_enabled === 1,
    createdAt: row.created_at,
  };
}

export async function findApplication(db: Db | Tx, id: string): Promise<Application | undefined> {
  const row = await db.selectFrom('applications').selectAll().where('id', '=', id).executeTakeFirst();
  return row && fromRow(row);
}

/** Read on every sign-in page, so through the configuration cache (store/read-cache.ts); do not mutate. */
export function applicationForSignIn(db: Db, id: string): Promise<Application | undefined> {
  return cached(db, 'application', id, () => findApplication(db, id));
}

export async function requireApplication(db: Db | Tx, id: string): Promise<Application> {
  const app = await findApplication(db, id);
  if (!app) throw new DomainError('APPLICATION_INVALID', 'Application not found', 404);
  return app;
}

export async function listApplications(db: Db, page: PageRequest): Promise<Application[]> {
  const query = keysetPage(db.selectFrom('applications').selectAll(), page);
  return (await query.execute()).map(fromRow);
}

export interface NewApplication {
  name: string;
  type: ApplicationType;
  /** Only the bootstrap client chooses its own credentials. */
  id?: string;
  clientSecret?: string;
}

/** Creates the application with Kinde's default sign-in method on; the secret is returned once. */
export async function createApplication(db: Db, input: NewApplication): Promise<{ application: Application; clientSecret?: string }> {
  const clientSecret = isPublicClient(input.type) ? undefined : (input.clientSecret ?? newClientSecret());
  const row: ApplicationsTable = {
    id: input.id ?? newId.application(),
    name: input.name,
    type: input.type,
    client_secret_hash: clientSecret ? sha256Hex(clientSecret) : null,
    redirect_urls: '[]',
    logout_urls: '[]',
    homepage_uri: null,
    login_uri: null,
    ...DEFAULT_LIFETIMES,
    // Kinde asks for first and last name on sign-up unless the application turns it off (section 019).
    ask_for_names: 1,
    show_sign_in_link: 1,
    use_gravatar_fallback: 1,
    ask_marketing_consent: 0,
    is_org_name_in_token: 0,
    is_organizations_in_id_token: 0,
    is_hasura_mapping_enabled: 0,
    created_at: clock.now(),
  };
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('applications').values(row).execute();
      if (input.type !== 'm2m') await enableDefaultConnections(tx, row.id);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('APPLICATION_EXISTS', 'An application with this id already exists', 409);
    throw error;
  }
  return { application: fromRow(row), clientSecret };
}

export interface ApplicationPatch {
  name?: string;
  homepageUri?: string | null;
  loginUri?: string | null;
  redirectUrls?: string[];
  logoutUrls?: string[];
  askForNames?: boolean;
  showSignInLink?: boolean;
  useGravatarFallback?: boolean;
  askMarketingConsent?: boolean;
  isOrgNameInToken?: boolean;
  isOrganizationsInIdToken?: boolean;
  isHasuraMappingEnabled?: boolean;
  accessTokenLifetime?: number;
  refreshTokenLifetime?: number;
  idTokenLifetime?: number;
  authenticatedSessionLifetime?: number;
}

export async function updateApplication(db: Db, id: string, patch: ApplicationPatch): Promise<Application> {
  await requireApplication(db, id);
  const set: Partial<ApplicationsTable> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.homepageUri !== undefined) set.homepage_uri = patch.homepageUri;
  if (patch.loginUri !== undefined) set.login_uri = patch.loginUri;
  if (patch.redirectUrls !== undefined) set.redirect_urls = JSON.stringify(unique(patch.redirectUrls));
  if (patch.logoutUrls !== undefined) set.logout_urls = JSON.stringify(unique(patch.logoutUrls));
  if (patch.askForNames !== undefined) set.ask_for_names = patch.askForNames ? 1 : 0;
  if (patch.showSignInLink !== undefined) set.show_sign_in_link = patch.showSignInLink ? 1 : 0;
  if (patch.useGravatarFallback !== undefined) set.use_gravatar_fallback = patch.useGravatarFallback ? 1 : 0;
  if (patch.askMarketingConsent !== undefined) set.ask_marketing_consent = patch.askMarketingConsent ? 1 : 0;
  if (patch.isOrgNameInToken !== undefined) set.is_org_name_in_token = patch.isOrgNameInToken ? 1 : 0;
  if (patch.isOrganizationsInIdToken !== undefined) set.is_organizations_in_id_token = patch.isOrganizationsInIdToken ? 1 : 0;
  if (patch.isHasuraMappingEnabled !== undefined) set.is_hasura_mapping_enabled = patch.isHasuraMappingEnabled ? 1 : 0;
  if (patch.accessTokenLifetime !== undefined) set.access_token_lifetime = patch.accessTokenLifetime;
  if (patch.refreshTokenLifetime !== undefined) set.refresh_token_lifetime = patch.refreshTokenLifetime;
  if (patch.idTokenLifetime !== undefined) set.id_token_lifetime = patch.idTokenLifetime;
  if (patch.authenticatedSessionLifetime !== undefined) set.authenticated_session_lifetime = patch.authenticatedSessionLifetime;
  if (Object.keys(set).length > 0) await db.updateTable('applications').set(set).where('id', '=', id).execute();
  return requireApplication(db, id);
}

/** Kinde turns email + code on for every new application. */
const DEFAULT_STRATEGIES = ['email:otp'];

/**
 * Part of creating an application, so it lives here rather than in connections.ts (which takes this
 * module's row lock): the two would otherwise import each other.
 */
async function enableDefaultConnections(tx: Tx, applicationId: string): Promise<void> {
  const defaults = await tx.selectFrom('connections').select('id').where('strategy', 'in', DEFAULT_STRATEGIES).execute();
  if (defaults.length === 0) return;
  await tx
    .insertInto('application_connections')
    .values(defaults.map((c) => ({ application_id: applicationId, connection_id: c.id })))
    .execute();
}

export async function deleteApplication(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('applications').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('APPLICATION_INVALID', 'Application not found', 404);
}

/**
 * Takes the application's row lock for the rest of the transaction (a no-op update locks the row in
 * PostgreSQL; SQLite serialises writers anyway), so read-check-write sequences cannot interleave.
 */
export async function lockApplication(tx: Tx, id: string): Promise<void> {
  const result = await tx.updateTable('applications').set((eb) => ({ name: eb.ref('name') })).where('id', '=', id).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new DomainError('APPLICATION_INVALID', 'Application not found', 404);
}

/** Edits the redirect or logout URL list atomically: concurrent edits never lose one another. */
export async function editApplicationUrls(db: Db, id: string, list: 'redirectUrls' | 'logoutUrls', edit: (urls: string[]) => string[]): Promise<string[]> {
  const column = list === 'redirectUrls' ? 'redirect_urls' : 'logout_urls';
  return inTransaction(db, async (tx) => {
    await lockApplication(tx, id);
    const row = await tx.selectFrom('applications').select(column).where('id', '=', id).executeTakeFirstOrThrow();
    const next = unique(edit(JSON.parse(row[column]) as string[]));
    await tx.updateTable('applications').set({ [column]: JSON.stringify(next) }).where('id', '=', id).execute();
    return next;
  });
}

function unique(urls: string[]): string[] {
  return [...new Set(urls)];
}

/** Kinde's `/logout?redirect=` carries no client id: the URL must be a logout URL of some application. */
export async function isRegisteredLogoutUrl(db: Db, url: string): Promise<boolean> {
  const rows = await db.selectFrom('applications').select('logout_urls').execute();
  return rows.some((row) => (JSON.parse(row.logout_urls) as string[]).includes(url));
}

/** Browser applications may call the token endpoint cross-origin from the origins of their redirect URLs. */
export async function isAllowedBrowserOrigin(db: Db, origin: string): Promise<boolean> {
  const origins = await cached(db, 'browser-origins', 'all', async () => {
    const rows = await db.selectFrom('applications').select('redirect_urls').where('type', '=', 'spa').execute();
    return new Set(rows.flatMap((row) => (JSON.parse(row.redirect_urls) as string[]).map(originOf)));
  });
  return origins.has(origin);
}

function originOf(url: string): string | undefined {
  try {
    return new URL(url).origin;
  } catch {
    return undefined;
  }
}
