import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';

/** Kinde's default attack protection: 5 wrong attempts lock the account for 5 minutes. */
export interface AttackProtectionPolicy {
  maxAttempts: number;
  lockoutSeconds: number;
}

export const DEFAULT_ATTACK_PROTECTION: AttackProtectionPolicy = { maxAttempts: 5, lockoutSeconds: 300 };

export type LockStatus = { locked: false } | { locked: true; until: number };

/** Counted in the database, so a lockout holds on every replica. */
export async function lockStatus(db: Db, userId: string): Promise<LockStatus> {
  const row = await db.selectFrom('sign_in_failures').select('locked_until').where('user_id', '=', userId).executeTakeFirst();
  const until = row?.locked_until;
  return until && until > clock.now() ? { locked: true, until } : { locked: false };
}

/**
 * Takes one of the account's attempts before a secret is checked. Checking first and counting after
 * would let every guess that arrives while the slow check runs through (40 parallel posts were 40
 * checks); here the database hands out at most `maxAttempts` per lock window, however many requests
 * race on however many replicas. An attempt is a failure until it is given back.
 */
async function reserveAttempt(db: Db, userId: string, policy: AttackProtectionPolicy): Promise<LockStatus> {
  const now = clock.now();
  const reserved = await db
    .insertInto('sign_in_failures')
    .values({ user_id: userId, failures: 1, locked_until: null, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('user_id')
        .doUpdateSet((eb) => ({ failures: eb('sign_in_failures.failures', '+', 1), updated_at: now }))
        .where((eb) =>
          eb.and([
            eb.or([eb('sign_in_failures.locked_until', 'is', null), eb('sign_in_failures.locked_until', '<=', now)]),
            eb('sign_in_failures.failures', '<', policy.maxAttempts),
          ]),
        ),
    )
    .returning('failures')
    .executeTakeFirst();
  if (reserved) return { locked: false };
  const lock = await lockStatus(db, userId);
  // Every attempt of the window is being checked right now: the lock is a moment away.
  return lock.locked ? lock : { locked: true, until: now + policy.lockoutSeconds * 1000 };
}

/** A right answer (or a check that could not run) is not a failure: the attempt goes back. */
async function giveBackAttempt(db: Db, userId: string): Promise<void> {
  await db
    .updateTable('sign_in_failures')
    .set((eb) => ({ failures: eb('failures', '-', 1) }))
    .where('user_id', '=', userId)
    .where('failures', '>', 0)
    .execute();
}

/** A wrong answer keeps its attempt; the account locks once the window's attempts are used up. */
async function keepFailedAttempt(db: Db, userId: string, policy: AttackProtectionPolicy): Promise<LockStatus> {
  const until = clock.now() + policy.lockoutSeconds * 1000;
  const locked = await db
    .updateTable('sign_in_failures')
    .set({ failures: 0, locked_until: until })
    .where('user_id', '=', userId)
    .where('failures', '>=', policy.maxAttempts)
    .executeTakeFirst();
  await db
    .updateTable('users')
    .set((eb) => ({ failed_sign_ins: eb('failed_sign_ins', '+', 1) }))
    .where('id', '=', userId)
    .execute();
  return locked.numUpdatedRows > 0n ? { locked: true, until } : lockStatus(db, userId);
}

export type AttemptOutcome<T> = { checked: false; until: number } | { checked: true; result: T; lock: LockStatus };

/**
 * Runs one check of a secret (password, MFA code, recovery code) within the account's attempts:
 * refused unchecked when none is left; a wrong result counts (and may lock), anything else gives the
 * attempt back. Only a whole sign-in clears the count (`clearFailedAttempts`).
 */
export async function withinAttempts<T>(db: Db, userId: string, policy: AttackProtectionPolicy, check: () => Promise<T>, isWrong: (result: T) => boolean): Promise<AttemptOutcome<T>> {
  const reservation = await reserveAttempt(db, userId, policy);
  if (reservation.locked) return { checked: false, until: reservation.until };
  let result: T;
  try {
    result = await check();
  } catch (error) {
    await giveBackAttempt(db, userId);
    throw error;
  }
  if (!isWrong(result)) {
    await giveBackAttempt(db, userId);
    return { checked: true, result, lock: { locked: false } };
  }
  return { checked: true, result, lock: await keepFailedAttempt(db, userId, policy) };
}

export async function clearFailedAttempts(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('sign_in_failures').where('user_id', '=', userId).execute();
}
