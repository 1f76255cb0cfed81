import type { Expression } from 'kysely';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, inTransaction, isForeignKeyViolation, isUniqueViolation, storeOf, type Tx } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';
import { preparedQuery } from '../store/prepared.ts';
import { keysetPage, type Page, type PageRequest, toPage } from '../store/pagination.ts';
import type { Flag, OrganizationsTable } from '../store/schema.ts';
import { DEFAULT_LIFETIMES } from './applications.ts';
import { findConnection } from './connections.ts';
import { isEnterpriseStrategy } from './strategies.ts';
import { environmentPolicy } from './environment.ts';
import { assertThat, DomainError } from './errors.ts';
import { canonicalFactors, type FactorType, type OrganizationMfaPolicy } from './mfa-policy.ts';
import type { OrganizationSessionPolicy } from './sessions.ts';

export type { OrganizationSessionPolicy };
import { defaultRoleIds, grantMemberAccess, replaceMemberAccess, resolvePermissionKeys, resolveRoleKeys, roleKeysOf } from './roles.ts';

/** Who may join an organization, and how (section 042 and the organization's "Policies" screen). */
export interface OrganizationPolicy {
  /** Lower-case email domains; empty means any domain. */
  allowedDomains: string[];
  /** "Auto-add users from allowed domains": a verified email in an allowed domain joins on sign-in. */
  autoJoinFromAllowedDomains: boolean;
  /** "Allow org members to be auto-added" (Kinde's `is_auto_membership_enabled`): anyone may join with `org_code`. */
  allowRegistrations: boolean;
}


/**
 * Section 054, as stored: exempt roles by id, so that changing a role's key keeps its exemption and
 * deleting the role ends it. `organizationMfaPolicy` gives the keys the policy function compares.
 */
export interface OrganizationMfaSettings {
  enforced: boolean;
  /** Empty = the environment's factors. */
  factors: FactorType[];
  exemptRoleIds: string[];
  exemptConnectionIds: string[];
}

export const DEFAULT_ORGANIZATION_MFA: OrganizationMfaSettings = { enforced: false, factors: [], exemptRoleIds: [], exemptConnectionIds: [] };

export interface Organization {
  code: string;
  name: string;
  externalId: string | null;
  isDefault: boolean;
  policy: OrganizationPolicy;
  /** Section 046: the organization's own sign-in methods replace the environment's. */
  hasOwnConnections: boolean;
  sessionPolicy: OrganizationSessionPolicy;
  mfa: OrganizationMfaSettings;
  createdAt: number;
}

export const DEFAULT_ORGANIZATION_NAME = 'Default Organization';

export const DEFAULT_SESSION_POLICY: OrganizationSessionPolicy = {
  useOrgPolicy: false,
  persistence: 'persistent',
  useOrgAuthenticatedSessionLifetime: false,
  authenticatedSessionLifetime: DEFAULT_LIFETIMES.authenticated_session_lifetime,
};

const sessionPolicyOf = (stored: string | null): OrganizationSessionPolicy =>
  stored === null ? DEFAULT_SESSION_POLICY : { ...DEFAULT_SESSION_POLICY, ...(JSON.parse(stored) as Partial<OrganizationSessionPolicy>) };

function toOrganization(row: OrganizationsTable): Organization {
  return {
    code: row.code,
    name: row.name,
    externalId: row.external_id,
    isDefault: row.is_default === 1,
    policy: {
      allowedDomains: JSON.parse(row.allowed_domains) as string[],
      autoJoinFromAllowedDomains: row.is_auto_join_domain_list === 1,
      allowRegistrations: row.is_allow_registrations === 1,
    },
    hasOwnConnections: row.has_own_connections === 1,
    sessionPolicy: sessionPolicyOf(row.session_policy),
    mfa: row.mfa_policy === null ? DEFAULT_ORGANIZATION_MFA : { ...DEFAULT_ORGANIZATION_MFA, ...(JSON.parse(row.mfa_policy) as Partial<OrganizationMfaSettings>) },
    createdAt: row.created_at,
  };
}

const organizationNotFound = () => new DomainError('ORGANIZATION_INVALID', 'Organization not found', 404);

/** Runs `work` in the caller's transaction, or in a new one. */
function within<T>(db: Db | Tx, work: (tx: Tx) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db as Tx) : inTransaction(db as Db, work);
}

// ------------------------------------------------------------------------------------ pure decisions

/** Allowed domains are compared lower-case, without surrounding space. */
export function normalizeDomain(domain: string): string {
  return domain.trim().toLowerCase();
}

export function emailDomain(email: string | undefined): string | undefined {
  const at = email?.lastIndexOf('@') ?? -1;
  if (!email || at < 0) return undefined;
  const domain = normalizeDomain(email.slice(at + 1));
  return domain === '' ? undefined : domain;
}

export type JoinDecision = 'member' | 'auto_join' | 'self_join' | 'refuse_domain' | 'refuse_not_member';

/**
 * May this person use this organization (section 042, the organization's policies)? Members always
 * may: the domain check only applies when joining, so people added by an administrator keep access.
 * A non-member joins when a policy lets them: auto-join needs a verified email in one of the allowed
 * domains (a list must exist to auto-add from); self-join (allow registrations) lets anyone in, within
 * the allowed domains when there are any. An organization that lets nobody join refuses non-members
 * as such, whatever their domain. Connection restrictions are decided elsewhere; both must pass.
 */
export function joinDecision(input: { policy: OrganizationPolicy; email: string | undefined; isMember: boolean; emailVerified: boolean }): JoinDecision {
  const { policy } = input;
  if (input.isMember) return 'member';
  if (!policy.autoJoinFromAllowedDomains && !policy.allowRegistrations) return 'refuse_not_member';
  const allowed = policy.allowedDomains.map(normalizeDomain);
  const domain = emailDomain(input.email);
  const inAllowedDomain = domain !== undefined && allowed.includes(domain);
  if (allowed.length > 0 && !inAllowedDomain) return 'refuse_domain';
  if (policy.autoJoinFromAllowedDomains && inAllowedDomain && input.emailVerified) return 'auto_join';
  if (policy.allowRegistrations) return 'self_join';
  return 'refuse_not_member';
}

/**
 * Whether an organization turns away someone who has no account yet (a sign-up with its `org_code`),
 * decided before the account is written so that a refusal leaves nothing half made. Their email is
 * verified by the time the account exists (the sign-up's code, or the provider's word). `'later'`: a
 * username sign-up gives its email on the next page, so only an organization closed to everyone
 * refuses yet.
 */
export function refusesNewcomer(policy: OrganizationPolicy, email: string | undefined | 'later'): boolean {
  const known = email === 'later' ? undefined : email;
  const decision = joinDecision({ policy, email: known, emailVerified: true, isMember: false });
  if (decision === 'refuse_domain') return email !== 'later';
  return decision === 'refuse_not_member';
}

/**
 * Section 046: an organization with its own sign-in methods replaces the environment's entirely
 * (nothing is inherited); one whose own set is empty falls back to the environment's ("if you remove
 * all authentication methods, the organization will revert back").
 */
export function effectiveConnectionIds(environmentIds: string[], organizationIds: string[] | undefined): string[] {
  return organizationIds && organizationIds.length > 0 ? [...new Set(organizationIds)] : environmentIds;
}

// ----------------------------------------------------------------------------------- organizations

export interface NewOrganization extends Partial<OrganizationPolicy> {
  name: string;
  externalId?: string | null;
}

function organizationRow(input: NewOrganization, isDefault: boolean): OrganizationsTable {
  return {
    code: newId.organization(),
    name: input.name,
    external_id: input.externalId ?? null,
    is_default: isDefault ? 1 : 0,
    allowed_domains: JSON.stringify([...new Set((input.allowedDomains ?? []).map(normalizeDomain))]),
    is_auto_join_domain_list: input.autoJoinFromAllowedDomains ? 1 : 0,
    is_allow_registrations: input.allowRegistrations ? 1 : 0,
    has_own_connections: 0,
    session_policy: null,
    mfa_policy: null,
    created_at: clock.now(),
  };
}

export async function createOrganization(db: Db | Tx, input: NewOrganization): Promise<Organization> {
  // 44 random bits: a clash is unlikely but possible, so a few fresh codes are tried.
  for (let attempt = 0; ; attempt++) {
    const row = organizationRow(input, false);
    try {
      await db.insertInto('organizations').values(row).execute();
      return toOrganization(row);
    } catch (error) {
      if (!isUniqueViolation(error) || attempt >= 3 || db.isTransaction) throw error;
    }
  }
}

/**
 * Read on every sign-in (its policies: domains, sessions, MFA) and rarely written: through the store's
 * configuration cache (store/read-cache.ts), which a write to `organizations` empties. Frozen, as it is
 * shared by the requests that read it.
 */
export async function findOrganization(db: Db | Tx, code: string): Promise<Organization | undefined> {
  return cachedOrganization(db, code, 'code', code);
}

function cachedOrganization(db: Db | Tx, key: string, column: 'code' | 'is_default', value: string | Flag): Promise<Organization | undefined> {
  return cached(storeOf(db), 'organizations', key, async () => {
    const row = await db.selectFrom('organizations').selectAll().where(column, '=', value).executeTakeFirst();
    return row && deepFreeze(toOrganization(row));
  });
}

function deepFreeze<T extends object>(value: T): T {
  for (const inner of Object.values(value)) if (inner && typeof inner === 'object') deepFreeze(inner);
  return Object.freeze(value);
}

export async function requireOrganization(db: Db | Tx, code: string): Promise<Organization> {
  const organization = await findOrganization(db, code);
  if (!organization) throw organizationNotFound();
  return organization;
}

/**
 * Every environment has one default organization (people who sign in without `org_code` and belong
 * nowhere join it). Replicas starting together race here: the settings row is the tie-breaker, as
 * for the first signing key (its primary key lets exactly one transaction create the organization).
 */
/** The default organization's key in the cache: not a code (codes are `org_…`). */
const DEFAULT_KEY = ':default';

export async function ensureDefaultOrganization(db: Db): Promise<Organization> {
  const existing = await cachedOrganization(db, DEFAULT_KEY, 'is_default', 1);
  if (existing) return existing;
  await inTransaction(db, async (tx) => {
    // Open to sign-ups: with self sign-up on, at least one organization must be (section 021).
    const row = organizationRow({ name: DEFAULT_ORGANIZATION_NAME, allowRegistrations: true }, true);
    const claimed = await tx
      .insertInto('settings')
      .values({ key: 'default_organization', value: JSON.stringify(row.code) })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    if (Number(claimed.numInsertedOrUpdatedRows ?? 0n) === 1) await tx.insertInto('organizations').values(row).execute();
  });
  const created = await db.selectFrom('organizations').selectAll().where('is_default', '=', 1).executeTakeFirst();
  if (!created) throw new Error('the default organization was claimed but not created');
  return toOrganization(created);
}

/** The environment's default organization (created on first use, should startup not have done it). */
export async function defaultOrganization(db: Db): Promise<Organization> {
  return ensureDefaultOrganization(db);
}

export async function listOrganizations(db: Db, page: PageRequest): Promise<Page<Organization>> {
  // The keyset pages over (created_at, id); an organization's id is its code.
  const keyed = db.selectFrom('organizations').selectAll().select('code as id').as('o');
  const rows = await keysetPage(db.selectFrom(keyed).selectAll(), page).execute();
  const { items, nextToken } = toPage(rows, page.pageSize);
  return { items: items.map(({ id: _id, ...row }) => toOrganization(row)), nextToken };
}

export interface OrganizationPatch extends Partial<OrganizationPolicy> {
  name?: string;
  externalId?: string | null;
  /** Kinde's `is_enforce_mfa` (section 054). */
  enforceMfa?: boolean;
}

/**
 * Section 021: while the environment allows self sign-up, at least one organization must allow
 * sign-ups, so closing (or deleting) the last open one is refused.
 */
async function assertAnotherOrganizationOpen(db: Db, code: string): Promise<void> {
  if (!(await environmentPolicy(db)).allowSelfSignUp) return;
  const open = await db.selectFrom('organizations').select('code').where('is_allow_registrations', '=', 1).where('code', '!=', code).limit(1).executeTakeFirst();
  assertThat(
    open !== undefined,
    'LAST_OPEN_ORGANIZATION',
    'Self sign-up is on for the environment, so at least one organization must allow sign-ups: open another first, or turn self sign-up off',
  );
}

/** Whether any organization allows sign-ups (the environment may only allow self sign-up if one does). */
export async function someOrganizationAllowsRegistrations(db: Db): Promise<boolean> {
  return (await db.selectFrom('organizations').select('code').where('is_allow_registrations', '=', 1).limit(1).executeTakeFirst()) !== undefined;
}

export async function updateOrganization(db: Db, code: string, patch: OrganizationPatch): Promise<Organization> {
  if (patch.allowRegistrations === false && (await findOrganization(db, code))?.policy.allowRegistrations) await assertAnotherOrganizationOpen(db, code);
  const set: Partial<OrganizationsTable> = {};
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.externalId !== undefined) set.external_id = patch.externalId;
  if (patch.allowedDomains !== undefined) set.allowed_domains = JSON.stringify([...new Set(patch.allowedDomains.map(normalizeDomain))]);
  if (patch.autoJoinFromAllowedDomains !== undefined) set.is_auto_join_domain_list = patch.autoJoinFromAllowedDomains ? 1 : 0;
  if (patch.allowRegistrations !== undefined) set.is_allow_registrations = patch.allowRegistrations ? 1 : 0;
  return inTransaction(db, async (tx) => {
    if (Object.keys(set).length > 0) {
      const result = await tx.updateTable('organizations').set(set).where('code', '=', code).executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw organizationNotFound();
    }
    if (patch.enforceMfa !== undefined) await changeMfaSettings(tx, code, { enforced: patch.enforceMfa });
    return requireOrganization(tx, code);
  });
}

/** Members, their roles and permissions, flag overrides and the connection set go with it (the schema cascades), and so do the grants' links to it. */
export async function deleteOrganization(db: Db, code: string): Promise<void> {
  const organization = await requireOrganization(db, code);
  assertThat(!organization.isDefault, 'DEFAULT_ORGANIZATION', 'The default organization cannot be deleted');
  if (organization.policy.allowRegistrations) await assertAnotherOrganizationOpen(db, code);
  await inTransaction(db, async (tx) => {
    // Grants remember their organization by code (the engine's rows have no foreign keys to follow).
    await tx.deleteFrom('grant_organizations').where('organization_code', '=', code).execute();
    await tx.deleteFrom('organizations').where('code', '=', code).where('is_default', '=', 0).execute();
  });
}

/**
 * Takes the organization's row lock for the rest of the transaction (a no-op update locks the row in
 * PostgreSQL; SQLite serialises writers anyway), so read-check-write sequences cannot interleave.
 */
async function lockOrganization(tx: Tx, code: string): Promise<void> {
  const result = await tx.updateTable('organizations').set((eb) => ({ name: eb.ref('name') })).where('code', '=', code).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw organizationNotFound();
}

export async function organizationSessionPolicy(db: Db, code: string): Promise<OrganizationSessionPolicy> {
  return (await requireOrganization(db, code)).sessionPolicy;
}

/** Section 047 (`PATCH /organizations/{code}/sessions`): fields left out keep their value. */
export async function updateOrganizationSessionPolicy(db: Db, code: string, patch: Partial<OrganizationSessionPolicy>): Promise<OrganizationSessionPolicy> {
  return inTransaction(db, async (tx) => {
    await lockOrganization(tx, code);
    const current = (await requireOrganization(tx, code)).sessionPolicy;
    const defined = Object.fromEntries(Object.entries(patch).filter(([, value]) => value !== undefined));
    const next: OrganizationSessionPolicy = { ...current, ...defined };
    await tx.updateTable('organizations').set({ session_policy: JSON.stringify(next) }).where('code', '=', code).execute();
    return next;
  });
}

// --------------------------------------------------------------------------------------------- mfa

export interface OrganizationMfaPatch {
  enforced?: boolean | undefined;
  /** Replaces the organization's factors; empty = the environment's. */
  factors?: readonly FactorType[] | undefined;
  /** Replaces the exempt roles; an unknown key refuses the change. */
  exemptRoleKeys?: readonly string[] | undefined;
  /** Replaces the exempt connections; each must be an enterprise connection. */
  exemptConnectionIds?: readonly string[] | undefined;
}

/** Section 054 in the shape `resolveMfaRequirement` takes (exempt roles by their current keys). */
export async function organizationMfaPolicy(db: Db | Tx, code: string): Promise<OrganizationMfaPolicy> {
  const { mfa } = await requireOrganization(db, code);
  return { enforced: mfa.enforced, factors: mfa.factors, exemptRoleKeys: await roleKeysOf(db, mfa.exemptRoleIds), exemptConnectionIds: mfa.exemptConnectionIds };
}

/** Fields left out keep their value; a refused field (unknown role, non-enterprise connection) changes nothing. */
export async function updateOrganizationMfaPolicy(db: Db, code: string, patch: OrganizationMfaPatch): Promise<OrganizationMfaPolicy> {
  await inTransaction(db, (tx) => changeMfaSettings(tx, code, patch));
  return organizationMfaPolicy(db, code);
}

async function changeMfaSettings(tx: Tx, code: string, patch: OrganizationMfaPatch): Promise<void> {
  await lockOrganization(tx, code);
  const current = (await requireOrganization(tx, code)).mfa;
  const next: OrganizationMfaSettings = {
    enforced: patch.enforced ?? current.enforced,
    factors: patch.factors ? canonicalFactors(patch.factors) : current.factors,
    exemptRoleIds: patch.exemptRoleKeys ? [...new Set(await resolveRoleKeys(tx, [...new Set(patch.exemptRoleKeys)]))] : current.exemptRoleIds,
    exemptConnectionIds: patch.exemptConnectionIds ? await enterpriseConnectionIds(tx, patch.exemptConnectionIds) : current.exemptConnectionIds,
  };
  await tx.updateTable('organizations').set({ mfa_policy: JSON.stringify(next) }).where('code', '=', code).execute();
}

/** Section 054 exempts enterprise connections only: social and built-in ones never do their own MFA here. */
async function enterpriseConnectionIds(tx: Tx, ids: readonly string[]): Promise<string[]> {
  const unique = [...new Set(ids)];
  for (const id of unique) {
    const connection = await findConnection(tx, id);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', `No connection with the id "${id}"`, 404);
    assertThat(isEnterpriseStrategy(connection.strategy), 'CONNECTION_NOT_ENTERPRISE', `Only enterprise connections can be exempt from MFA; "${id}" is ${connection.strategy}`);
  }
  return unique;
}

// -------------------------------------------------------------------------------------- membership

export interface MemberGrant {
  /** Role keys; absent = the roles marked as default (section 018). */
  roleKeys?: readonly string[];
  /** Permission keys given directly. */
  permissionKeys?: readonly string[];
}

/**
 * Makes the person a member (idempotent: a member stays one, keeping what they hold, and gains any
 * roles and permissions named). A new member without named roles gets the default roles. An unknown
 * organization, person, role or permission refuses the whole change. Returns whether they are new.
 */
export async function addMember(db: Db | Tx, orgCode: string, userId: string, grant: MemberGrant = {}): Promise<boolean> {
  return within(db, async (tx) => {
    await requireOrganization(tx, orgCode);
    const roleIds = grant.roleKeys ? await resolveRoleKeys(tx, grant.roleKeys) : undefined;
    const permissionIds = await resolvePermissionKeys(tx, grant.permissionKeys ?? []);
    let added: boolean;
    try {
      const result = await tx
        .insertInto('organization_members')
        .values({ organization_code: orgCode, user_id: userId, joined_at: clock.now(), last_accessed_at: null })
        .onConflict((oc) => oc.columns(['organization_code', 'user_id']).doNothing())
        .executeTakeFirst();
      added = Number(result.numInsertedOrUpdatedRows ?? 0n) === 1;
    } catch (error) {
      if (isForeignKeyViolation(error)) throw new DomainError('USER_INVALID', 'User not found', 404);
      throw error;
    }
    await grantMemberAccess(tx, orgCode, userId, { roleIds: roleIds ?? (added ? await defaultRoleIds(tx) : []), permissionIds });
    return added;
  });
}

/**
 * Kinde's `PATCH /organizations/{code}/users` for one person: a member's named roles and permissions
 * replace what they held (an absent list is left alone); a non-member is added as by `addMember`.
 */
export async function updateMember(db: Db | Tx, orgCode: string, userId: string, grant: MemberGrant): Promise<'added' | 'updated'> {
  return within(db, async (tx) => {
    if (!(await isMember(tx, orgCode, userId))) {
      await addMember(tx, orgCode, userId, grant);
      return 'added';
    }
    const roleIds = grant.roleKeys ? await resolveRoleKeys(tx, grant.roleKeys) : undefined;
    const permissionIds = grant.permissionKeys ? await resolvePermissionKeys(tx, grant.permissionKeys) : undefined;
    await replaceMemberAccess(tx, orgCode, userId, { roleIds, permissionIds });
    return 'updated';
  });
}

export interface MemberChange extends MemberGrant {
  userId: string;
  remove?: boolean;
}

/**
 * Kinde's `POST /organizations/{code}/users`: adds several people as one change (an unknown person,
 * role or permission refuses them all). Returns the ids, each now a member.
 */
export async function addMembers(db: Db, orgCode: string, members: readonly MemberChange[]): Promise<string[]> {
  return inTransaction(db, async (tx) => {
    for (const member of members) await addMember(tx, orgCode, member.userId, member);
    return [...new Set(members.map((member) => member.userId))];
  });
}

/** Kinde's `PATCH /organizations/{code}/users`: adds, updates and removes as one change. */
export async function updateMembers(
  db: Db,
  orgCode: string,
  changes: readonly MemberChange[],
): Promise<{ added: string[]; updated: string[]; removed: string[] }> {
  return inTransaction(db, async (tx) => {
    await requireOrganization(tx, orgCode);
    const outcome = { added: [] as string[], updated: [] as string[], removed: [] as string[] };
    for (const change of changes) {
      if (change.remove) {
        await removeMember(tx, orgCode, change.userId);
        outcome.removed.push(change.userId);
      } else {
        outcome[await updateMember(tx, orgCode, change.userId, change)].push(change.userId);
      }
    }
    return outcome;
  });
}

/** Their roles and permissions in the organization go with the membership (the schema cascades). */
export async function removeMember(db: Db | Tx, orgCode: string, userId: string): Promise<void> {
  const result = await db.deleteFrom('organization_members').where('organization_code', '=', orgCode).where('user_id', '=', userId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('ORGANIZATION_USER_INVALID', 'The user is not a member of this organization', 404);
}

export async function isMember(db: Db | Tx, orgCode: string, userId: string): Promise<boolean> {
  const row = await db
    .selectFrom('organization_members')
    .select('user_id')
    .where('organization_code', '=', orgCode)
    .where('user_id', '=', userId)
    .executeTakeFirst();
  return row !== undefined;
}

export async function requireMember(db: Db | Tx, orgCode: string, userId: string): Promise<void> {
  if (!(await isMember(db, orgCode, userId))) throw new DomainError('ORGANIZATION_USER_INVALID', 'The user is not a member of this organization', 404);
}

export interface Membership {
  userId: string;
  joinedAt: number;
  lastAccessedAt: number | null;
}

/** An organization's members in the order they joined, `page_size` + `next_token`. */
export async function listMembers(db: Db, orgCode: string, page: PageRequest): Promise<Page<Membership>> {
  await requireOrganization(db, orgCode);
  const keyed = db
    .selectFrom('organization_members')
    .select(['user_id as id', 'joined_at as created_at', 'last_accessed_at'])
    .where('organization_code', '=', orgCode)
    .as('members');
  const rows = await keysetPage(db.selectFrom(keyed).selectAll(), page).execute();
  const { items, nextToken } = toPage(rows, page.pageSize);
  return { items: items.map((row) => ({ userId: row.id, joinedAt: row.created_at, lastAccessedAt: row.last_accessed_at })), nextToken };
}

function membershipsOf(db: Db | Tx, userIds: ReadonlyArray<string | Expression<string>>) {
  return db
    .selectFrom('organization_members')
    .innerJoin('organizations', 'organizations.code', 'organization_members.organization_code')
    .select(['organization_members.user_id', 'organizations.code', 'organizations.name', 'organizations.session_policy'])
    .where('organization_members.user_id', 'in', [...userIds])
    // Most recently used first (never used counts as oldest), then most recently joined.
    .orderBy(({ fn, ref, lit }) => fn.coalesce(ref('organization_members.last_accessed_at'), lit(0)), (ob) => ob.desc())
    .orderBy('organization_members.joined_at', (ob) => ob.desc())
    .orderBy('organizations.code');
}

/** The organizations a person belongs to, most recently accessed first, then most recently joined. */
export async function organizationsOf(db: Db | Tx, userId: string): Promise<Array<{ code: string; name: string }>> {
  const { rows } = await membershipsOfOne(db, { userId });
  return rows.map(({ code, name }) => ({ code, name }));
}

/** One person's organizations, most recently used first: a list of one has a fixed shape (token requests and sign-ins read it). */
export const membershipsOfOneQuery = (db: Db | Tx, userId: string | Expression<string>) => membershipsOf(db, [userId]);

const membershipsOfOne = preparedQuery((db, { userId }: { userId: string }) => membershipsOfOneQuery(db, userId));

export interface TokenMembership {
  code: string;
  name: string;
  sessionPolicy: OrganizationSessionPolicy;
}

/** A person's organizations with the session policy each sets: what a token's claims need, in one query. */
export async function membershipsForTokens(db: Db | Tx, userId: string): Promise<TokenMembership[]> {
  return toTokenMemberships((await membershipsOfOne(db, { userId })).rows);
}

/** The rows of `membershipsOfOneQuery` as a token's organizations. */
export function toTokenMemberships(rows: ReadonlyArray<{ code: string; name: string; session_policy: string | null }>): TokenMembership[] {
  return rows.map(({ code, name, session_policy }) => ({ code, name, sessionPolicy: sessionPolicyOf(session_policy) }));
}

/** Organization codes of several people at once (user lists of the management API). */
export async function organizationCodesOf(db: Db, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return byUser;
  for (const row of await membershipsOf(db, userIds).execute()) byUser.get(row.user_id)?.push(row.code);
  return byUser;
}

/** Section 049: remembers that the person just signed in to this organization. */
export async function touchMembership(db: Db | Tx, orgCode: string, userId: string): Promise<void> {
  await touchMembershipQuery(db, { orgCode, userId, now: clock.now() });
}

const touchMembershipQuery = preparedQuery((db, { orgCode, userId, now }: { orgCode: string; userId: string; now: number }) =>
  db.updateTable('organization_members').set({ last_accessed_at: now }).where('organization_code', '=', orgCode).where('user_id', '=', userId),
);

/** Section 049 ("sign users in to most recent org"): the one last signed in to, else the newest joined. */
export async function mostRecentOrganization(db: Db | Tx, userId: string): Promise<{ code: string; name: string } | undefined> {
  return (await organizationsOf(db, userId))[0];
}

// ------------------------------------------------------------------------------------- connections

/** The organization's own connection set, or undefined when it uses the environment's (section 046). */
export async function organizationConnectionIds(db: Db | Tx, orgCode: string): Promise<string[] | undefined> {
  const organization = await db.selectFrom('organizations').select('has_own_connections').where('code', '=', orgCode).executeTakeFirst();
  if (!organization || organization.has_own_connections !== 1) return undefined;
  const rows = await db.selectFrom('organization_connections').select('connection_id').where('organization_code', '=', orgCode).orderBy('connection_id').execute();
  return rows.map((row) => row.connection_id);
}

/**
 * Switches a connection on or off for the organization. The first one switched on gives the
 * organization its own set; switching the last one off reverts it to the environment's (section 046).
 */
export async function setOrganizationConnection(db: Db, orgCode: string, connectionId: string, enabled: boolean): Promise<void> {
  await inTransaction(db, async (tx) => {
    await lockOrganization(tx, orgCode);
    if (enabled) {
      if (!(await findConnection(tx, connectionId))) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
      await tx
        .insertInto('organization_connections')
        .values({ organization_code: orgCode, connection_id: connectionId })
        .onConflict((oc) => oc.doNothing())
        .execute();
      await tx.updateTable('organizations').set({ has_own_connections: 1 }).where('code', '=', orgCode).execute();
      return;
    }
    const removed = await tx
      .deleteFrom('organization_connections')
      .where('organization_code', '=', orgCode)
      .where('connection_id', '=', connectionId)
      .executeTakeFirst();
    if (removed.numDeletedRows === 0n) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection is not enabled for this organization', 404);
    const left = await tx.selectFrom('organization_connections').select('connection_id').where('organization_code', '=', orgCode).limit(1).executeTakeFirst();
    if (!left) await tx.updateTable('organizations').set({ has_own_connections: 0 }).where('code', '=', orgCode).execute();
  });
}
