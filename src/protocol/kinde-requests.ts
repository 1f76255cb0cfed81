import type { Context, Next } from 'koa';
import { audienceGrants, scopesOfGrants, machineAudienceGrants } from '../domain/apis.ts';
import { environmentPolicy } from '../domain/environment.ts';
import type { Db } from '../store/db.ts';
import { audienceResource, parseAudienceParam } from './audiences.ts';
import { type FormParams, readForm, toParams } from '../http/forms.ts';
import { ROUTES } from './provider-routes.ts';
import { REFRESH_TOKEN_COOKIE } from './spa-refresh-cookie.ts';

/**
 * Kinde's SDKs speak a dialect of OAuth: `audience` instead of `resource`, `prompt=create`, client
 * secrets in a Basic header or the body, refresh tokens in a cookie. These steps translate each one
 * into what the engine understands, before it runs; the engine itself stays unmodified.
 */

const FORM_ENDPOINTS = new Set<string>([ROUTES.token, ROUTES.introspection, ROUTES.revocation, ROUTES.device_authorization, ROUTES.pushed_authorization_request]);

type Params = FormParams;

export function oauthError(ctx: Context, status: number, error: string, description: string): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  ctx.body = { error, error_description: description };
}

function values(param: string | string[] | undefined): string[] {
  return param === undefined ? [] : Array.isArray(param) ? param : [param];
}

const requestedAudiences = (params: Params) => parseAudienceParam(values(params.audience));

/** `audience` in any of its three forms becomes one resource indicator (see audiences.ts). */
function audienceToResource(params: Params, audiences = requestedAudiences(params)): void {
  if (!('audience' in params)) return;
  delete params.audience;
  if (audiences.length > 0 && params.resource === undefined) params.resource = audienceResource(audiences);
}

/** `prompt=create` is Kinde's way of saying "start at registration" (contract doc, "/oauth2/auth parameters"). */
function promptCreateToStartPage(params: Params): void {
  const prompts = values(params.prompt).flatMap((p) => p.split(' '));
  if (!prompts.includes('create')) return;
  const rest = prompts.filter((p) => p !== 'create');
  if (rest.length > 0) params.prompt = rest.join(' ');
  else delete params.prompt;
  params.start_page = 'registration';
}

export async function kindeAuthorizationRequest(ctx: Context, next: Next): Promise<void> {
  if (ctx.path === ROUTES.authorization && ctx.method === 'GET' && /(^|&)(audience|prompt)=/.test(ctx.querystring)) {
    const params = toParams(new URLSearchParams(ctx.querystring));
    audienceToResource(params);
    promptCreateToStartPage(params);
    ctx.querystring = new URLSearchParams(Object.entries(params).flatMap(([k, v]) => values(v).map((x) => [k, x]))).toString();
  }
  await next();
}

/** RFC 6749 §2.3.1: both parts of a Basic credential are form-urlencoded before base64. */
function basicCredentials(header: string | undefined): { id: string; secret: string } | undefined {
  const match = /^Basic ([A-Za-z0-9+/]+=*)$/i.exec(header ?? '');
  if (!match?.[1]) return undefined;
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  try {
    const decode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));
    return { id: decode(decoded.slice(0, colon)), secret: decode(decoded.slice(colon + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * Kinde accepts client credentials in the body or a Basic header; the engine wants one registered
 * method, so a Basic credential is moved into the body (mixing both is refused, RFC 6749 §2.3).
 */
function basicToPost(ctx: Context, params: Params): boolean {
  const basic = basicCredentials(ctx.get('authorization'));
  if (!basic) return true;
  if (params.client_secret !== undefined || (params.client_id !== undefined && params.client_id !== basic.id)) return false;
  params.client_id = basic.id;
  params.client_secret = basic.secret;
  ctx.request.headers.authorization = '';
  delete ctx.req.headers.authorization;
  return true;
}

/** js-utils refreshes with no refresh token in the body, relying on the HttpOnly refresh cookie (contract doc). */
function refreshTokenFromCookie(ctx: Context, params: Params): void {
  if (params.grant_type !== 'refresh_token' || params.refresh_token !== undefined) return;
  const cookie = ctx.cookies.get(REFRESH_TOKEN_COOKIE);
  if (cookie) params.refresh_token = cookie;
}

/**
 * Kinde's client-credentials tokens carry every scope the application was granted on the audience
 * when it asked for none; the engine grants only what is requested, so the request is completed here.
 */
async function defaultClientCredentialsScope(db: Db, params: Params, audiences: string[]): Promise<void> {
  if (params.grant_type !== 'client_credentials' || (typeof params.scope === 'string' && params.scope.trim() !== '')) return;
  if (typeof params.client_id !== 'string') return;
  if (audiences.length === 0) {
    delete params.scope;
    return;
  }
  const grants = await machineAudienceGrants(db, params.client_id, audiences);
  if ('refused' in grants) return;
  const scopes = scopesOfGrants(grants);
  if (scopes.length > 0) params.scope = scopes.join(' ');
  else delete params.scope;
}

/**
 * Section 027: a device authorization may omit `client_id` when the environment has a default device
 * application (section 028, "Set as default"). False when it omits it and there is none.
 */
async function defaultDeviceApplication(db: Db, ctx: Context, params: Params): Promise<boolean> {
  if (ctx.path !== ROUTES.device_authorization || params.client_id !== undefined) return true;
  const applicationId = (await environmentPolicy(db)).defaultDeviceApplicationId;
  if (applicationId) params.client_id = applicationId;
  return applicationId !== undefined;
}

/** What a device asks for when it names no scope: who signed in (Gatehouse's choice; Kinde's docs send none). */
const DEFAULT_DEVICE_SCOPES = ['openid', 'profile', 'email'];

/**
 * Section 027: with an audience, a device gets every scope of that audience the person's roles grant.
 * So the device asks for all of the audience's scopes, and the consent screen grants the ones the
 * roles give (sign-in/after/device-consent.ts); a device that names no scope asks for DEFAULT_DEVICE_SCOPES.
 */
async function deviceAuthorizationScope(db: Db, ctx: Context, params: Params, audiences: string[]): Promise<void> {
  if (ctx.path !== ROUTES.device_authorization || typeof params.client_id !== 'string' || Array.isArray(params.scope)) return;
  const named = (params.scope ?? '').split(' ').filter((scope) => scope.length > 0);
  const grants = await audienceGrants(db, params.client_id, audiences);
  // An audience the application may not use is refused by the engine (invalid_target).
  const audienceScopes = 'refused' in grants ? [] : grants.flatMap((grant) => grant.scopes);
  params.scope = [...new Set([...(named.length > 0 ? named : DEFAULT_DEVICE_SCOPES), ...audienceScopes])].join(' ');
}

export function kindeFormRequest(db: Db) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || !FORM_ENDPOINTS.has(ctx.path)) return next();
    const params = await readForm(ctx);
    if (params === 'not_a_form') return next();
    if (params === 'too_large') return oauthError(ctx, 413, 'invalid_request', 'request body too large');
    if (!basicToPost(ctx, params)) {
      return oauthError(ctx, 400, 'invalid_request', 'client authentication must use one method: a Basic header or the request body');
    }
    refreshTokenFromCookie(ctx, params);
    const audiences = requestedAudiences(params);
    await defaultClientCredentialsScope(db, params, audiences);
    if (!(await defaultDeviceApplication(db, ctx, params))) {
      return oauthError(ctx, 400, 'invalid_request', 'client_id is required: no default device application is set');
    }
    await deviceAuthorizationScope(db, ctx, params, audiences);
    // A pushed authorization request (RFC 9126) speaks the same dialect as the query of /oauth2/auth.
    if (ctx.path === ROUTES.pushed_authorization_request) promptCreateToStartPage(params);
    audienceToResource(params, audiences);
    (ctx.request as { body?: unknown }).body = params;
    await next();
  };
}
