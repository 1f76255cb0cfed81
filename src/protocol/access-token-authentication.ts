import type { Context } from 'koa';
import type { Db } from '../store/db.ts';
import { type AccessTokenVerifier, bearerToken, type VerifiedAccessToken } from './access-tokens.ts';
import { isRevoked } from './revocation-list.ts';

/** Why a request's access token was refused, as RFC 6750 §3 (and RFC 9449 §7.1) phrase it. */
export interface TokenRefusal {
  scheme: 'Bearer' | 'DPoP';
  error: 'invalid_token' | 'invalid_dpop_proof';
  description: string;
}

export type TokenCheck = { token: VerifiedAccessToken; refusal?: undefined } | { refusal: TokenRefusal; token?: undefined };

/** The `WWW-Authenticate` challenge for a refusal. */
export function challenge(refusal: TokenRefusal): string {
  return `${refusal.scheme} error="${refusal.error}", error_description="${refusal.description}"`;
}

const refuse = (description: string): TokenCheck => ({ refusal: { scheme: 'Bearer', error: 'invalid_token', description } });

/**
 * The one check every Gatehouse endpoint that takes an access token runs (user profile, account API,
 * management API): ours, unexpired, for this audience when one is required, and not revoked.
 */
export function accessTokenAuthenticator(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context, audience?: string): Promise<TokenCheck> => {
    const presented = bearerToken(ctx.get('authorization'));
    if (!presented) return refuse('a Bearer access token is required');
    const token = await verify()(presented, audience);
    if (!token) return refuse('the access token is invalid or expired');
    if (await isRevoked(db, token)) return refuse('the access token was revoked');
    return { token };
  };
}

export type AccessTokenAuthenticator = ReturnType<typeof accessTokenAuthenticator>;
