import { clock } from '../clock.ts';
import { longestTokenLifetimes } from '../domain/applications.ts';
import type { Db, Tx } from '../store/db.ts';
import type { VerifiedAccessToken } from './access-tokens.ts';
import { protocolRecords } from './protocol-records.ts';

/**
 * Access tokens are JWTs the engine does not store, so ending one early (RFC 7009 §2.1, and RFC 6749
 * §4.1.2 / RFC 9700 §4.14 when a code or refresh token is replayed) needs a list that every endpoint
 * taking access tokens consults: one token by its `jti`, or everything a grant issued by the grant id
 * each user token carries (GRANT_CLAIM). The list is rows of the engine's model table, so every replica
 * sees it at once, and each row expires when the last token it can end has expired; the clean-up timer
 * then deletes it. Issuing a token writes nothing; checking one is one primary-key lookup.
 */
const KIND = 'RevokedToken';

/** The private claim naming the grant a user's access token came from (not in Kinde's tokens). */
export const GRANT_CLAIM = 'grant_id';

const grantEntry = (grantId: string) => `grant:${grantId}`;
const tokenEntry = (jti: string) => `jti:${jti}`;

/** A grant's access tokens may have been issued up to the longest access-token lifetime ago. */
export async function listRevokedGrants(db: Db | Tx, grantIds: readonly string[]): Promise<void> {
  if (grantIds.length === 0) return;
  const expiresAt = clock.now() + (await longestTokenLifetimes(db)).accessToken * 1000;
  for (const grantId of grantIds) await protocolRecords.create(db, KIND, grantEntry(grantId), '', expiresAt);
}

export async function listRevokedAccessToken(db: Db, token: VerifiedAccessToken): Promise<void> {
  if (typeof token.jti !== 'string' || typeof token.exp !== 'number') return;
  await protocolRecords.create(db, KIND, tokenEntry(token.jti), '', token.exp * 1000);
}

export function isRevoked(db: Db, token: VerifiedAccessToken): Promise<boolean> {
  const grantId = token[GRANT_CLAIM];
  const entries = [
    ...(typeof token.jti === 'string' ? [tokenEntry(token.jti)] : []),
    ...(typeof grantId === 'string' ? [grantEntry(grantId)] : []),
  ];
  return protocolRecords.anyLive(db, KIND, entries);
}
