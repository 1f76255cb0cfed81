import { createHash, createHmac, randomInt, timingSafeEqual } from 'node:crypto';

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';

/** Unbiased random string over an alphabet (randomInt rejects modulo bias). */
export function randomString(length: number, alphabet = ALPHANUMERIC): string {
  let out = '';
  for (let i = 0; i < length; i++) out += alphabet[randomInt(alphabet.length)];
  return out;
}

/** Kinde's SDKs reject client secrets that are not 40–60 alphanumerics. */
export function newClientSecret(): string {
  return randomString(50);
}

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}

export function hmacHex(key: Buffer, value: string): string {
  return createHmac('sha256', key).update(value).digest('hex');
}

/**
 * Whether `presented` is the secret whose SHA-256 hex digest is `storedDigest` (DESIGN.md §5: secrets
 * are stored as digests). Both sides are 64 hex characters, compared in constant time.
 */
export function sha256HexMatches(storedDigest: string, presented: string): boolean {
  const stored = Buffer.from(storedDigest);
  const given = Buffer.from(sha256Hex(presented));
  return stored.length === given.length && timingSafeEqual(stored, given);
}

/** Constant-time equality for strings of any length (compares digests, not the strings). */
export function safeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a).digest();
  const db = createHash('sha256').update(b).digest();
  return timingSafeEqual(da, db);
}
