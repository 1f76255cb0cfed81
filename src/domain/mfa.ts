import { Secret, TOTP } from 'otpauth';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import { hmacHex, randomString, sha256Hex } from '../crypto/secrets.ts';
import { type Db, inTransaction, isForeignKeyViolation, type Tx } from '../store/db.ts';
import type { MfaFactorsTable } from '../store/schema.ts';
import { lockStatus, withinAttempts } from './attack-protection.ts';
import { recordAudit } from './audit.ts';
import { connectionForSignIn } from './connections.ts';
import { isEnterpriseStrategy } from './strategies.ts';
import { environmentPolicy } from './environment.ts';
import { qrCodeDataUrl } from './qr-codes.ts';
import { assertThat, DomainError } from './errors.ts';
import { identityProblem } from './identities.ts';
import { type FactorType, type MfaRequirement, type PrimaryChannel, resolveMfaRequirement } from './mfa-policy.ts';
import type { OneTimeCodes } from './one-time-codes.ts';
import { organizationMfaPolicy } from './organizations.ts';
import { memberRoleKeys } from './roles.ts';
import { normalizeIdentity, primaryIdentity, requireUser, type User } from './users.ts';

/**
 * A person's second factors (sections 052–053): an authenticator app (TOTP), email codes, SMS codes,
 * and the recovery codes that stand in for any of them.
 *
 * Wrong MFA codes count against the same per-account lockout as wrong passwords (attack-protection.ts):
 * one counter per account means someone who holds the password gets the policy's attempts in all, not
 * that many per factor, and the account is either locked or not, whichever step is attacked. The
 * counter must therefore only be cleared once the whole sign-in has succeeded, never after the first
 * factor: a password would otherwise buy a fresh set of guesses at the code.
 */

export interface MfaFactor {
  id: string;
  userId: string;
  type: FactorType;
  /** The email address or E.164 number codes go to; null for an authenticator app. */
  destination: string | null;
  /** Proven by a first correct code; unverified factors are abandoned or pending enrolments. */
  isVerified: boolean;
  usageCount: number;
  createdAt: number;
  lastUsedAt: number | null;
}

const toFactor = (row: MfaFactorsTable): MfaFactor => ({
  id: row.id,
  userId: row.user_id,
  type: row.type,
  destination: row.destination,
  isVerified: row.is_verified === 1,
  usageCount: row.usage_count,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

const factorNotFound = () => new DomainError('MFA_FACTOR_NOT_FOUND', 'MFA factor not found', 404);

/** A confirmed enrolment carries the recovery codes when it was the person's first factor: shown once, never again. */
export type EnrolmentResult = { verified: true; factor: MfaFactor; recoveryCodes: string[] | undefined } | { verified: false; reason: 'wrong' | 'expired' };

export type TotpCheck = 'accepted' | 'wrong' | 'replayed' | 'locked';
export type CodeFactorCheck = 'accepted' | 'wrong' | 'expired' | 'locked';
export type RecoveryCodeCheck = 'accepted' | 'wrong' | 'locked';

// ------------------------------------------------------------------------------------------ factors

/** The person's factors in the order they were added. */
export async function listFactors(db: Db | Tx, userId: string): Promise<MfaFactor[]> {
  const rows = await db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('created_at').orderBy('id').execute();
  return rows.map(toFactor);
}

async function requireFactor(db: Db | Tx, factorId: string): Promise<MfaFactorsTable> {
  const row = await db.selectFrom('mfa_factors').selectAll().where('id', '=', factorId).executeTakeFirst();
  if (!row) throw factorNotFound();
  return row;
}

/**
 * Serialises MFA changes of one person (a no-op update takes the row lock in PostgreSQL; SQLite
 * serialises writers anyway), so two enrolments confirmed at once cannot both be "the first".
 */
async function lockPerson(tx: Tx, userId: string): Promise<void> {
  const result = await tx.updateTable('users').set((eb) => ({ updated_at: eb.ref('updated_at') })).where('id', '=', userId).executeTakeFirst();
  if (result.numUpdatedRows === 0n) throw new DomainError('USER_INVALID', 'User not found', 404);
}

/**
 * Marks a factor proven and, when the person had no other proven factor, gives them a fresh set of
 * recovery codes (section 052: "offered a set of recovery codes" when they first set up MFA).
 */
async function markVerified(db: Db, master: MasterKey, row: MfaFactorsTable, set: { last_used_step?: number }): Promise<EnrolmentResult> {
  return inTransaction(db, async (tx) => {
    await lockPerson(tx, row.user_id);
    if (row.type === 'totp') {
      const other = await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', row.user_id).where('type', '=', 'totp').where('is_verified', '=', 1).executeTakeFirst();
      assertThat(other === undefined, 'MFA_FACTOR_EXISTS', 'An authenticator app is already set up for this user: reset it first', 409);
    }
    const updated = await tx.updateTable('mfa_factors').set({ ...set, is_verified: 1 }).where('id', '=', row.id).where('is_verified', '=', 0).executeTakeFirst();
    assertThat(updated.numUpdatedRows === 1n, 'MFA_FACTOR_VERIFIED', 'This factor is already set up', 409);
    const others = await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', row.user_id).where('is_verified', '=', 1).where('id', '!=', row.id).executeTakeFirst();
    const recoveryCodes = others === undefined ? await replaceRecoveryCodes(tx, master, row.user_id) : undefined;
    await recordAudit(tx, { type: 'user.mfa_enrolled', actor: row.user_id, subject: row.user_id, data: { factor_id: row.id, factor_type: row.type } });
    return { verified: true, factor: toFactor({ ...row, ...set, is_verified: 1 }), recoveryCodes };
  });
}

/**
 * Section 052 (Kinde's "Reset MFA"): without a factor id every factor and recovery code goes, and the
 * person enrols again at their next sign-in; with one, only that factor (and the recovery codes too when
 * no proven factor is left: they recover access to MFA, and there is none).
 */
export async function resetMfa(db: Db, userId: string, factorId?: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await lockPerson(tx, userId);
    let going = tx.selectFrom('mfa_factors').select(['id', 'type', 'is_verified']).where('user_id', '=', userId);
    if (factorId !== undefined) going = going.where('id', '=', factorId);
    const removed = await going.execute();
    if (factorId !== undefined && removed.length === 0) throw factorNotFound();
    if (removed.length > 0) await tx.deleteFrom('mfa_factors').where('id', 'in', removed.map((factor) => factor.id)).execute();
    const proven = await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', userId).where('is_verified', '=', 1).executeTakeFirst();
    const recoveryCodes = proven ? 0 : Number((await tx.deleteFrom('recovery_codes').where('user_id', '=', userId).executeTakeFirst()).numDeletedRows);
    await recordAudit(tx, {
      type: 'user.mfa_reset',
      subject: userId,
      detail: {
        ...(factorId === undefined ? {} : { factor_id: factorId }),
        factors_removed: removed.map((factor) => ({ id: factor.id, type: factor.type, was_verified: factor.is_verified === 1 })),
        recovery_codes_removed: recoveryCodes,
      },
    });
  });
}

// ------------------------------------------------------------------------------------- authenticator

/** RFC 6238's defaults, which every authenticator app understands: HMAC-SHA1, 6 digits, 30 s steps. */
const TOTP_PARAMETERS = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
/** One step either side (RFC 6238 §5.2 recommends at most one step of allowed network delay). */
const TOTP_WINDOW = 1;
/** 160 bits, the HMAC-SHA1 key length RFC 4226 §4 recommends. */
const TOTP_SECRET_BYTES = 20;

const secretContext = (factorId: string) => `totp:${factorId}`;

export interface TotpEnrolment {
  factorId: string;
  /** Base32, for people who type it into their app instead of scanning. */
  secret: string;
  otpauthUri: string;
  /** A PNG of `otpauthUri` as a `data:` URL. */
  qrCodeDataUrl: string;
}

/** The account name an authenticator app shows under the issuer: the person's email, else phone, else username. */
function accountLabel(user: User): string {
  return (primaryIdentity(user, 'email') ?? primaryIdentity(user, 'phone') ?? primaryIdentity(user, 'username'))?.value ?? user.id;
}

/**
 * Starts setting up an authenticator app: a new secret, sealed at rest, shown once as a QR code and as
 * text. The factor counts only once `confirmTotpEnrolment` sees a code from it; an earlier unfinished
 * enrolment is discarded.
 */
export async function startTotpEnrolment(db: Db, master: MasterKey, userId: string, issuerLabel: string): Promise<TotpEnrolment> {
  const user = await requireUser(db, userId);
  const factorId = newId.mfaFactor();
  const secret = new Secret({ size: TOTP_SECRET_BYTES });
  await inTransaction(db, async (tx) => {
    await lockPerson(tx, userId);
    const existing = await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', userId).where('type', '=', 'totp').where('is_verified', '=', 1).executeTakeFirst();
    assertThat(existing === undefined, 'MFA_FACTOR_EXISTS', 'An authenticator app is already set up for this user: reset it first', 409);
    await tx.deleteFrom('mfa_factors').where('user_id', '=', userId).where('type', '=', 'totp').where('is_verified', '=', 0).execute();
    await tx
      .insertInto('mfa_factors')
      .values({
        id: factorId,
        user_id: userId,
        type: 'totp',
        secret_sealed: master.seal(secret.base32, secretContext(factorId)),
        destination: null,
        is_verified: 0,
        last_used_step: null,
        usage_count: 0,
        created_at: clock.now(),
        last_used_at: null,
      })
      .execute();
  });
  return enrolmentToShow(factorId, secret, issuerLabel, user);
}

async function enrolmentToShow(factorId: string, secret: Secret, issuerLabel: string, user: User): Promise<TotpEnrolment> {
  const otpauthUri = new TOTP({ ...TOTP_PARAMETERS, issuer: issuerLabel, label: accountLabel(user), secret }).toString();
  return { factorId, secret: secret.base32, otpauthUri, qrCodeDataUrl: await qrCodeDataUrl(otpauthUri) };
}

/**
 * An enrolment started but not yet confirmed, to show again (the page is reloaded, or re-rendered with
 * an error). The secret is read from its sealed copy, so no other place needs to keep it.
 */
export async function pendingTotpEnrolment(db: Db, master: MasterKey, factorId: string, issuerLabel: string): Promise<TotpEnrolment | undefined> {
  const row = await db.selectFrom('mfa_factors').selectAll().where('id', '=', factorId).where('type', '=', 'totp').where('is_verified', '=', 0).executeTakeFirst();
  if (!row?.secret_sealed) return undefined;
  const user = await requireUser(db, row.user_id);
  return enrolmentToShow(factorId, Secret.fromBase32(master.open(row.secret_sealed, secretContext(row.id))), issuerLabel, user);
}

/** Apps show codes in groups (`123 456`); anything but six digits after that can never be right. */
const totpToken = (code: string): string | undefined => {
  const token = code.replace(/\s/g, '');
  return /^\d{6}$/.test(token) ? token : undefined;
};

/** The time step `code` belongs to, within the window around now, or undefined when it matches none. */
function matchingStep(master: MasterKey, row: MfaFactorsTable, code: string): number | undefined {
  const token = totpToken(code);
  if (token === undefined || !row.secret_sealed) return undefined;
  const secret = Secret.fromBase32(master.open(row.secret_sealed, secretContext(row.id)));
  const now = clock.now();
  const delta = new TOTP({ ...TOTP_PARAMETERS, secret }).validate({ token, timestamp: now, window: TOTP_WINDOW });
  return delta === null ? undefined : TOTP.counter({ period: TOTP_PARAMETERS.period, timestamp: now }) + delta;
}

/** Finishes setting up an authenticator app with a code from it. The code is spent: it cannot sign in afterwards. */
export async function confirmTotpEnrolment(db: Db, master: MasterKey, factorId: string, code: string): Promise<EnrolmentResult> {
  const row = await requireFactor(db, factorId);
  if (row.type !== 'totp') throw factorNotFound();
  assertThat(row.is_verified === 0, 'MFA_FACTOR_VERIFIED', 'This factor is already set up', 409);
  const step = matchingStep(master, row, code);
  if (step === undefined) return { verified: false, reason: 'wrong' };
  return markVerified(db, master, row, { last_used_step: step });
}

/**
 * Checks a code from the person's authenticator app. A code is accepted once: the accepted step is
 * recorded atomically, and a code of that step or an earlier one is refused afterwards (RFC 6238 §5.2),
 * so a code seen over someone's shoulder, or submitted twice in parallel, does not sign in again. A
 * replay is not counted as a failed attempt: it reveals nothing about the secret.
 */
export async function verifyTotp(db: Db, master: MasterKey, userId: string, code: string): Promise<TotpCheck> {
  // Not a guess at the code (a slip of the keyboard): wrong, but not counted.
  if (totpToken(code) === undefined) return (await lockStatus(db, userId)).locked ? 'locked' : 'wrong';
  const rows = await db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).where('type', '=', 'totp').where('is_verified', '=', 1).execute();
  if (rows.length === 0) throw factorNotFound();
  return withinAccountAttempts(db, userId, async () => {
    for (const row of rows) {
      const step = matchingStep(master, row, code);
      if (step === undefined) continue;
      const now = clock.now();
      const used = await db
        .updateTable('mfa_factors')
        .set((eb) => ({ last_used_step: step, last_used_at: now, usage_count: eb('usage_count', '+', 1) }))
        .where('id', '=', row.id)
        .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', step)]))
        .executeTakeFirst();
      return used.numUpdatedRows === 1n ? 'accepted' : 'replayed';
    }
    return 'wrong';
  });
}

/** A second-factor check run within the account's attempts, shared with passwords (attack-protection.ts). */
async function withinAccountAttempts<T extends string>(
  db: Db,
  userId: string,
  check: () => Promise<T | 'wrong'>,
  isWrong = (result: T | 'wrong') => result === 'wrong',
): Promise<T | 'wrong' | 'locked'> {
  const attempt = await withinAttempts(db, userId, (await environmentPolicy(db)).attackProtection, check, isWrong);
  if (!attempt.checked || attempt.lock.locked) return 'locked';
  return attempt.result;
}

// ---------------------------------------------------------------------------------- email and SMS codes

export type CodeFactorType = Extract<FactorType, 'email' | 'sms'>;

/**
 * Records an email or SMS factor (the person's identity value, normally). It is proven by the first code
 * sent there (`confirmCodeEnrolment`); recording the same destination again returns the same factor.
 */
export async function enrolCodeFactor(db: Db, userId: string, type: CodeFactorType, destination: string): Promise<MfaFactor> {
  const problem = identityProblem(type === 'email' ? 'email' : 'phone', destination);
  assertThat(problem === undefined, 'INVALID_MFA_DESTINATION', `The ${type === 'email' ? 'email address' : 'phone number'} ${problem}`);
  const normalized = normalizeIdentity(type === 'email' ? 'email' : 'phone', destination);
  try {
    await db
      .insertInto('mfa_factors')
      .values({
        id: newId.mfaFactor(),
        user_id: userId,
        type,
        secret_sealed: null,
        destination: normalized,
        is_verified: 0,
        last_used_step: null,
        usage_count: 0,
        created_at: clock.now(),
        last_used_at: null,
      })
      .onConflict((oc) => oc.columns(['user_id', 'type', 'destination']).doNothing())
      .execute();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new DomainError('USER_INVALID', 'User not found', 404);
    throw error;
  }
  const row = await db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).where('type', '=', type).where('destination', '=', normalized).executeTakeFirstOrThrow();
  return toFactor(row);
}

/**
 * Where a code for this factor goes. Send it the one way every code goes: `OneTimeCodes.issue('mfa', to)`
 * then `sendCode(…, { purpose: 'mfa', channel, to })`, keeping the challenge id in the server-side
 * sign-in state (the check below trusts it to belong to this factor).
 */
export function codeFactorDestination(factor: MfaFactor): { channel: 'email' | 'sms'; to: string } {
  if (factor.type === 'totp' || factor.destination === null) throw new DomainError('MFA_FACTOR_NOT_FOUND', 'This factor does not receive codes', 400);
  return { channel: factor.type, to: factor.destination };
}

export async function findFactor(db: Db | Tx, factorId: string): Promise<MfaFactor | undefined> {
  const row = await db.selectFrom('mfa_factors').selectAll().where('id', '=', factorId).executeTakeFirst();
  return row && toFactor(row);
}

/** Finishes setting up an email or SMS factor with the code sent to it. */
export async function confirmCodeEnrolment(db: Db, master: MasterKey, codes: OneTimeCodes, factorId: string, challengeId: string, code: string): Promise<EnrolmentResult> {
  const row = await requireFactor(db, factorId);
  if (row.type === 'totp') throw factorNotFound();
  assertThat(row.is_verified === 0, 'MFA_FACTOR_VERIFIED', 'This factor is already set up', 409);
  const check = await codes.check(challengeId, 'mfa', code);
  if (check !== 'accepted') return { verified: false, reason: check === 'wrong' ? 'wrong' : 'expired' };
  return markVerified(db, master, row, {});
}

/**
 * Checks a code sent to a proven email or SMS factor. The code itself is single-use, expiring and
 * attempt-limited (OneTimeCodes); wrong codes also count against the account's lockout, since new
 * codes can be asked for.
 */
export async function verifyCodeFactor(db: Db, codes: OneTimeCodes, factorId: string, challengeId: string, code: string): Promise<CodeFactorCheck> {
  const row = await requireFactor(db, factorId);
  if (row.type === 'totp' || row.is_verified !== 1) throw factorNotFound();
  const outcome = await withinAccountAttempts(db, row.user_id, async () => {
    const check = await codes.check(challengeId, 'mfa', code);
    // A code that can no longer be used (too many tries at it) was still a guess: it counts, and then reads as expired.
    return check === 'accepted' || check === 'expired' ? check : check === 'wrong' ? 'wrong' : ('spent' as const);
  }, (result) => result === 'wrong' || result === 'spent');
  if (outcome === 'spent') return 'expired';
  if (outcome !== 'accepted') return outcome;
  await db
    .updateTable('mfa_factors')
    .set((eb) => ({ last_used_at: clock.now(), usage_count: eb('usage_count', '+', 1) }))
    .where('id', '=', row.id)
    .execute();
  return 'accepted';
}

// ------------------------------------------------------------------------------------- recovery codes

export const RECOVERY_CODE_COUNT = 10;
/** No 0/O, 1/I/L or U/V lookalikes: codes get written down and typed back in. */
const RECOVERY_ALPHABET = 'ABCDEFGHJKMNPQRSTWXYZ23456789';

/**
 * `XXXXX-XXXXX`: ten random symbols of 29, about 48.6 bits per code. Stored as an HMAC bound to the
 * person, not argon2: these are random machine-made secrets, not human-chosen passwords, so there is no
 * dictionary to slow down, and a plain digest lets a code be found and spent in one indexed, atomic
 * update (argon2 would need a hash per unused code per attempt). Online guessing is bounded by the
 * account lockout; offline, the key lives outside the database (`recoveryCodeDigest`).
 */
function newRecoveryCode(): string {
  const symbols = randomString(10, RECOVERY_ALPHABET);
  return `${symbols.slice(0, 5)}-${symbols.slice(5)}`;
}

/** Case, spaces and dashes do not matter when typing a code back. */
const typed = (userId: string, code: string) => `${userId}:${code.toUpperCase().replace(/[\s-]/g, '')}`;

/**
 * Keyed with a key derived from the master key, which the database never holds: a copy of the
 * database alone gives nothing to guess codes against offline.
 */
function recoveryCodeDigest(master: MasterKey, userId: string, code: string): string {
  return hmacHex(master.derive('recovery-codes'), typed(userId, code));
}

/** How codes issued before 2026-11-29 (session 2) were stored; they keep working until spent or replaced. */
function legacyRecoveryCodeDigest(userId: string, code: string): string {
  return sha256Hex(typed(userId, code));
}

async function replaceRecoveryCodes(tx: Tx, master: MasterKey, userId: string): Promise<string[]> {
  const codes = new Set<string>();
  while (codes.size < RECOVERY_CODE_COUNT) codes.add(newRecoveryCode());
  const now = clock.now();
  await tx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
  await tx
    .insertInto('recovery_codes')
    .values([...codes].map((code) => ({ id: newId.recoveryCode(), user_id: userId, code_hash: recoveryCodeDigest(master, userId, code), used_at: null, created_at: now })))
    .execute();
  return [...codes];
}

/** A new set of ten for a person who has MFA set up; every earlier code stops working. Shown once. */
export async function regenerateRecoveryCodes(db: Db, master: MasterKey, userId: string): Promise<string[]> {
  return inTransaction(db, async (tx) => {
    await lockPerson(tx, userId);
    const proven = await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', userId).where('is_verified', '=', 1).executeTakeFirst();
    assertThat(proven !== undefined, 'MFA_NOT_ENROLLED', 'Recovery codes are given to people who have set up MFA', 409);
    const codes = await replaceRecoveryCodes(tx, master, userId);
    await recordAudit(tx, { type: 'user.mfa_recovery_codes_regenerated', actor: userId, subject: userId });
    return codes;
  });
}

/** Spends a recovery code in place of any factor: the update that marks it used is the check, so it works once. */
export async function useRecoveryCode(db: Db, master: MasterKey, userId: string, code: string): Promise<RecoveryCodeCheck> {
  const outcome = await withinAccountAttempts(db, userId, async () => {
    const spent = await db
      .updateTable('recovery_codes')
      .set({ used_at: clock.now() })
      .where('user_id', '=', userId)
      .where('code_hash', 'in', [recoveryCodeDigest(master, userId, code), legacyRecoveryCodeDigest(userId, code)])
      .where('used_at', 'is', null)
      .executeTakeFirst();
    return spent.numUpdatedRows === 1n ? ('accepted' as const) : 'wrong';
  });
  if (outcome !== 'accepted') return outcome;
  await recordAudit(db, { type: 'user.mfa_recovery_code_used', actor: userId, subject: userId });
  return 'accepted';
}

export async function remainingRecoveryCodes(db: Db | Tx, userId: string): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll().as('n'))
    .where('user_id', '=', userId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

// ------------------------------------------------------------------------------------------ sign-in

export interface MfaForSignIn extends MfaRequirement {
  /** The person's proven factors among those offered: challenge with one of these; none → enrol. */
  enrolled: MfaFactor[];
  hasRecoveryCodes: boolean;
}

/**
 * Step 7 of the sign-in (DESIGN.md §4): loads what section 054's rules need and applies them. With
 * `optional`, a person who has a proven factor is challenged (they opted in); one who has none is
 * offered enrolment and may skip it. With `required`, no proven factor means enrolment now.
 */
export async function mfaForSignIn(
  db: Db,
  input: { userId: string; organizationCode?: string | undefined; connectionId?: string | undefined; primaryChannel: PrimaryChannel },
): Promise<MfaForSignIn> {
  const environment = (await environmentPolicy(db)).mfa;
  const organization = input.organizationCode === undefined ? undefined : await organizationMfaPolicy(db, input.organizationCode);
  // Roles matter only to exempt someone, so they are read only when the organization exempts some.
  const userRoleKeys =
    input.organizationCode !== undefined && organization && organization.exemptRoleKeys.length > 0
      ? ((await memberRoleKeys(db, input.organizationCode, [input.userId])).get(input.userId) ?? [])
      : [];
  const connection = input.connectionId === undefined ? undefined : await connectionForSignIn(db, input.connectionId);
  const resolved = resolveMfaRequirement({
    environment,
    organization,
    userRoleKeys,
    signedInWithConnectionId: connection?.id,
    isEnterpriseConnection: connection !== undefined && isEnterpriseStrategy(connection.strategy),
    primaryMethod: { channel: input.primaryChannel },
  });
  if (resolved.requirement === 'none') return { ...resolved, enrolled: [], hasRecoveryCodes: false };
  const enrolled = (await listFactors(db, input.userId)).filter((factor) => factor.isVerified && resolved.factors.includes(factor.type));
  return { ...resolved, enrolled, hasRecoveryCodes: (await remainingRecoveryCodes(db, input.userId)) > 0 };
}
