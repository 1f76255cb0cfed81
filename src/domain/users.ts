import { type Expression, sql } from 'kysely';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { sha256Hex } from '../crypto/secrets.ts';
import { type Db, type Tx, inTransaction, isUniqueViolation } from '../store/db.ts';
import { keysetPage, type PageRequest } from '../store/pagination.ts';
import { preparedQuery } from '../store/prepared.ts';
import type { IdentitiesTable, UsersTable } from '../store/schema.ts';
import { DomainError } from './errors.ts';
import { recordEvent } from './events/outbox.ts';

export type IdentityType = 'email' | 'phone' | 'username';

export interface Identity {
  id: string;
  type: IdentityType;
  value: string;
  isVerified: boolean;
  isPrimary: boolean;
  connectionId: string | null;
  totalLogins: number;
  lastLoginAt: number | null;
  createdAt: number;
}

export interface User {
  id: string;
  providedId: string | null;
  firstName: string | null;
  lastName: string | null;
  picture: string | null;
  isSuspended: boolean;
  totalSignIns: number;
  failedSignIns: number;
  lastSignedIn: number | null;
  /** An administrator asked for a new password: the next sign-in goes through an emailed code. */
  isPasswordResetRequested: boolean;
  acceptsMarketing: boolean;
  createdAt: number;
  updatedAt: number;
  identities: Identity[];
}

export interface NewIdentity {
  type: IdentityType;
  value: string;
  isVerified: boolean;
  connectionId?: string | null;
}

export interface NewUser {
  firstName?: string | null;
  lastName?: string | null;
  picture?: string | null;
  providedId?: string | null;
  identities: NewIdentity[];
  /** argon2id, already hashed (sign-up hashes before the email is verified). */
  passwordHash?: string;
  acceptsMarketing?: boolean;
  /** Set by an administrator creating the user (management API); sign-up never sets it. */
  isPasswordResetRequested?: boolean;
  /** When the user was created where they came from (bulk import's `created_on`); now otherwise. */
  createdAt?: number;
  isSuspended?: boolean;
}

/** A phone number as typed in a filter (`+1 415-555 0100`), in the E.164 form identities store. */
const compactPhone = (phone: string) => phone.replace(/[\s().-]/g, '');

/** Emails and usernames are unique case-insensitively (spec section 004); the typed form is kept for display. */
export function normalizeIdentity(type: IdentityType, value: string): string {
  const trimmed = value.trim();
  return type === 'phone' ? trimmed : trimmed.toLowerCase();
}

export const toIdentity = (row: IdentitiesTable): Identity => ({
  id: row.id,
  type: row.type as IdentityType,
  value: row.value,
  isVerified: row.is_verified === 1,
  isPrimary: row.is_primary === 1,
  connectionId: row.connection_id,
  totalLogins: row.total_logins,
  lastLoginAt: row.last_login_at,
  createdAt: row.created_at,
});

const toUser = (row: UsersTable, identities: IdentitiesTable[]): User => ({
  id: row.id,
  providedId: row.provided_id,
  firstName: row.first_name,
  lastName: row.last_name,
  picture: row.picture,
  isSuspended: row.is_suspended === 1,
  totalSignIns: row.total_sign_ins,
  failedSignIns: row.failed_sign_ins,
  lastSignedIn: row.last_signed_in,
  isPasswordResetRequested: row.is_password_reset_requested === 1,
  acceptsMarketing: row.accepts_marketing === 1,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
  identities: identities.map(toIdentity),
});

export async function createUser(db: Db, input: NewUser): Promise<User> {
  const now = clock.now();
  const user: UsersTable = {
    id: newId.user(),
    provided_id: input.providedId ?? null,
    first_name: input.firstName ?? null,
    last_name: input.lastName ?? null,
    picture: input.picture ?? null,
    is_suspended: input.isSuspended ? 1 : 0,
    total_sign_ins: 0,
    failed_sign_ins: 0,
    last_signed_in: null,
    is_password_reset_requested: input.isPasswordResetRequested ? 1 : 0,
    accepts_marketing: input.acceptsMarketing ? 1 : 0,
    claims_refreshed_at: null,
    created_at: input.createdAt ?? now,
    updated_at: now,
  };
  const firstOfType = new Set<string>();
  // A millisecond apart, so a user's identities list in the order they were given.
  const identities: IdentitiesTable[] = input.identities.map((identity, index) => {
    const isPrimary = !firstOfType.has(identity.type);
    firstOfType.add(identity.type);
    return {
      id: newId.identity(),
      user_id: user.id,
      type: identity.type,
      value: identity.value.trim(),
      normalized_value: normalizeIdentity(identity.type, identity.value),
      is_verified: identity.isVerified ? 1 : 0,
      is_primary: isPrimary ? 1 : 0,
      connection_id: identity.connectionId ?? null,
      total_logins: 0,
      last_login_at: null,
      created_at: now + index,
    };
  });
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('users').values(user).execute();
      if (identities.length > 0) await tx.insertInto('identities').values(identities).execute();
      if (input.passwordHash) {
        await tx
          .insertInto('credentials')
          .values({ user_id: user.id, password_hash: input.passwordHash, hashing_method: 'argon2id', hash_params: null, is_temporary: 0, updated_at: now })
          .execute();
      }
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', 'A user with this identity already exists', 409);
    throw error;
  }
  return toUser(user, identities);
}

/**
 * Every column of `users`, named (SQLite's JSON helpers cannot nest `select *`, and the token's claim
 * set reads the person as JSON): the type makes adding a column without listing it here an error.
 */
const USER_COLUMNS = Object.keys({
  id: true,
  provided_id: true,
  first_name: true,
  last_name: true,
  picture: true,
  is_suspended: true,
  total_sign_ins: true,
  failed_sign_ins: true,
  last_signed_in: true,
  is_password_reset_requested: true,
  accepts_marketing: true,
  claims_refreshed_at: true,
  created_at: true,
  updated_at: true,
} satisfies Record<keyof UsersTable, true>).map((column) => `users.${column}` as `users.${keyof UsersTable}`);

/** The person and their identities: a row per identity, the user's columns repeated. */
export const userWithIdentitiesQuery = (db: Db | Tx, id: string | Expression<string> | ReturnType<typeof identityHolder>) =>
  db
    .selectFrom('users')
    .leftJoin('identities', 'identities.user_id', 'users.id')
    .select(USER_COLUMNS)
    .select([
      'identities.id as identity_id',
      'identities.type as identity_type',
      'identities.value as identity_value',
      'identities.normalized_value as identity_normalized_value',
      'identities.is_verified as identity_is_verified',
      'identities.is_primary as identity_is_primary',
      'identities.connection_id as identity_connection_id',
      'identities.total_logins as identity_total_logins',
      'identities.last_login_at as identity_last_login_at',
      'identities.created_at as identity_created_at',
    ])
    .where('users.id', '=', id)
    .orderBy('identities.created_at');

const userWithIdentities = preparedQuery((db, { id }: { id: string }) => userWithIdentitiesQuery(db, id));

/** The id of whoever holds an identity, as a subquery. */
const identityHolder = (db: Db | Tx, type: IdentityType, normalizedValue: string) =>
  db.selectFrom('identities').select('user_id').where('type', '=', type).where('normalized_value', '=', normalizedValue);

const userHoldingIdentity = preparedQuery((db, { type, normalizedValue }: { type: IdentityType; normalizedValue: string }) =>
  userWithIdentitiesQuery(db, identityHolder(db, type, normalizedValue)),
);

type UserWithIdentitiesRow = Awaited<ReturnType<typeof userWithIdentities>>['rows'][number];

/**
 * One statement for the person and their identities (every token request and sign-in step reads
 * them): a row per identity, the user's columns repeated, none when they have no identity.
 */
export async function findUser(db: Db | Tx, id: string): Promise<User | undefined> {
  return toUserWithIdentities((await userWithIdentities(db, { id })).rows);
}

/** The rows of `userWithIdentitiesQuery` as the person (undefined for none). */
export function toUserWithIdentities(rows: readonly UserWithIdentitiesRow[]): User | undefined {
  const first = rows[0];
  if (!first) return undefined;
  const identities: IdentitiesTable[] = rows.flatMap((row) =>
    row.identity_id === null
      ? []
      : [
          {
            id: row.identity_id,
            user_id: first.id,
            type: row.identity_type!,
            value: row.identity_value!,
            normalized_value: row.identity_normalized_value!,
            is_verified: row.identity_is_verified!,
            is_primary: row.identity_is_primary!,
            connection_id: row.identity_connection_id,
            total_logins: row.identity_total_logins!,
            last_login_at: row.identity_last_login_at,
            created_at: row.identity_created_at!,
          },
        ],
  );
  return toUser(first, identities);
}

export async function requireUser(db: Db | Tx, id: string): Promise<User> {
  const user = await findUser(db, id);
  if (!user) throw new DomainError('USER_INVALID', 'User not found', 404);
  return user;
}

/** The user a business knows by its own id (Kinde's `provided_id`, e.g. from an import). */
export async function findUserByProvidedId(db: Db | Tx, providedId: string): Promise<User | undefined> {
  const row = await db.selectFrom('users').select('id').where('provided_id', '=', providedId).executeTakeFirst();
  return row ? findUser(db, row.id) : undefined;
}

/** The person holding an identity, in the same one statement as `findUser` (a subquery picks them). */
export async function findUserByIdentity(db: Db | Tx, type: IdentityType, value: string): Promise<User | undefined> {
  return toUserWithIdentities((await userHoldingIdentity(db, { type, normalizedValue: normalizeIdentity(type, value) })).rows);
}

/** Kinde's `GET /users` filters; every one given must hold. */
export interface UserFilter {
  ids?: string[] | undefined;
  emails?: string[] | undefined;
  usernames?: string[] | undefined;
  /** E.164, as stored. */
  phones?: string[] | undefined;
  hasOrganization?: boolean | undefined;
  /** Signed in at or after this time (ms). */
  activeSince?: number | undefined;
}

export async function listUsers(db: Db, page: PageRequest, filter: UserFilter = {}): Promise<User[]> {
  let query = db.selectFrom('users').selectAll();
  if (filter.ids) query = query.where('id', 'in', filter.ids);
  for (const [type, values] of [['email', filter.emails], ['username', filter.usernames], ['phone', filter.phones?.map(compactPhone)]] as const) {
    if (!values) continue;
    // The unique (type, normalized_value) index finds the few people; the page is then ordered as usual.
    const holders = db.selectFrom('identities').select('user_id').where('type', '=', type).where('normalized_value', 'in', values.map((value) => normalizeIdentity(type, value)));
    query = query.where('id', 'in', holders);
  }
  if (filter.hasOrganization !== undefined) {
    query = query.where(({ exists, not, selectFrom }) => {
      const membership = exists(selectFrom('organization_members').select(sql`1`.as('one')).whereRef('organization_members.user_id', '=', 'users.id'));
      return filter.hasOrganization ? membership : not(membership);
    });
  }
  if (filter.activeSince !== undefined) query = query.where('last_signed_in', '>=', filter.activeSince);
  const rows = await keysetPage(query, page).execute();
  if (rows.length === 0) return [];
  const identities = await db.selectFrom('identities').selectAll().where('user_id', 'in', rows.map((r) => r.id)).orderBy('created_at').execute();
  return rows.map((row) => toUser(row, identities.filter((i) => i.user_id === row.id)));
}

export interface UserPatch {
  firstName?: string | null;
  lastName?: string | null;
  picture?: string | null;
  providedId?: string | null;
  isSuspended?: boolean;
  isPasswordResetRequested?: boolean;
}

export async function updateUser(db: Db, id: string, patch: UserPatch): Promise<User> {
  await requireUser(db, id);
  const set: Partial<UsersTable> = { updated_at: clock.now() };
  if (patch.firstName !== undefined) set.first_name = patch.firstName;
  if (patch.lastName !== undefined) set.last_name = patch.lastName;
  if (patch.picture !== undefined) set.picture = patch.picture;
  if (patch.providedId !== undefined) set.provided_id = patch.providedId;
  if (patch.isSuspended !== undefined) set.is_suspended = patch.isSuspended ? 1 : 0;
  if (patch.isPasswordResetRequested !== undefined) set.is_password_reset_requested = patch.isPasswordResetRequested ? 1 : 0;
  await db.updateTable('users').set(set).where('id', '=', id).execute();
  return requireUser(db, id);
}

export async function deleteUser(db: Db, id: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    const result = await tx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new DomainError('USER_INVALID', 'User not found', 404);
    await tx.deleteFrom('attempt_counters').where('subject', '=', id).execute();
  });
}

export async function markIdentityVerified(db: Db | Tx, identityId: string): Promise<void> {
  await db.updateTable('identities').set({ is_verified: 1 }).where('id', '=', identityId).execute();
}

/**
 * A completed first factor: the person's and the identity's sign-in tallies, and Kinde's
 * `user.authenticated` event with Gatehouse's context (`detail`: application, amr, connection),
 * committed together (DESIGN.md §5b).
 */
// Every sign-in runs these: compiled once (store/prepared.ts).
const countUserSignIn = preparedQuery((db, { userId, now }: { userId: string; now: number }) =>
  db
    .updateTable('users')
    .set((eb) => ({ total_sign_ins: eb('total_sign_ins', '+', 1), last_signed_in: now }))
    .where('id', '=', userId),
);
const countIdentityLogin = preparedQuery((db, { identityId, now }: { identityId: string; now: number }) =>
  db
    .updateTable('identities')
    .set((eb) => ({ total_logins: eb('total_logins', '+', 1), last_login_at: now }))
    .where('id', '=', identityId),
);

export async function recordSignIn(db: Db, userId: string, identityId: string | undefined, detail: Record<string, unknown>): Promise<void> {
  const now = clock.now();
  await inTransaction(db, async (tx) => {
    await recordEvent(tx, { type: 'user.authenticated', actor: userId, subject: userId, data: { user: { id: userId } }, detail });
    await countUserSignIn(tx, { userId, now });
    if (identityId) await countIdentityLogin(tx, { identityId, now });
  });
}

export function primaryIdentity(user: User, type: IdentityType): Identity | undefined {
  return user.identities.find((i) => i.type === type && i.isPrimary) ?? user.identities.find((i) => i.type === type);
}

/** Kinde's picture fallback: Gravatar by the SHA-256 of the email, blank when the person has none. */
export function gravatarUrl(email: string): string {
  return `https://gravatar.com/avatar/${sha256Hex(email.trim().toLowerCase())}?d=blank&size=200`;
}

export function displayName(user: User): string | undefined {
  const name = [user.firstName, user.lastName].filter(Boolean).join(' ');
  return name || undefined;
}

/** Several users at once, in no particular order; unknown ids are left out. */
export async function findUsers(db: Db | Tx, ids: readonly string[]): Promise<User[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('users').selectAll().where('id', 'in', [...ids]).execute();
  const identities = await db.selectFrom('identities').selectAll().where('user_id', 'in', [...ids]).orderBy('created_at').execute();
  return rows.map((row) => toUser(row, identities.filter((i) => i.user_id === row.id)));
}

/**
 * Section 050, `POST /users/{id}/refresh_claims`: the next token issued for this person reflects what
 * Gatehouse holds now. Claims are read afresh for every token, so this only records the request.
 */
export async function refreshClaims(db: Db, userId: string): Promise<void> {
  const result = await db.updateTable('users').set({ claims_refreshed_at: clock.now() }).where('id', '=', userId).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new DomainError('USER_INVALID', 'User not found', 404);
}
