import { createHash, pbkdf2 as pbkdf2Callback, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';
import { clock } from '../clock.ts';
import { argon2Hash, argon2Verify, bcryptVerify, HashingLaneStopped } from '../crypto/hashing-lanes.ts';
import { safeEqual } from '../crypto/secrets.ts';
import type { Db, Tx } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { COMMON_PASSWORD_MESSAGE, isCommonPassword } from './common-passwords.ts';
import { DomainError } from './errors.ts';

const pbkdf2 = promisify(pbkdf2Callback);

/** Kinde's rule (section 012): at least 8 characters, no composition rules, long passphrases welcome. */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

/** Why a new password is refused, in words for people; the one rule for sign-up, resets and admins. */
export function passwordProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `Use at most ${MAX_PASSWORD_LENGTH} characters`;
  if (isCommonPassword(password)) return COMMON_PASSWORD_MESSAGE;
  return undefined;
}

/**
 * argon2id at OWASP's first recommended configuration (Password Storage Cheat Sheet): 19 MiB of
 * memory, 2 passes, 1 lane. Memory-hard enough to make GPU guessing expensive, cheap enough
 * (~6 ms of CPU here) that sign-in stays fast.
 */
export const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return argon2Hash(password, ARGON2_OPTIONS);
}

/** A stored value that is not a hash of its kind never matches; a hashing thread that died is an error, not a wrong password. */
const noMatchUnlessLaneStopped = (error: unknown): false => {
  if (error instanceof HashingLaneStopped) throw error;
  return false;
};

function verifyArgon2(stored: string, password: string): Promise<boolean> {
  return argon2Verify(stored, password).catch(noMatchUnlessLaneStopped);
}

/** Algorithms a password hash can be imported in (Kinde's `hashing_method`, plus argon2). */
export const IMPORTABLE_METHODS = ['bcrypt', 'argon2', 'sha256', 'md5', 'pbkdf2'] as const;
export type ImportableMethod = (typeof IMPORTABLE_METHODS)[number];

export interface ImportedHash {
  method: ImportableMethod;
  hash: string;
  salt?: string;
  saltPosition?: 'prefix' | 'suffix';
  /** pbkdf2 only; Kinde's default is FusionAuth's 24,000. */
  iterations?: number;
  /** pbkdf2 only: salted-pbkdf2-hmac-sha256, salted-pbkdf2-hmac-sha256-512 or salted-pbkdf2-hmac-sha512-512. */
  variant?: string;
}

interface HashParams {
  salt?: string;
  saltPosition?: 'prefix' | 'suffix';
  iterations?: number;
  variant?: string;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

const PBKDF2_VARIANTS: Record<string, { digest: string; keyLength: number }> = {
  'salted-pbkdf2-hmac-sha256': { digest: 'sha256', keyLength: 32 },
  'salted-pbkdf2-hmac-sha256-512': { digest: 'sha256', keyLength: 64 },
  'salted-pbkdf2-hmac-sha512-512': { digest: 'sha512', keyLength: 64 },
};

/** Rejects an import that could never verify, so a typo does not lock a user out silently. */
function importProblem(imported: ImportedHash): string | undefined {
  switch (imported.method) {
    case 'bcrypt':
      return /^\$2[abxy]\$\d{2}\$[./A-Za-z0-9]{53}$/.test(imported.hash) ? undefined : 'hashed_password is not a bcrypt hash';
    case 'argon2':
      return /^\$argon2(id|i|d)\$/.test(imported.hash) ? undefined : 'hashed_password is not an argon2 PHC string';
    case 'sha256':
      return /^[0-9a-fA-F]{64}$/.test(imported.hash) ? undefined : 'hashed_password must be 64 hexadecimal characters';
    case 'md5':
      return /^[0-9a-fA-F]{32}$/.test(imported.hash) ? undefined : 'hashed_password must be 32 hexadecimal characters';
    case 'pbkdf2': {
      if (!imported.salt || !BASE64.test(imported.salt)) return 'salt is required for pbkdf2, base64-encoded';
      const variant = imported.variant ? PBKDF2_VARIANTS[imported.variant] : undefined;
      if (!variant) return `variant must be one of ${Object.keys(PBKDF2_VARIANTS).join(', ')}`;
      if (!BASE64.test(imported.hash) || Buffer.from(imported.hash, 'base64').length !== variant.keyLength) {
        return `hashed_password must be the ${variant.keyLength}-byte derived key, base64-encoded`;
      }
      // Each sign-in attempt derives the key again until the hash is upgraded: bound the cost.
      if (imported.iterations !== undefined && !(Number.isInteger(imported.iterations) && imported.iterations >= 1 && imported.iterations <= 5_000_000)) {
        return 'iterations must be a whole number from 1 to 5,000,000';
      }
      return undefined;
    }
  }
}

async function matchesImported(method: string, stored: string, params: HashParams, password: string): Promise<boolean> {
  const salted = () => (params.saltPosition === 'suffix' ? password + (params.salt ?? '') : (params.salt ?? '') + password);
  switch (method) {
    case 'bcrypt':
      return bcryptVerify(stored, password).catch(noMatchUnlessLaneStopped);
    case 'argon2':
      return verifyArgon2(stored, password);
    case 'sha256':
      return safeEqual(createHash('sha256').update(salted()).digest('hex'), stored.toLowerCase());
    case 'md5':
      return safeEqual(createHash('md5').update(salted()).digest('hex'), stored.toLowerCase());
    case 'pbkdf2': {
      const variant = PBKDF2_VARIANTS[params.variant ?? ''];
      if (!variant) return false;
      const derived = await pbkdf2(password, Buffer.from(params.salt ?? '', 'base64'), params.iterations ?? 24_000, variant.keyLength, variant.digest);
      const expected = Buffer.from(stored, 'base64');
      return expected.length === derived.length && timingSafeEqual(derived, expected);
    }
    default:
      return false;
  }
}

async function storeCredential(db: Db | Tx, userId: string, row: { password_hash: string; hashing_method: string; hash_params: string | null; is_temporary: 0 | 1 }): Promise<void> {
  const values = { ...row, updated_at: clock.now() };
  await db
    .insertInto('credentials')
    .values({ user_id: userId, ...values })
    .onConflict((oc) => oc.column('user_id').doUpdateSet(values))
    .execute();
}

/** One password per user, shared by every identity that signs in with a password (section 004). */
export async function setPassword(db: Db | Tx, userId: string, password: string, options: { temporary?: boolean } = {}): Promise<void> {
  await storePasswordHash(db, userId, await hashPassword(password), options);
}

/** A password hashed beforehand (`hashPassword`), so no transaction waits for the hashing. */
export async function storePasswordHash(db: Db | Tx, userId: string, argon2idHash: string, options: { temporary?: boolean } = {}): Promise<void> {
  await storeCredential(db, userId, { password_hash: argon2idHash, hashing_method: 'argon2id', hash_params: null, is_temporary: options.temporary ? 1 : 0 });
}

export async function importPasswordHash(db: Db | Tx, userId: string, imported: ImportedHash, options: { temporary?: boolean } = {}): Promise<void> {
  const problem = importProblem(imported);
  if (problem) throw new DomainError('INVALID_PASSWORD_HASH', problem, 400);
  const params: HashParams = { salt: imported.salt, saltPosition: imported.saltPosition, iterations: imported.iterations, variant: imported.variant };
  await storeCredential(db, userId, {
    password_hash: imported.hash,
    hashing_method: imported.method,
    hash_params: JSON.stringify(params),
    is_temporary: options.temporary ? 1 : 0,
  });
}

/** The stored hash as it came in (bulk import compares it to decide whether a row changed). */
export async function storedHash(db: Db | Tx, userId: string): Promise<{ method: string; hash: string } | undefined> {
  const row = await db.selectFrom('credentials').select(['hashing_method', 'password_hash']).where('user_id', '=', userId).executeTakeFirst();
  return row && { method: row.hashing_method, hash: row.password_hash };
}

export interface PasswordStatus {
  hasPassword: boolean;
  /** Set by an administrator: the user must choose a new password right after signing in with it. */
  isTemporary: boolean;
}

// Read on every password sign-in: compiled once (store/prepared.ts).
const selectTemporary = preparedQuery((db, { userId }: { userId: string }) => db.selectFrom('credentials').select('is_temporary').where('user_id', '=', userId));
const selectCredential = preparedQuery((db, { userId }: { userId: string }) => db.selectFrom('credentials').selectAll().where('user_id', '=', userId));

export async function passwordStatus(db: Db | Tx, userId: string): Promise<PasswordStatus> {
  const [row] = (await selectTemporary(db, { userId })).rows;
  return { hasPassword: Boolean(row), isTemporary: row?.is_temporary === 1 };
}

// A fixed hash to verify against when the user has no password, so both paths cost the same time.
let decoyHash: Promise<string> | undefined;

export type PasswordCheck = 'wrong' | 'right' | 'right_but_temporary';

/**
 * Checks a password in one read. An imported hash that matches is replaced by argon2id at once
 * (DESIGN.md §5: passwords are only ever stored as argon2id once Gatehouse has seen them).
 */
export async function checkPassword(db: Db | Tx, userId: string, password: string): Promise<PasswordCheck> {
  const [row] = (await selectCredential(db, { userId })).rows;
  const right = (matches: boolean): PasswordCheck => (!matches || !row ? 'wrong' : row.is_temporary === 1 ? 'right_but_temporary' : 'right');
  if (!row || row.hashing_method === 'argon2id') {
    decoyHash ??= hashPassword('gatehouse-decoy-password');
    return right(await verifyArgon2(row?.password_hash ?? (await decoyHash), password));
  }
  const params = row.hash_params ? (JSON.parse(row.hash_params) as HashParams) : {};
  if (!(await matchesImported(row.hashing_method, row.password_hash, params, password))) return 'wrong';
  await storeCredential(db, userId, { password_hash: await hashPassword(password), hashing_method: 'argon2id', hash_params: null, is_temporary: row.is_temporary });
  return right(true);
}

export async function verifyPassword(db: Db | Tx, userId: string, password: string): Promise<boolean> {
  return (await checkPassword(db, userId, password)) !== 'wrong';
}

export async function removePassword(db: Db | Tx, userId: string): Promise<void> {
  await db.deleteFrom('credentials').where('user_id', '=', userId).execute();
}
