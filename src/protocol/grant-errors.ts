import type { Context, Next } from 'koa';
import { ROUTES } from './provider-routes.ts';

/**
 * RFC 6749 §5.2: a client using a grant type it is not registered for gets `unauthorized_client`,
 * at the token endpoint and when it asks for a device code (RFC 8628 §3.2). The engine answers
 * `invalid_request` with these descriptions; the bad-input tests pin the wording.
 */
const GRANT_NOT_ALLOWED: Record<string, string> = {
  [ROUTES.token]: 'requested grant type is not allowed for this client',
  [ROUTES.device_authorization]: 'urn:ietf:params:oauth:grant-type:device_code is not allowed for this client',
};

export async function unauthorizedClientForForeignGrants(ctx: Context, next: Next): Promise<void> {
  await next();
  const notAllowed = GRANT_NOT_ALLOWED[ctx.path];
  if (!notAllowed || ctx.status !== 400) return;
  const body = ctx.body as { error?: string; error_description?: string } | undefined;
  if (body?.error === 'invalid_request' && body.error_description === notAllowed) body.error = 'unauthorized_client';
}
