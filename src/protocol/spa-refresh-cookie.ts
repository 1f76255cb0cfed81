import type { Context, Next } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ROUTES } from './provider-routes.ts';

/**
 * A browser application's refresh token lives in an HttpOnly cookie that only Gatehouse's token
 * endpoint receives: refreshes send the cookie alone (contract doc, "Browser refresh via cookie").
 * Host-only and scoped to the token endpoint, so no other host or path ever sees the secret.
 */
export const REFRESH_TOKEN_COOKIE = '_gatehouse_refresh';

/**
 * js-utils' `checkAuth` (lib/utils/checkAuth.ts) starts a cookie refresh only when `document.cookie`
 * holds `_kbrte`; it reads nothing but its presence. So `_kbrte` is a JavaScript-readable marker
 * ("a refresh cookie exists") that carries no secret, set for the cookie domain so an application on
 * a sibling subdomain can read it.
 */
export const REFRESH_MARKER_COOKIE = '_kbrte';
const MARKER_VALUE = '1';

/** Refresh-token lifetime when the application names none (protocol/provider.ts, `ttl.RefreshToken`). */
const DEFAULT_LIFETIME_SECONDS = 2_592_000;

interface CookieAttributes {
  httpOnly: boolean;
  secure: boolean;
  sameSite: 'lax' | 'none';
  path: string;
  domain?: string;
}

/**
 * The refresh cookie must reach the token endpoint from the application's origin: a cross-site
 * application needs SameSite=None, which browsers accept only with Secure (so over https only);
 * over plain http (development), Lax still covers an application on the same site.
 */
function refreshTokenAttributes(ctx: Context): CookieAttributes {
  const secure = ctx.protocol === 'https';
  return { httpOnly: true, secure, sameSite: secure ? 'none' : 'lax', path: ROUTES.token };
}

/** The marker is only read by the application's own pages, never sent cross-site: Lax is enough. */
function markerAttributes(ctx: Context, domain: string | undefined): CookieAttributes {
  return { httpOnly: false, secure: ctx.protocol === 'https', sameSite: 'lax', path: '/', ...(domain ? { domain } : {}) };
}

function setCookie(ctx: Context, name: string, value: string, attributes: CookieAttributes, maxAgeSeconds: number): void {
  ctx.cookies.set(name, value, { ...attributes, maxAge: maxAgeSeconds * 1000, overwrite: true, signed: false });
}

/** Not `overwrite`: that drops every earlier Set-Cookie of the same name, such as `_kbrte` for another domain. */
function clearCookie(ctx: Context, name: string, attributes: CookieAttributes): void {
  ctx.cookies.set(name, '', { ...attributes, maxAge: 0, overwrite: false, signed: false });
}

/**
 * The engine refused (RFC 6749 §5.2 `invalid_grant`: expired, revoked, its session ended) the very
 * refresh token the cookie holds. Kept, its marker would have js-utils retry it at every page load.
 */
function refusedCookieToken(ctx: Context): boolean {
  if (ctx.status !== 400 || (ctx.body as { error?: unknown } | undefined)?.error !== 'invalid_grant') return false;
  const params = (ctx.request as { body?: { grant_type?: unknown; refresh_token?: unknown } }).body;
  const cookie = ctx.cookies.get(REFRESH_TOKEN_COOKIE);
  return params?.grant_type === 'refresh_token' && cookie !== undefined && params.refresh_token === cookie;
}

export interface BrowserRefreshCookies {
  /**
   * Token endpoint step: a browser application's refresh token goes into the cookies, with its
   * marker; a refused cookie token takes both away.
   */
  onTokenResponse(ctx: Context, next: Next): Promise<void>;
  /** `/logout`: both cookies go, so js-utils stops refreshing (contract doc, `GET /logout`). */
  clear(ctx: Context): void;
}

/** `cookieDomain` (GATEHOUSE_COOKIE_DOMAIN) is where the marker is visible; unset, only Gatehouse's host. */
export function browserRefreshCookies(cookieDomain: string | undefined): BrowserRefreshCookies {
  function clear(ctx: Context): void {
    clearCookie(ctx, REFRESH_TOKEN_COOKIE, refreshTokenAttributes(ctx));
    clearCookie(ctx, REFRESH_MARKER_COOKIE, markerAttributes(ctx, cookieDomain));
    // A host-only `_kbrte` from before GATEHOUSE_COOKIE_DOMAIN was set (or from earlier versions,
    // which kept the token itself in it) would otherwise outlive the sign-out.
    if (cookieDomain) clearCookie(ctx, REFRESH_MARKER_COOKIE, markerAttributes(ctx, undefined));
  }

  /** `applicationTtl`: the application's refresh-token lifetime (protocol/clients.ts), so both cookies end with the token. */
  function set(ctx: Context, refreshToken: string, applicationTtl: unknown): void {
    const lifetime = typeof applicationTtl === 'number' ? applicationTtl : DEFAULT_LIFETIME_SECONDS;
    setCookie(ctx, REFRESH_TOKEN_COOKIE, refreshToken, refreshTokenAttributes(ctx), lifetime);
    setCookie(ctx, REFRESH_MARKER_COOKIE, MARKER_VALUE, markerAttributes(ctx, cookieDomain), lifetime);
  }

  return {
    async onTokenResponse(ctx, next) {
      await next();
      if (ctx.path !== ROUTES.token) return;
      if (refusedCookieToken(ctx)) return clear(ctx);
      const { oidc } = ctx as unknown as KoaContextWithOIDC;
      const refreshToken = (ctx.body as { refresh_token?: unknown } | undefined)?.refresh_token;
      if (ctx.status === 200 && oidc?.client?.['gatehouse_type'] === 'spa' && typeof refreshToken === 'string') {
        set(ctx, refreshToken, oidc.client['refresh_token_ttl']);
      }
    },
    clear,
  };
}
