import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, type Tx, inTransaction, isUniqueViolation } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';
import { keysetPage, type PageRequest } from '../store/pagination.ts';
import { DomainError } from './errors.ts';

/**
 * Scopes of Gatehouse's own management API: read/create/update/delete per kind of resource, with
 * sub-resources under their parent (a user's password, identities, sessions, MFA and flags under
 * `users`; an organization's members, their roles, its connections and policies under
 * `organizations`; a role's permissions under `roles`; feature flags and the environment only read
 * and update). Kinde's catalogue is finer, but every scope rides twice in every default token
 * (`scope` and `scp`): 80 of them made a management token 5 kB, and 38 already cost the token
 * endpoint about 7% (docs/benchmarks.md). Each management route declares which it needs
 * (src/management/route.ts); a test checks that each one guards some route. A scope dropped from this list stays in older
 * databases.
 */
export const MANAGEMENT_SCOPES = [
  'read:users', 'create:users', 'update:users', 'delete:users',
  'read:organizations', 'create:organizations', 'update:organizations', 'delete:organizations',
  'read:roles', 'create:roles', 'update:roles', 'delete:roles',
  'read:permissions', 'create:permissions', 'update:permissions', 'delete:permissions',
  'read:feature_flags', 'update:feature_flags',
  'read:environments', 'update:environments',
  'read:applications', 'create:applications', 'update:applications', 'delete:applications',
  'read:connections', 'create:connections', 'update:connections', 'delete:connections',
  'read:apis', 'create:apis', 'update:apis', 'delete:apis',
  'read:webhooks', 'create:webhooks', 'update:webhooks', 'delete:webhooks', 'read:events',
  // Gatehouse's access requests: deciding one creates a user, but triaging them needs no other power.
  'read:access_requests', 'update:access_requests',
] as const;

export type ManagementScope = (typeof MANAGEMENT_SCOPES)[number];

export interface Api {
  id: string;
  name: string;
  audience: string;
  isManagementApi: boolean;
  createdAt: number;
}

export interface ApiScope {
  id: string;
  key: string;
  description: string | null;
}

const toApi = (row: { id: string; name: string; audience: string; is_management_api: number; created_at: number }): Api => ({
  id: row.id,
  name: row.name,
  audience: row.audience,
  isManagementApi: row.is_management_api === 1,
  createdAt: row.created_at,
});

export function managementAudience(issuer: string): string {
  return `${issuer}/api`;
}

export async function ensureManagementApi(db: Db, issuer: string): Promise<Api> {
  const audience = managementAudience(issuer);
  const existing = await findApiByAudience(db, audience);
  if (existing) {
    await addMissingScopes(db, existing.id, MANAGEMENT_SCOPES);
    return existing;
  }
  try {
    return await createApi(db, { name: 'Gatehouse Management API', audience, isManagementApi: true, scopes: [...MANAGEMENT_SCOPES] });
  } catch (error) {
    // Another replica created it first.
    if (error instanceof DomainError && error.code === 'API_EXISTS') return (await findApiByAudience(db, audience))!;
    throw error;
  }
}

/**
 * A database made by an older Gatehouse gains the scopes added since (replicas may race: the unique
 * key settles it). An application that held every scope before keeps holding every scope: an
 * administrator who gave it full access meant full access, and an upgrade should not take any away.
 */
async function addMissingScopes(db: Db, apiId: string, keys: readonly string[]): Promise<void> {
  const present = await db.selectFrom('api_scopes').select(['id', 'key']).where('api_id', '=', apiId).execute();
  const missing = keys.filter((key) => !present.some((scope) => scope.key === key));
  if (missing.length === 0) return;
  const holders = await db
    .selectFrom('api_application_scopes')
    .select('application_id')
    .where('api_id', '=', apiId)
    .groupBy('application_id')
    .having((eb) => eb.fn.countAll(), '=', present.length)
    .execute();
  for (const key of missing) {
    await db
      .insertInto('api_scopes')
      .values({ id: newId.scope(), api_id: apiId, key, description: null })
      .onConflict((oc) => oc.columns(['api_id', 'key']).doNothing())
      .execute();
  }
  for (const { application_id } of holders) await grantEveryScope(db, apiId, application_id);
}

export async function createApi(
  db: Db,
  input: { name: string; audience: string; isManagementApi?: boolean; scopes?: string[] },
): Promise<Api> {
  const row = {
    id: newId.api(),
    name: input.name,
    audience: input.audience,
    is_management_api: input.isManagementApi ? (1 as const) : (0 as const),
    created_at: clock.now(),
  };
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('apis').values(row).execute();
      for (const key of input.scopes ?? []) {
        await tx.insertInto('api_scopes').values({ id: newId.scope(), api_id: row.id, key, description: null }).execute();
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('API_EXISTS', 'An API with this audience already exists', 409);
    throw error;
  }
  return toApi(row);
}

export async function findApi(db: Db | Tx, id: string): Promise<Api | undefined> {
  const row = await db.selectFrom('apis').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toApi(row);
}

export async function requireApi(db: Db | Tx, id: string): Promise<Api> {
  const api = await findApi(db, id);
  if (!api) throw new DomainError('API_NOT_FOUND', 'API not found', 404);
  return api;
}

export async function findApiByAudience(db: Db | Tx, audience: string): Promise<Api | undefined> {
  const row = await db.selectFrom('apis').selectAll().where('audience', '=', audience).executeTakeFirst();
  return row && toApi(row);
}

export async function listApis(db: Db, page: PageRequest): Promise<Api[]> {
  const query = keysetPage(db.selectFrom('apis').selectAll(), page);
  return (await query.execute()).map(toApi);
}

export async function deleteApi(db: Db, id: string): Promise<void> {
  const api = await requireApi(db, id);
  if (api.isManagementApi) throw new DomainError('API_PROTECTED', 'The management API cannot be deleted', 400);
  await db.deleteFrom('apis').where('id', '=', id).execute();
}

export async function listScopes(db: Db | Tx, apiId: string): Promise<ApiScope[]> {
  return db.selectFrom('api_scopes').select(['id', 'key', 'description']).where('api_id', '=', apiId).orderBy('key').execute();
}

export async function addScope(db: Db, apiId: string, key: string, description: string | null): Promise<ApiScope> {
  await requireApi(db, apiId);
  const scope = { id: newId.scope(), key, description };
  try {
    await db.insertInto('api_scopes').values({ ...scope, api_id: apiId }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('SCOPE_EXISTS', 'This API already has a scope with that key', 409);
    throw error;
  }
  return scope;
}

export async function deleteScope(db: Db, apiId: string, scopeId: string): Promise<void> {
  const result = await db.deleteFrom('api_scopes').where('api_id', '=', apiId).where('id', '=', scopeId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('SCOPE_NOT_FOUND', 'Scope not found', 404);
}

export async function authorizedApplicationIds(db: Db | Tx, apiId: string): Promise<string[]> {
  const rows = await db.selectFrom('api_applications').select('application_id').where('api_id', '=', apiId).execute();
  return rows.map((r) => r.application_id);
}

export async function setApplicationAuthorization(db: Db | Tx, apiId: string, applicationId: string, authorized: boolean): Promise<void> {
  if (authorized) {
    await db
      .insertInto('api_applications')
      .values({ api_id: apiId, application_id: applicationId })
      .onConflict((oc) => oc.doNothing())
      .execute();
  } else {
    await db.deleteFrom('api_applications').where('api_id', '=', apiId).where('application_id', '=', applicationId).execute();
  }
}

/** Checked on every management call, so deleting or de-authorizing an application takes effect at once. */
export async function isAuthorizedForManagementApi(db: Db, applicationId: string): Promise<boolean> {
  const row = await db
    .selectFrom('api_applications')
    .innerJoin('apis', 'apis.id', 'api_applications.api_id')
    .select('api_applications.api_id')
    .where('apis.is_management_api', '=', 1)
    .where('api_applications.application_id', '=', applicationId)
    .executeTakeFirst();
  return row !== undefined;
}

export interface AudienceGrant {
  audience: string;
  scopes: string[];
}

/**
 * What an application may receive for the audiences it asked for: every audience must be an API the
 * application is authorized for (an unknown or unauthorized audience is refused, never silently
 * dropped). On every token request, so one query, cached (store/read-cache.ts).
 */
export function audienceGrants(db: Db, applicationId: string, audiences: string[]): Promise<AudienceGrant[] | { refused: string }> {
  if (audiences.length === 0) return Promise.resolve([]);
  return cached(db, 'audience-grants', `${applicationId} ${audiences.join(' ')}`, async () => {
    const rows = await db
      .selectFrom('apis')
      .leftJoin('api_applications', (join) => join.onRef('api_applications.api_id', '=', 'apis.id').on('api_applications.application_id', '=', applicationId))
      .leftJoin('api_scopes', 'api_scopes.api_id', 'apis.id')
      .select(['apis.audience', 'api_applications.application_id', 'api_scopes.key'])
      .where('apis.audience', 'in', audiences)
      .orderBy('api_scopes.key')
      .execute();
    return grantsByAudience(audiences, rows);
  });
}

/**
 * What a machine-to-machine application may receive by client credentials: as `audienceGrants`, but
 * only the scopes it was given (`setApplicationScope`), not every scope of the API. One query, cached.
 */
export function machineAudienceGrants(db: Db, applicationId: string, audiences: string[]): Promise<AudienceGrant[] | { refused: string }> {
  if (audiences.length === 0) return Promise.resolve([]);
  return cached(db, 'machine-audience-grants', `${applicationId} ${audiences.join(' ')}`, async () => {
    const rows = await db
      .selectFrom('apis')
      .leftJoin('api_applications', (join) => join.onRef('api_applications.api_id', '=', 'apis.id').on('api_applications.application_id', '=', applicationId))
      .leftJoin('api_application_scopes', (join) =>
        join.onRef('api_application_scopes.api_id', '=', 'apis.id').on('api_application_scopes.application_id', '=', applicationId),
      )
      .leftJoin('api_scopes', 'api_scopes.id', 'api_application_scopes.scope_id')
      .select(['apis.audience', 'api_applications.application_id', 'api_scopes.key'])
      .where('apis.audience', 'in', audiences)
      .orderBy('api_scopes.key')
      .execute();
    return grantsByAudience(audiences, rows);
  });
}

function grantsByAudience(audiences: string[], rows: Array<{ audience: string; application_id: string | null; key: string | null }>): AudienceGrant[] | { refused: string } {
  const grants: AudienceGrant[] = [];
  for (const audience of audiences) {
    const ofAudience = rows.filter((row) => row.audience === audience);
    if (!ofAudience.some((row) => row.application_id !== null)) return { refused: audience };
    grants.push({ audience, scopes: ofAudience.flatMap((row) => (row.key === null ? [] : [row.key])) });
  }
  return grants;
}

/**
 * Gives an authorized application one of the API's scopes, or takes it back (Kinde's "add scope to
 * API application"). Its next token carries the change; tokens already issued keep what they hold.
 */
export async function setApplicationScope(db: Db, apiId: string, applicationId: string, scopeId: string, granted: boolean): Promise<void> {
  await requireApi(db, apiId);
  const authorized = await db.selectFrom('api_applications').select('api_id').where('api_id', '=', apiId).where('application_id', '=', applicationId).executeTakeFirst();
  if (!authorized) throw new DomainError('APPLICATION_NOT_AUTHORIZED', 'The application is not authorized for this API', 404);
  const scope = await db.selectFrom('api_scopes').select('id').where('api_id', '=', apiId).where('id', '=', scopeId).executeTakeFirst();
  if (!scope) throw new DomainError('SCOPE_NOT_FOUND', 'Scope not found', 404);
  if (granted) {
    await db.insertInto('api_application_scopes').values({ api_id: apiId, application_id: applicationId, scope_id: scopeId }).onConflict((oc) => oc.doNothing()).execute();
  } else {
    await db.deleteFrom('api_application_scopes').where('api_id', '=', apiId).where('application_id', '=', applicationId).where('scope_id', '=', scopeId).execute();
  }
}

/** The scopes each authorized application holds on this API (`setApplicationScope`), by application id. */
export async function applicationScopes(db: Db, apiId: string): Promise<Map<string, ApiScope[]>> {
  const rows = await db
    .selectFrom('api_application_scopes')
    .innerJoin('api_scopes', 'api_scopes.id', 'api_application_scopes.scope_id')
    .select(['api_application_scopes.application_id', 'api_scopes.id', 'api_scopes.key', 'api_scopes.description'])
    .where('api_application_scopes.api_id', '=', apiId)
    .orderBy('api_scopes.key')
    .execute();
  const held = new Map<string, ApiScope[]>();
  for (const { application_id, ...scope } of rows) held.set(application_id, [...(held.get(application_id) ?? []), scope]);
  return held;
}

/** Every scope the API has now, for an application that must hold them all (the bootstrap client). */
export async function grantEveryScope(db: Db, apiId: string, applicationId: string): Promise<void> {
  await db
    .insertInto('api_application_scopes')
    .columns(['api_id', 'application_id', 'scope_id'])
    .expression((eb) => eb.selectFrom('api_scopes').select([eb.val(apiId).as('api_id'), eb.val(applicationId).as('application_id'), 'id']).where('api_id', '=', apiId))
    .onConflict((oc) => oc.doNothing())
    .execute();
}

const scopeLists = new WeakMap<AudienceGrant[], string[]>();

/**
 * Every scope of these grants, without repeats. Memoised on the grants, which come from the
 * configuration cache, so a token request does not rebuild the list from dozens of scopes.
 */
export function scopesOfGrants(grants: AudienceGrant[]): string[] {
  let scopes = scopeLists.get(grants);
  if (!scopes) scopeLists.set(grants, (scopes = [...new Set(grants.flatMap((grant) => grant.scopes))]));
  return scopes;
}

/**
 * Authorizes (or revokes) applications for an API as one change: an unknown application refuses the
 * whole request, so nothing is half-applied.
 */
export async function updateApiApplications(
  db: Db,
  apiId: string,
  changes: { applicationId: string; authorized: boolean }[],
): Promise<void> {
  await requireApi(db, apiId);
  await inTransaction(db, async (tx) => {
    for (const change of changes) {
      const app = await tx.selectFrom('applications').select('id').where('id', '=', change.applicationId).executeTakeFirst();
      if (!app) throw new DomainError('APPLICATION_INVALID', `Application ${change.applicationId} not found`, 404);
      await setApplicationAuthorization(tx, apiId, change.applicationId, change.authorized);
    }
  });
}
