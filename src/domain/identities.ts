import { z } from 'zod';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, type Tx, inTransaction, isUniqueViolation } from '../store/db.ts';
import { DomainError } from './errors.ts';
import { recordEvent } from './events/outbox.ts';
import { type Identity, type IdentityType, normalizeIdentity, toIdentity } from './users.ts';

/**
 * A user's sign-in identities (spec section 004): email, phone and username. Each type has one
 * primary; the first of a type becomes it. A value is never edited — a verified identity is proof
 * of ownership — so a change is an add followed by a delete.
 */

/** Section 017: 2–64 letters, digits, dashes and underscores, unique whatever the case. */
const USERNAME = /^[A-Za-z0-9_-]{2,64}$/;
/** E.164; numbers typed in national forms are normalised before they get here. */
const E164 = /^\+[1-9]\d{6,14}$/;
const EMAIL = z.email().max(320);

/** Why `value` cannot be an identity of this type, or undefined when it can. */
export function identityProblem(type: IdentityType, value: string): string | undefined {
  const trimmed = value.trim();
  switch (type) {
    case 'email':
      return EMAIL.safeParse(trimmed).success ? undefined : 'must be an email address';
    case 'username':
      return USERNAME.test(trimmed) ? undefined : 'must be 2-64 letters, digits, dashes (-) or underscores (_)';
    case 'phone':
      return E164.test(trimmed) ? undefined : 'must be a phone number in E.164 form, like +61466043123';
  }
}

export interface UserIdentity extends Identity {
  userId: string;
}

export async function findIdentity(db: Db | Tx, identityId: string): Promise<UserIdentity | undefined> {
  const row = await db.selectFrom('identities').selectAll().where('id', '=', identityId).executeTakeFirst();
  return row && { ...toIdentity(row), userId: row.user_id };
}

export async function requireIdentity(db: Db | Tx, identityId: string): Promise<UserIdentity> {
  const identity = await findIdentity(db, identityId);
  if (!identity) throw new DomainError('IDENTITY_NOT_FOUND', 'Identity not found', 404);
  return identity;
}

/** Oldest first; ties (identities created with their user, in one instant) broken by id, so cursors are stable. */
export async function listIdentities(db: Db | Tx, userId: string): Promise<Identity[]> {
  const rows = await db.selectFrom('identities').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toIdentity);
}

/**
 * Takes the user's row lock for the rest of the transaction (a no-op-style update, as
 * `lockApplication` does), so concurrent identity changes of one user cannot break the
 * one-primary-per-type and never-without-an-identity rules.
 */
async function lockUser(tx: Tx, userId: string): Promise<void> {
  const result = await tx.updateTable('users').set({ updated_at: clock.now() }).where('id', '=', userId).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new DomainError('USER_INVALID', 'User not found', 404);
}

export interface IdentityInput {
  type: IdentityType;
  value: string;
  isVerified?: boolean;
}

export async function addIdentity(db: Db, userId: string, input: IdentityInput): Promise<Identity> {
  const problem = identityProblem(input.type, input.value);
  if (problem) throw new DomainError('INVALID_IDENTITY', `${input.type} ${problem}`, 400);
  try {
    return await inTransaction(db, async (tx) => {
      await lockUser(tx, userId);
      const existing = await tx.selectFrom('identities').select(['type', 'created_at']).where('user_id', '=', userId).execute();
      // Strictly after the user's newest identity, so "oldest first" is the order they were added in.
      const createdAt = Math.max(clock.now(), ...existing.map((other) => other.created_at + 1));
      const row = {
        id: newId.identity(),
        user_id: userId,
        type: input.type,
        value: input.value.trim(),
        normalized_value: normalizeIdentity(input.type, input.value),
        is_verified: input.isVerified ? 1 : 0,
        is_primary: existing.some((other) => other.type === input.type) ? 0 : 1,
        connection_id: null,
        total_logins: 0,
        last_login_at: null,
        created_at: createdAt,
      } as const;
      await tx.insertInto('identities').values(row).execute();
      await recordEvent(tx, { type: 'user.identity_added', subject: userId, detail: { identity_id: row.id, type: row.type, connection_id: null } });
      return toIdentity(row);
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', `A user with this ${input.type} already exists`, 409);
    throw error;
  }
}

/** Makes the identity the primary of its type; the previous primary stays, as a secondary. */
export async function setPrimaryIdentity(db: Db, identityId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    const identity = await requireIdentity(tx, identityId);
    await lockUser(tx, identity.userId);
    const previous = (await listIdentities(tx, identity.userId)).find((other) => other.type === identity.type && other.isPrimary);
    await tx.updateTable('identities').set({ is_primary: 0 }).where('user_id', '=', identity.userId).where('type', '=', identity.type).execute();
    const result = await tx.updateTable('identities').set({ is_primary: 1 }).where('id', '=', identityId).executeTakeFirst();
    // Deleted between the read and the lock.
    if (result.numUpdatedRows === 0n) throw new DomainError('IDENTITY_NOT_FOUND', 'Identity not found', 404);
    await recordEvent(tx, {
      type: 'user.identity_made_primary',
      subject: identity.userId,
      detail: { identity_id: identityId, type: identity.type, previous_primary_id: previous?.id ?? null },
    });
  });
}

/**
 * Deletes an identity. A user keeps at least one (a user nobody can sign in as is a deleted user:
 * use DELETE /user for that); when the primary of a type goes, the oldest remaining one of that
 * type takes its place.
 */
export async function deleteIdentity(db: Db, identityId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    const identity = await requireIdentity(tx, identityId);
    await lockUser(tx, identity.userId);
    const remaining = (await listIdentities(tx, identity.userId)).filter((other) => other.id !== identityId);
    if (remaining.length === 0) {
      throw new DomainError('LAST_IDENTITY', "This is the user's only identity: add another before deleting it, or delete the user", 400);
    }
    const result = await tx.deleteFrom('identities').where('id', '=', identityId).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw new DomainError('IDENTITY_NOT_FOUND', 'Identity not found', 404);
    const successor = remaining.find((other) => other.type === identity.type);
    const promoted = identity.isPrimary && successor && !remaining.some((other) => other.type === identity.type && other.isPrimary) ? successor : undefined;
    if (promoted) await tx.updateTable('identities').set({ is_primary: 1 }).where('id', '=', promoted.id).execute();
    await recordEvent(tx, {
      type: 'user.identity_deleted',
      subject: identity.userId,
      detail: { identity_id: identityId, type: identity.type, was_primary: identity.isPrimary, new_primary_id: promoted?.id ?? null },
    });
  });
}
