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
 * Counts one wrong attempt atomically (parallel guesses cannot slip past the limit) and locks the
 * account when it reaches the policy's limit; counting starts again after the lock.
 */
export async function recordFailedAttempt(db: Db, userId: string, policy: AttackProtectionPolicy): Promise<LockStatus> {
  const now = clock.now();
  await db
    .insertInto('sign_in_failures')
    .values({ user_id: userId, failures: 1, locked_until: null, updated_at: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet((eb) => ({ failures: eb('sign_in_failures.failures', '+', 1), updated_at: now })))
    .execute();
  const until = now + policy.lockoutSeconds * 1000;
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

export async function clearFailedAttempts(db: Db, userId: string): Promise<void> {
  await db.deleteFrom('sign_in_failures').where('user_id', '=', userId).execute();
}
