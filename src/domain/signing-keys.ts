import { generateKeyPairSync } from 'node:crypto';
import { clock } from '../clock.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import { randomString } from '../crypto/secrets.ts';
import { type Db, inTransaction, type Tx } from '../store/db.ts';

export interface SigningJwk {
  kty: 'RSA';
  kid: string;
  alg: 'RS256';
  use: 'sig';
  n: string;
  e: string;
  [member: string]: unknown;
}

export interface KeySet {
  /** Private JWKs, the one signing now first: oidc-provider signs with the first usable key. */
  privateKeys: SigningJwk[];
  /** Identifies the set, so replicas can tell when another one rotated. */
  fingerprint: string;
}

/**
 * Every JOSE header Gatehouse signs with. `@kinde/jwt-validator` decodes the header with plain `atob`,
 * which throws on `-` and `_`, so a kid is only accepted when each of these headers base64url-encodes
 * without them (contract doc, "Tokens"). Alphanumeric kids always do (only a byte whose low six bits
 * are 62 or 63, such as '~' or '?', can produce them); the check keeps that true if kids ever change.
 */
const HEADER_SHAPES = [
  (kid: string) => ({ alg: 'RS256', typ: 'at+jwt', kid }),
  (kid: string) => ({ alg: 'RS256', kid }),
  (kid: string) => ({ alg: 'RS256', typ: 'JWT', kid }),
  (kid: string) => ({ alg: 'RS256', typ: 'logout+jwt', kid }),
];

export function encodesCleanly(kid: string): boolean {
  return HEADER_SHAPES.every((shape) => !/[-_]/.test(Buffer.from(JSON.stringify(shape(kid))).toString('base64url')));
}

export function newKid(): string {
  for (;;) {
    const kid = randomString(24);
    if (encodesCleanly(kid)) return kid;
  }
}

function generateSigningJwk(): SigningJwk {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, string>;
  return { ...jwk, kty: 'RSA', kid: newKid(), alg: 'RS256', use: 'sig' } as SigningJwk;
}

function publicPart(jwk: SigningJwk): SigningJwk {
  const { kty, kid, alg, use, n, e } = jwk;
  return { kty, kid, alg, use, n, e };
}

async function insertKey(db: Db | Tx, master: MasterKey, activeFrom: number): Promise<SigningJwk> {
  const jwk = generateSigningJwk();
  await db
    .insertInto('signing_keys')
    .values({
      kid: jwk.kid,
      public_jwk: JSON.stringify(publicPart(jwk)),
      private_jwk_sealed: master.seal(JSON.stringify(jwk), `signing-key:${jwk.kid}`),
      created_at: clock.now(),
      active_from: activeFrom,
      retired_at: null,
      expires_at: null,
    })
    .execute();
  return jwk;
}

/**
 * First start: one key, signing at once. Replicas starting together race here; the settings row is
 * the tie-breaker (its primary key lets exactly one transaction claim the first key).
 */
export async function ensureSigningKey(db: Db, master: MasterKey): Promise<void> {
  const existing = await db.selectFrom('signing_keys').select('kid').limit(1).executeTakeFirst();
  if (existing) return;
  await inTransaction(db, async (tx) => {
    const claimed = await tx
      .insertInto('settings')
      .values({ key: 'first_signing_key', value: JSON.stringify(clock.now()) })
      .onConflict((oc) => oc.column('key').doNothing())
      .executeTakeFirst();
    if (Number(claimed.numInsertedOrUpdatedRows ?? 0n) === 1) await insertKey(tx, master, clock.now());
  });
}

export interface RotationPlan {
  /** How long the new key is only published before it signs, so JWKS caches pick it up first. */
  publishAheadMs: number;
  /** The longest any token signed by the old key can live; it stays in the JWKS that much longer. */
  longestTokenLifetimeMs: number;
}

/** Rotation: publish a new key now, switch signing to it later, drop the old one when its tokens are dead. */
export async function rotateSigningKeys(db: Db, master: MasterKey, plan: RotationPlan): Promise<{ kid: string; activeFrom: number }> {
  const activeFrom = clock.now() + plan.publishAheadMs;
  const jwk = await insertKey(db, master, activeFrom);
  await db
    .updateTable('signing_keys')
    .set({ retired_at: activeFrom, expires_at: activeFrom + plan.longestTokenLifetimeMs })
    .where('kid', '!=', jwk.kid)
    .where('retired_at', 'is', null)
    .execute();
  return { kid: jwk.kid, activeFrom };
}

export async function loadKeySet(db: Db, master: MasterKey): Promise<KeySet> {
  const now = clock.now();
  const rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  const signingNow = (row: (typeof rows)[number]) => row.active_from <= now && (row.retired_at === null || row.retired_at > now);
  // The newest key that may sign now goes first; published-only and retired keys follow.
  const ordered = rows.sort((a, b) => Number(signingNow(b)) - Number(signingNow(a)) || b.active_from - a.active_from);
  const privateKeys = ordered.map((row) => JSON.parse(master.open(row.private_jwk_sealed, `signing-key:${row.kid}`)) as SigningJwk);
  const fingerprint = ordered.map((row) => `${row.kid}:${signingNow(row) ? 'signs' : 'published'}`).join(',');
  return { privateKeys, fingerprint };
}
