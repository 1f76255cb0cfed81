import { clock } from '../clock.ts';
import { sha256Hex } from '../crypto/secrets.ts';
import { type Db, inTransaction } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { recordEvent } from './events/outbox.ts';
import { countEvent, type RateDecision, type RateLimit } from './rate-limits.ts';

/** Kinde's default attack protection: 5 wrong attempts lock the account for 5 minutes. */
export interface AttackProtectionPolicy {
  maxAttempts: number;
  lockoutSeconds: number;
}

export const DEFAULT_ATTACK_PROTECTION: AttackProtectionPolicy = { maxAttempts: 5, lockoutSeconds: 300 };

export type LockStatus = { locked: false } | { locked: true; until: number };

/**
 * Whose attempts are counted: an account by its user id (passwords, codes to a known person, second
 * factors share one count), or an identity that is not an account yet (a sign-up code), by a digest
 * of its normalized value so the table holds no addresses.
 */
export const identitySubject = (type: string, normalizedValue: string): string => `identity:${sha256Hex(`${type}:${normalizedValue}`)}`;

// A password, code or second factor check runs these: compiled once (store/prepared.ts).
const selectLock = preparedQuery((db, { subject }: { subject: string }) => db.selectFrom('attempt_counters').select('locked_until').where('subject', '=', subject));
const reserveAttemptQuery = preparedQuery((db, { subject, now, maxAttempts }: { subject: string; now: number; maxAttempts: number }) =>
  db
    .insertInto('attempt_counters')
    .values({ subject, failures: 1, locked_until: null, updated_at: now })
    .onConflict((oc) =>
      oc
        .column('subject')
        .doUpdateSet((eb) => ({ failures: eb('attempt_counters.failures', '+', 1), updated_at: now }))
        .where((eb) =>
          eb.and([
            eb.or([eb('attempt_counters.locked_until', 'is', null), eb('attempt_counters.locked_until', '<=', now)]),
            eb('attempt_counters.failures', '<', maxAttempts),
          ]),
        ),
    )
    .returning('failures'),
);
const giveBackQuery = preparedQuery((db, { subject }: { subject: string }) =>
  db
    .updateTable('attempt_counters')
    .set((eb) => ({ failures: eb('failures', '-', 1) }))
    .where('subject', '=', subject)
    .where('failures', '>', 0),
);
const clearAttemptsQuery = preparedQuery((db, { subject }: { subject: string }) => db.deleteFrom('attempt_counters').where('subject', '=', subject));

/** Counted in the database, so a lockout holds on every replica. */
export async function lockStatus(db: Db, subject: string): Promise<LockStatus> {
  const [row] = (await selectLock(db, { subject })).rows;
  const until = row?.locked_until;
  return until && until > clock.now() ? { locked: true, until } : { locked: false };
}

/**
 * Takes one of the account's attempts before a secret is checked. Checking first and counting after
 * would let every guess that arrives while the slow check runs through (40 parallel posts were 40
 * checks); here the database hands out at most `maxAttempts` per lock window, however many requests
 * race on however many replicas. An attempt is a failure until it is given back.
 */
async function reserveAttempt(db: Db, subject: string, policy: AttackProtectionPolicy): Promise<LockStatus> {
  const now = clock.now();
  const [reserved] = (await reserveAttemptQuery(db, { subject, now, maxAttempts: policy.maxAttempts })).rows;
  if (reserved) return { locked: false };
  const lock = await lockStatus(db, subject);
  // Every attempt of the window is being checked right now: the lock is a moment away.
  return lock.locked ? lock : { locked: true, until: now + policy.lockoutSeconds * 1000 };
}

/** A right answer (or a check that could not run) is not a failure: the attempt goes back. */
async function giveBackAttempt(db: Db, subject: string): Promise<void> {
  await giveBackQuery(db, { subject });
}

/** A wrong answer keeps its attempt; the account locks once the window's attempts are used up. */
async function keepFailedAttempt(db: Db, subject: string, policy: AttackProtectionPolicy): Promise<LockStatus> {
  const until = clock.now() + policy.lockoutSeconds * 1000;
  const locked = await inTransaction(db, async (tx) => {
    const update = await tx
      .updateTable('attempt_counters')
      .set({ failures: 0, locked_until: until })
      .where('subject', '=', subject)
      .where('failures', '>=', policy.maxAttempts)
      .executeTakeFirst();
    // Every wrong secret on an account (password, one-time code, MFA or recovery code) is Kinde's
    // user.authentication_failed; the lockout it may cause is a change too. Both commit with it (§5b).
    if (subject.startsWith('kp_')) {
      const locked = update.numUpdatedRows > 0n;
      await recordEvent(tx, { type: 'user.authentication_failed', subject, data: { user: { id: subject } }, detail: { locked } });
      if (locked) await recordEvent(tx, { type: 'user.locked', subject, data: { user: { id: subject } }, detail: { locked_until: new Date(until).toISOString(), max_attempts: policy.maxAttempts } });
    }
    return update;
  });
  // An account's own tally (shown on the user in the management API); an identity subject has none.
  await db
    .updateTable('users')
    .set((eb) => ({ failed_sign_ins: eb('failed_sign_ins', '+', 1) }))
    .where('id', '=', subject)
    .execute();
  return locked.numUpdatedRows > 0n ? { locked: true, until } : lockStatus(db, subject);
}

export type AttemptOutcome<T> = { checked: false; until: number } | { checked: true; result: T; lock: LockStatus };

/** A right answer's attempt, still reserved: `giveBack` returns it unless a whole sign-in clears the count instead. */
export type HeldAttemptOutcome<T> = { checked: false; until: number } | { checked: true; result: T; lock: LockStatus; giveBack?(): Promise<void> };

/**
 * Runs one check of a secret (password, MFA code, recovery code) within the account's attempts:
 * refused unchecked when none is left; a wrong result counts (and may lock), anything else gives the
 * attempt back. Only a whole sign-in clears the count (`clearFailedAttempts`).
 */
export async function withinAttempts<T>(db: Db, subject: string, policy: AttackProtectionPolicy, check: () => Promise<T>, isWrong: (result: T) => boolean): Promise<AttemptOutcome<T>> {
  const outcome = await withinAttemptsHeld(db, subject, policy, check, isWrong);
  if (!outcome.checked || !outcome.giveBack) return outcome;
  const { giveBack, ...settled } = outcome;
  await giveBack();
  return settled;
}

/**
 * `withinAttempts` for a check whose right answer usually completes the sign-in in the same request
 * (a password): the right answer's attempt stays reserved and the caller settles it, with
 * `giveBack()` when the sign-in goes on to another step (or fails), or with `clearFailedAttempts`
 * when it completes. Completing would delete the count right after a give-back, so this saves that
 * write; until it is settled the account has one attempt fewer, never one more.
 */
export async function withinAttemptsHeld<T>(db: Db, subject: string, policy: AttackProtectionPolicy, check: () => Promise<T>, isWrong: (result: T) => boolean): Promise<HeldAttemptOutcome<T>> {
  const reservation = await reserveAttempt(db, subject, policy);
  if (reservation.locked) return { checked: false, until: reservation.until };
  let result: T;
  try {
    result = await check();
  } catch (error) {
    await giveBackAttempt(db, subject);
    throw error;
  }
  if (!isWrong(result)) return { checked: true, result, lock: { locked: false }, giveBack: () => giveBackAttempt(db, subject) };
  return { checked: true, result, lock: await keepFailedAttempt(db, subject, policy) };
}

export async function clearFailedAttempts(db: Db, subject: string): Promise<void> {
  await clearAttemptsQuery(db, { subject });
}

// ------------------------------------------------------------------------------ per recipient, per network

const FIFTEEN_MINUTES = 15 * 60_000;

/** Codes sent to one email address or phone number: enough for a person who lost a few, too few to flood them. */
export const CODES_PER_RECIPIENT: RateLimit = { name: 'codes-to', limit: 5, windowMs: FIFTEEN_MINUTES };

/**
 * Whether another one-time code may go to `recipient` at the request of `network`. Per recipient, so
 * nobody can flood a person's inbox or phone; per network, so nobody can send codes to many people
 * (SMS pumping fraud bills the business for every message).
 */
export async function mayIssueCode(db: Db, recipient: string, network: string, perNetwork: number): Promise<RateDecision> {
  const fromNetwork = await countEvent(db, { name: 'codes-from', limit: perNetwork, windowMs: FIFTEEN_MINUTES }, sha256Hex(network));
  if (!fromNetwork.allowed) return fromNetwork;
  return countEvent(db, CODES_PER_RECIPIENT, sha256Hex(recipient.toLowerCase()));
}

/**
 * Failed attempts from one network across every account (wrong passwords and codes, failed client
 * authentication): the guesser who spreads guesses over many accounts, each below its own lockout.
 * Counted in the database; each replica remembers the networks it has seen go past the limit, so a
 * request is refused without a database read and only failures cost a write.
 */
export class NetworkFailures {
  private readonly refusedUntil = new Map<string, number>();
  private readonly limit: RateLimit;

  constructor(
    private readonly db: Db,
    perNetwork: number,
  ) {
    // The failure that reaches `perNetwork` is the last one allowed: the network is refused from the next request.
    this.limit = { name: 'failures-from', limit: perNetwork - 1, windowMs: FIFTEEN_MINUTES };
  }

  /** When the network may try again, if it is refused now. */
  refused(network: string): number | undefined {
    const until = this.refusedUntil.get(network);
    if (until !== undefined && until > clock.now()) return until;
    this.refusedUntil.delete(network);
    return undefined;
  }

  async count(network: string): Promise<void> {
    const decision = await countEvent(this.db, this.limit, sha256Hex(network));
    if (!decision.allowed) this.refusedUntil.set(network, decision.retryAt);
  }
}
