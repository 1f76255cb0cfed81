import type { Context, Next } from 'koa';
import type { Application } from '../domain/applications.ts';
import { machineAudienceGrants } from '../domain/apis.ts';
import type { Db } from '../store/db.ts';
import { subjectIsActive } from './access-token-authentication.ts';
import { type AccessTokenVerifier, boundKeyOf, type VerifiedAccessToken } from './access-tokens.ts';
import { oauthError } from './kinde-requests.ts';
import { ROUTES } from './provider-routes.ts';
import { isRevoked } from './revocation-list.ts';
import { callingApplication, looksLikeJwt } from './token-endpoint-callers.ts';

/**
 * Who may learn about a token (RFC 7662 §4: the server decides, and must not tell everyone): the
 * application it was issued to, and the resource servers it was issued for. A resource server is a
 * machine-to-machine application authorized for an API whose audience the token carries (the same
 * authorization that lets it call that API with its own client credentials).
 */
async function mayIntrospect(db: Db, caller: Application, token: VerifiedAccessToken): Promise<boolean> {
  if (token.azp === caller.id) return true;
  if (caller.type !== 'm2m') return false;
  for (const audience of token.aud) {
    if (!('refused' in (await machineAudienceGrants(db, caller.id, [audience])))) return true;
  }
  return false;
}

/**
 * RFC 7662 for Gatehouse's JWT access tokens, which the engine does not store and so cannot
 * introspect. Every caller must be a confidential application; opaque tokens (refresh tokens) then
 * continue to the engine. Inactive is the answer for anything we did not issue, that expired, that
 * the caller may not see, that was revoked, or whose person is gone or suspended.
 */
export function introspectAccessTokens(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const body = (ctx.request as { body?: Record<string, unknown> }).body;
    // Without any client authentication the engine answers (invalid_request), as at its other endpoints.
    if (ctx.path !== ROUTES.introspection || ctx.method !== 'POST' || body?.client_id === undefined) return next();
    // RFC 7662 §2.1: the caller authenticates; a public application cannot, whatever the token.
    const caller = await callingApplication(db, body, { allowPublic: false });
    if (!caller) return oauthError(ctx, 401, 'invalid_client', 'client authentication failed');
    if (!looksLikeJwt(body.token)) return next();
    ctx.set('Cache-Control', 'no-store');
    const claims = await verify()(body.token);
    const active =
      claims !== undefined && (await mayIntrospect(db, caller, claims)) && !(await isRevoked(db, claims)) && (await subjectIsActive(db, claims));
    // RFC 9449 §6.2: a bound token is introspected as a DPoP token, with its `cnf`.
    ctx.body = active
      ? { active: true, ...claims, client_id: claims.azp ?? claims['client_id'], token_type: boundKeyOf(claims) ? 'DPoP' : 'Bearer' }
      : { active: false };
  };
}
