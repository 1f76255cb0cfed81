import Router from '@koa/router';
import type { Context } from 'koa';
import { featureFlagsFor } from '../domain/feature-flags.ts';
import { describePermissions, memberAccess } from '../domain/roles.ts';
import type { Services } from '../services.ts';
import type { Db } from '../store/db.ts';
import { challenge, invalidToken, subjectIsActive, type TokenRefusal, type TokenScheme } from './access-token-authentication.ts';
import type { VerifiedAccessToken } from './access-tokens.ts';

/**
 * Kinde's account API (contract doc, `/account_api/v1`): what the bearer of an access token may do in
 * the organization the token speaks for, read now rather than from the token (js-utils' `forceApi`).
 * Lists page with `starting_after` and `{data, metadata: {has_more, next_page_starting_after}}`.
 */
const PAGE_SIZE = 100;

function page<T extends { key: string }>(ctx: Context, items: T[]): { items: T[]; metadata: { has_more: boolean; next_page_starting_after: string | null } } {
  const after = typeof ctx.query.starting_after === 'string' ? ctx.query.starting_after : undefined;
  const start = after ? items.findIndex((item) => item.key === after) + 1 : 0;
  const slice = items.slice(start, start + PAGE_SIZE);
  const hasMore = start + PAGE_SIZE < items.length;
  return { items: slice, metadata: { has_more: hasMore, next_page_starting_after: hasMore ? (slice[slice.length - 1]?.key ?? null) : null } };
}

/** The account API speaks for a person who may still sign in: not for a machine, a suspended or a deleted person. */
async function personTokenRefusal(db: Db, token: VerifiedAccessToken, scheme: TokenScheme): Promise<TokenRefusal | undefined> {
  if (token.gty?.includes('client_credentials')) return invalidToken(scheme, 'a user access token is required');
  return (await subjectIsActive(db, token)) ? undefined : invalidToken(scheme, 'the access token does not belong to an active user');
}

export function accountApiRoutes(services: Services): Router {
  const router = new Router({ prefix: '/account_api/v1' });
  const { db } = services;

  router.use(async (ctx, next) => {
    const checked = await services.authenticateAccessToken(ctx);
    ctx.set('Cache-Control', 'no-store');
    const refusal = checked.refusal ?? (await personTokenRefusal(db, checked.token, checked.scheme));
    if (refusal) {
      ctx.status = 401;
      ctx.set('WWW-Authenticate', challenge(refusal));
      ctx.body = { errors: [{ code: 'UNAUTHORIZED', message: 'A valid user access token is required' }] };
      return;
    }
    ctx.state.token = checked.token;
    await next();
  });

  const orgCodeOf = (ctx: Context) => ((ctx.state.token as VerifiedAccessToken)['org_code'] as string | undefined) ?? null;
  const userOf = (ctx: Context) => (ctx.state.token as VerifiedAccessToken).sub;

  router.get('/permissions', async (ctx) => {
    const orgCode = orgCodeOf(ctx);
    const access = orgCode ? await memberAccess(db, orgCode, userOf(ctx)) : { roles: [], permissions: [] };
    const { items, metadata } = page(ctx, await describePermissions(db, access.permissions));
    ctx.body = { data: { org_code: orgCode, permissions: items }, metadata };
  });

  router.get('/permission/:key', async (ctx) => {
    const orgCode = orgCodeOf(ctx);
    const access = orgCode ? await memberAccess(db, orgCode, userOf(ctx)) : { roles: [], permissions: [] };
    ctx.body = { data: { org_code: orgCode, permission_key: ctx.params.key, is_granted: access.permissions.includes(ctx.params.key!) } };
  });

  router.get('/roles', async (ctx) => {
    const orgCode = orgCodeOf(ctx);
    const access = orgCode ? await memberAccess(db, orgCode, userOf(ctx)) : { roles: [], permissions: [] };
    const { items, metadata } = page(ctx, access.roles);
    ctx.body = { data: { org_code: orgCode, roles: items }, metadata };
  });

  router.get('/feature_flags', async (ctx) => {
    const flags = await featureFlagsFor(db, orgCodeOf(ctx) ?? undefined, userOf(ctx));
    const list = Object.entries(flags).map(([key, flag]) => ({ id: key, name: key, key, type: flag.t, value: flag.v }));
    const { items, metadata } = page(ctx, list);
    ctx.body = { data: { feature_flags: items }, metadata };
  });

  // Billing is not part of Gatehouse: an honest, empty answer keeps js-utils' helpers working.
  router.get('/entitlements', (ctx) => {
    ctx.body = { data: { org_code: orgCodeOf(ctx), plans: [], entitlements: [] }, metadata: { has_more: false, next_page_starting_after: null } };
  });

  return router;
}
