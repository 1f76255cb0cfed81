import { hash, verify } from '@node-rs/argon2';
import { clock } from '../clock.ts';
import type { Db, Tx } from '../store/db.ts';

/** Kinde's rule (section 012): at least 8 characters, no composition rules, long passphrases welcome. */
export const MIN_PASSWORD_LENGTH = 8;
export const MAX_PASSWORD_LENGTH = 256;

export function passwordProblem(password: string): string | undefined {
  if ([...password].length < MIN_PASSWORD_LENGTH) return `Use at least ${MIN_PASSWORD_LENGTH} characters`;
  if (password.length > MAX_PASSWORD_LENGTH) return `Use at most ${MAX_PASSWORD_LENGTH} characters`;
  return undefined;
}

// argon2id with OWASP's recommended minimum (19 MiB, 2 passes); @node-rs/argon2 defaults to argon2id.
const ARGON2_OPTIONS = { memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, ARGON2_OPTIONS);
}

export async function setPassword(db: Db | Tx, userId: string, password: string): Promise<void> {
  const passwordHash = await hashPassword(password);
  await db
    .insertInto('credentials')
    .values({ user_id: userId, password_hash: passwordHash, updated_at: clock.now() })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ password_hash: passwordHash, updated_at: clock.now() }))
    .execute();
}

export async function hasPassword(db: Db | Tx, userId: string): Promise<boolean> {
  return Boolean(await db.selectFrom('credentials').select('user_id').where('user_id', '=', userId).executeTakeFirst());
}

// A fixed hash to verify against when the user has no password, so both paths cost the same time.
let decoyHash: Promise<string> | undefined;

export async function verifyPassword(db: Db | Tx, userId: string, password: string): Promise<boolean> {
  const row = await db.selectFrom('credentials').select('password_hash').where('user_id', '=', userId).executeTakeFirst();
  decoyHash ??= hash('gatehouse-decoy-password', ARGON2_OPTIONS);
  const stored = row?.password_hash ?? (await decoyHash);
  const matches = await verify(stored, password).catch(() => false);
  return Boolean(row) && matches;
}
