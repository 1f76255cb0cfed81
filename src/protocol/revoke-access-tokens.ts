import type { Context, Next } from 'koa';
import type { Db } from '../store/db.ts';
import type { AccessTokenVerifier, VerifiedAccessToken } from './access-tokens.ts';
import { revokeGrant } from './adapter.ts';
import { oauthError } from './kinde-requests.ts';
import { ROUTES } from './provider-routes.ts';
import { GRANT_CLAIM, listRevokedAccessToken } from './revocation-list.ts';
import { callingApplication, looksLikeJwt } from './token-endpoint-callers.ts';

/**
 * Ends an access token, and the grant it came from as the engine does for the tokens it stores
 * (RFC 7009 §2.1 allows it: the refresh token of that grant stops working too).
 */
async function revokeAccessToken(db: Db, token: VerifiedAccessToken): Promise<void> {
  await listRevokedAccessToken(db, token);
  const grantId = token[GRANT_CLAIM];
  if (typeof grantId === 'string') await revokeGrant(db, grantId);
}

/**
 * RFC 7009 for Gatehouse's JWT access tokens, which the engine refuses (it does not store them).
 * Opaque tokens (refresh tokens) continue to the engine. A public application revokes by its
 * `client_id`, as at the engine; a confidential one proves its secret.
 */
export function revokeAccessTokens(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const body = (ctx.request as { body?: Record<string, unknown> }).body;
    if (ctx.path !== ROUTES.revocation || ctx.method !== 'POST' || !body || !looksLikeJwt(body.token)) return next();
    const caller = await callingApplication(db, body, { allowPublic: true });
    if (!caller) return oauthError(ctx, 401, 'invalid_client', 'client authentication failed');
    const token = await verify()(body.token);
    // §2.2: a token that is not valid, or not this application's, is answered like a revoked one.
    if (token && token.azp === caller.id) await revokeAccessToken(db, token);
    ctx.set('Cache-Control', 'no-store');
    ctx.status = 200;
    ctx.body = '';
  };
}
