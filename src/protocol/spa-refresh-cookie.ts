import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ROUTES } from './provider-routes.ts';

/**
 * js-utils keeps a browser application's refresh token out of JavaScript: the token endpoint sets it
 * as the HttpOnly `_kbrte` cookie, and refreshes send only the cookie (contract doc, "Browser refresh").
 */
export const REFRESH_COOKIE = '_kbrte';

function cookieOptions(ctx: Context) {
  // Cross-site SPAs need SameSite=None, which browsers only accept with Secure (so only over https).
  const secure = ctx.protocol === 'https';
  return { httpOnly: true, secure, sameSite: secure ? ('none' as const) : ('lax' as const), path: '/', overwrite: true, signed: false };
}

export async function spaRefreshCookie(ctx: Context, next: Next): Promise<void> {
  await next();
  const { oidc } = ctx as unknown as KoaContextWithOIDC;
  if (ctx.path !== ROUTES.token || ctx.status !== 200 || !oidc?.client) return;
  if (oidc.client['gatehouse_type'] !== 'spa') return;
  const body = ctx.body as { refresh_token?: string } | undefined;
  if (!body?.refresh_token) return;
  const ttl = oidc.client['refresh_token_ttl'];
  ctx.cookies.set(REFRESH_COOKIE, body.refresh_token, { ...cookieOptions(ctx), maxAge: (typeof ttl === 'number' ? ttl : 2_592_000) * 1000 });
}

export function clearRefreshCookie(ctx: Context): void {
  ctx.cookies.set(REFRESH_COOKIE, '', { ...cookieOptions(ctx), maxAge: 0 });
}
