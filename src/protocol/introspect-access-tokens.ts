import type { Context, Next } from 'koa';
import { clientSecretMatches, findApplication, isPublicClient } from '../domain/applications.ts';
import type { Db } from '../store/db.ts';
import type { AccessTokenVerifier } from './access-tokens.ts';
import { ROUTES } from './provider-routes.ts';

const looksLikeJwt = (token: unknown): token is string => typeof token === 'string' && /^[\w-]+\.[\w-]+\.[\w-]+$/.test(token);

/**
 * RFC 7662 for Gatehouse's JWT access tokens, which the engine does not store and so cannot
 * introspect. Opaque tokens (refresh tokens) continue to the engine. The caller must be a
 * confidential application; inactive is the answer for anything we did not issue or that expired.
 */
export function introspectAccessTokens(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const body = (ctx.request as { body?: Record<string, unknown> }).body;
    if (ctx.path !== ROUTES.introspection || ctx.method !== 'POST' || !body || !looksLikeJwt(body.token)) return next();
    ctx.set('Cache-Control', 'no-store');
    const app = typeof body.client_id === 'string' ? await findApplication(db, body.client_id) : undefined;
    if (!app || isPublicClient(app.type) || !clientSecretMatches(app.clientSecretHash, body.client_secret)) {
      ctx.status = 401;
      ctx.body = { error: 'invalid_client', error_description: 'client authentication failed' };
      return;
    }
    const claims = await verify()(body.token);
    ctx.body = claims
      ? { active: true, ...claims, client_id: claims.azp ?? claims['client_id'], token_type: 'Bearer' }
      : { active: false };
  };
}
