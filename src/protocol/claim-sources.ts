import { type Expression, sql } from 'kysely';
import { jsonArrayFrom as postgresJsonArray, jsonObjectFrom as postgresJsonObject } from 'kysely/helpers/postgres';
import { jsonArrayFrom as sqliteJsonArray, jsonObjectFrom as sqliteJsonObject } from 'kysely/helpers/sqlite';
import { flagsWithOverridesQuery, type FlagClaim, toFlagClaims } from '../domain/feature-flags.ts';
import { membershipsOfOneQuery, type TokenMembership, toTokenMemberships } from '../domain/organizations.ts';
import { memberAccessQuery, type MemberAccess, toMemberAccess } from '../domain/roles.ts';
import { toUserWithIdentities, type User, userWithIdentitiesQuery } from '../domain/users.ts';
import { type Db, onPostgres } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { type GrantFacts, grantFactsQuery, toGrantFacts } from './grant-organizations.ts';
import { readAlong } from './request-reads.ts';

/** Everything a person's tokens say, for one grant. */
export interface ClaimSet {
  /** The person and their identities (undefined: no such person). */
  user: User | undefined;
  /** What the sign-in that made the grant decided (grant-organizations.ts): its organization, `ext_groups`. */
  grant: GrantFacts | undefined;
  /** org_codes and organizations in the ID token; org_name and ksp come from the grant's. */
  memberships: TokenMembership[];
  /** The grant's organization, while the person is still a member of it (the tokens speak for it). */
  organization: TokenMembership | undefined;
  /** Roles and permissions in that organization (none without one). */
  access: MemberAccess;
  featureFlags: Record<string, FlagClaim>;
}

const jsonHelpersFor = (db: Db) =>
  onPostgres(db) ? { array: postgresJsonArray, object: postgresJsonObject } : { array: sqliteJsonArray, object: sqliteJsonObject };

/**
 * The claim set as a statement's columns, on either database (each round trip to PostgreSQL wakes a
 * backend on the cores the server runs on): the person, the grant's facts, their organizations, and the
 * roles, permissions and flags in the grant's organization — which the statement works out itself, as
 * the grant's organization if the person is still a member. The person and grant are values, or
 * columns of the statement they are part of (model-reads.ts reads them with a code or refresh token).
 */
export function claimSetColumns(db: Db, userId: string | Expression<string>, grantId: string | null | Expression<string | null>) {
  const json = jsonHelpersFor(db);
  const grantOrganization = db
    .selectFrom('grant_organizations')
    .innerJoin('organization_members', (join) =>
      join.onRef('organization_members.organization_code', '=', 'grant_organizations.organization_code').on('organization_members.user_id', '=', userId),
    )
    .select('grant_organizations.organization_code')
    .where('grant_organizations.grant_id', '=', grantId)
    .$asScalar();
  // Organization codes are never empty: without an organization, no flag override matches.
  const flagOrganization: Expression<string> = sql<string>`coalesce(${grantOrganization}, '')`;
  return [
    json.array(userWithIdentitiesQuery(db, userId)).as('user'),
    json.object(grantFactsQuery(db, grantId)).as('grant'),
    json.array(membershipsOfOneQuery(db, userId)).as('memberships'),
    json.array(memberAccessQuery(db, grantOrganization, userId)).as('access'),
    json.array(flagsWithOverridesQuery(db, flagOrganization, userId)).as('flags'),
  ] as const;
}

const claimSetStatement = preparedQuery((db, { userId, grantId }: { userId: string; grantId: string | null }) => db.selectNoFrom(claimSetColumns(db, userId, grantId)));

/** What `claimSetColumns` reads, as the statement hands it back. */
export type ClaimSetRow = Awaited<ReturnType<typeof claimSetStatement>>['rows'][number];

/** SQLite hands JSON back as text; PostgreSQL's driver parses it. */
const parsed = <T>(value: T | string | null): T | null => (typeof value === 'string' ? (JSON.parse(value) as T) : value);

export function toClaimSet(row: ClaimSetRow): ClaimSet {
  const grant = toGrantFacts(parsed(row.grant));
  const memberships = toTokenMemberships(parsed(row.memberships) ?? []);
  return {
    user: toUserWithIdentities(parsed(row.user) ?? []),
    grant,
    memberships,
    organization: memberships.find((membership) => membership.code === grant?.organizationCode),
    access: toMemberAccess(parsed(row.access) ?? []),
    featureFlags: toFlagClaims(parsed(row.flags) ?? []),
  };
}

async function readClaimSet(db: Db, userId: string, grantId: string | undefined): Promise<ClaimSet> {
  const [row] = (await claimSetStatement(db, { userId, grantId: grantId ?? null })).rows;
  return toClaimSet(row!);
}

const claimSetKey = (userId: string, grantId: string | undefined) => `${userId} ${grantId ?? ''}`;

/** This request's claim sets, by person and grant: read along with a code or refresh token (model-reads.ts), or once here. */
const claimSetsOfRequest = readAlong<string, Promise<ClaimSet>>('claim sets');

export function rememberClaimSet(userId: string, grantId: string, claims: ClaimSet): void {
  claimSetsOfRequest.remember(claimSetKey(userId, grantId), Promise.resolve(claims));
}

/**
 * One read per request, person and grant: the engine's account lookup, the access token and the ID
 * token of one response share it.
 */
export function claimSetInRequest(db: Db, userId: string, grantId: string | undefined): Promise<ClaimSet> {
  const key = claimSetKey(userId, grantId);
  const read = claimSetsOfRequest.recall(key);
  if (read) return read.value;
  const pending = readClaimSet(db, userId, grantId);
  claimSetsOfRequest.remember(key, pending);
  return pending;
}
