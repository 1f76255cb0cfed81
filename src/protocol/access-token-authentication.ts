import type { Context } from 'koa';
import { findApplication } from '../domain/applications.ts';
import { findUser } from '../domain/users.ts';
import type { Db } from '../store/db.ts';
import { type AccessTokenVerifier, boundKeyOf, type VerifiedAccessToken } from './access-tokens.ts';
import { DPOP_ALGORITHMS, dpopProofProblem } from './dpop-proofs.ts';
import { isRevoked } from './revocation-list.ts';

export type TokenScheme = 'Bearer' | 'DPoP';

/** Why a request's access token was refused, as RFC 6750 §3 and RFC 9449 §7.1 phrase it. */
export interface TokenRefusal {
  scheme: TokenScheme;
  error: 'invalid_token' | 'invalid_dpop_proof';
  description: string;
}

export type TokenCheck = { token: VerifiedAccessToken; scheme: TokenScheme; refusal?: undefined } | { refusal: TokenRefusal; token?: undefined };

/** The `WWW-Authenticate` challenge for a refusal; a DPoP one names the proof algorithms (RFC 9449 §7.1). */
export function challenge(refusal: TokenRefusal): string {
  const algs = refusal.scheme === 'DPoP' ? `, algs="${DPOP_ALGORITHMS.join(' ')}"` : '';
  return `${refusal.scheme} error="${refusal.error}", error_description="${refusal.description}"${algs}`;
}

export const invalidToken = (scheme: TokenScheme, description: string): TokenRefusal => ({ scheme, error: 'invalid_token', description });

function presentedToken(authorization: string): { scheme: TokenScheme; value: string } | undefined {
  const match = /^(Bearer|DPoP) ([A-Za-z0-9\-._~+/]+=*)$/i.exec(authorization);
  if (!match) return undefined;
  return { scheme: match[1]!.toLowerCase() === 'dpop' ? 'DPoP' : 'Bearer', value: match[2]! };
}

/**
 * RFC 9449 §7.1: a DPoP-bound token is taken only under the DPoP scheme with a valid proof of its
 * key, so that a stolen one cannot be replayed as a bearer token; a token that is not bound is a
 * bearer token and says so.
 */
async function senderConstraintRefusal(db: Db, ctx: Context, presented: { scheme: TokenScheme; value: string }, token: VerifiedAccessToken): Promise<TokenRefusal | undefined> {
  const boundKey = boundKeyOf(token);
  if (!boundKey) return presented.scheme === 'DPoP' ? invalidToken('Bearer', 'the access token is not DPoP-bound: use the Bearer scheme') : undefined;
  if (presented.scheme !== 'DPoP') return invalidToken('DPoP', 'a DPoP-bound access token must be sent with the DPoP scheme and a proof');
  const problem = await dpopProofProblem(db, {
    proof: ctx.get('dpop') || undefined,
    method: ctx.method,
    url: ctx.href,
    accessToken: presented.value,
    boundKey,
  });
  return problem ? { scheme: 'DPoP', error: 'invalid_dpop_proof', description: problem } : undefined;
}

/**
 * The one check every Gatehouse endpoint that takes an access token runs (user profiles, account
 * API, management API): ours, unexpired, for this audience when one is required, presented as its
 * binding requires, and not revoked.
 */
export function accessTokenAuthenticator(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context, audience?: string): Promise<TokenCheck> => {
    const presented = presentedToken(ctx.get('authorization'));
    if (!presented) return { refusal: invalidToken('Bearer', 'an access token is required') };
    const token = await verify()(presented.value, audience);
    if (!token) return { refusal: invalidToken(presented.scheme, 'the access token is invalid or expired') };
    if (await isRevoked(db, token)) return { refusal: invalidToken(presented.scheme, 'the access token was revoked') };
    const refusal = await senderConstraintRefusal(db, ctx, presented, token);
    return refusal ? { refusal } : { token, scheme: presented.scheme };
  };
}

export type AccessTokenAuthenticator = ReturnType<typeof accessTokenAuthenticator>;

/** A token speaks for someone who still exists and may sign in: a person not suspended, or a live application. */
export async function subjectIsActive(db: Db, token: VerifiedAccessToken): Promise<boolean> {
  if (token.gty?.includes('client_credentials')) return typeof token.azp === 'string' && (await findApplication(db, token.azp)) !== undefined;
  const user = await findUser(db, token.sub);
  return user !== undefined && !user.isSuspended;
}

