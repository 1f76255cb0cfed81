import type { Context, Next } from 'koa';
import { isAllowedBrowserOrigin } from '../domain/applications.ts';
import type { Db } from '../store/db.ts';
import { ROUTES } from './provider-routes.ts';

/** Endpoints a browser application calls cross-origin with credentials (contract doc, "Browser refresh"). */
const CREDENTIALED_PATHS = [ROUTES.token, ROUTES.revocation, ROUTES.userinfo, '/oauth2/user_profile', '/logout'];
const isCredentialed = (path: string) => CREDENTIALED_PATHS.includes(path) || path.startsWith('/account_api/');

/**
 * CORS with exact origins: only the origins of browser applications' redirect URLs, echoed back with
 * `Access-Control-Allow-Credentials` and the `Kinde-SDK` header allowed. Other origins get no CORS
 * headers: their preflight is answered without them, and the engine refuses their token requests.
 */
export function credentialedCors(db: Db) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const origin = ctx.get('Origin');
    if (!origin || !isCredentialed(ctx.path)) return next();
    ctx.vary('Origin');
    const preflight = ctx.method === 'OPTIONS' && Boolean(ctx.get('Access-Control-Request-Method'));
    if (!(await isAllowedBrowserOrigin(db, origin))) {
      // Refuse the preflight outright rather than let the engine's permissive preflight through.
      if (preflight) ctx.status = 204;
      else await next();
      return;
    }
    ctx.set('Access-Control-Allow-Origin', origin);
    ctx.set('Access-Control-Allow-Credentials', 'true');
    if (preflight) {
      ctx.set('Access-Control-Allow-Methods', 'GET,POST,OPTIONS');
      ctx.set('Access-Control-Allow-Headers', 'Authorization,Content-Type,Kinde-SDK');
      ctx.set('Access-Control-Max-Age', '600');
      ctx.status = 204;
      return;
    }
    await next();
  };
}
