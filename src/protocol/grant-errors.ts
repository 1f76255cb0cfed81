import type { Context, Next } from 'koa';
import { ROUTES } from './provider-routes.ts';

/**
 * RFC 6749 §5.2: a client using a grant type it is not registered for gets `unauthorized_client`.
 * The engine answers `invalid_request` with this description; the bad-input tests pin the wording.
 */
const GRANT_NOT_ALLOWED = 'requested grant type is not allowed for this client';

export async function unauthorizedClientForForeignGrants(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.path !== ROUTES.token || ctx.status !== 400) return;
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === GRANT_NOT_ALLOWED) body.error = 'unauthorized_client';
}
