import type { Context, Next } from 'koa';
import { isAuthorizedForManagementApi, managementAudience } from '../domain/apis.ts';
import { DomainError } from '../domain/errors.ts';
import { challenge } from '../protocol/access-token-authentication.ts';
import type { Services } from '../services.ts';
import { tokenScopes } from './scopes.ts';

export function kindeError(ctx: Context, status: number, code: string, message: string): void {
  ctx.status = status;
  ctx.body = { errors: [{ code, message }] };
}

/**
 * A client-credentials access token for this issuer's management audience: a Bearer token, or with
 * its proof when DPoP-bound (403 otherwise, as Kinde answers).
 */
export function managementAuth(services: Services) {
  const audience = managementAudience(services.config.issuer);
  return async (ctx: Context, next: Next): Promise<void> => {
    const { token: claims, refusal } = await services.authenticateAccessToken(ctx, audience);
    // RFC 9449 §7.1: a proof-of-possession failure is a 401 challenge; otherwise 403, as Kinde answers.
    if (refusal?.scheme === 'DPoP') {
      ctx.set('WWW-Authenticate', challenge(refusal));
      return kindeError(ctx, 401, 'UNAUTHORIZED', refusal.description);
    }
    const client = claims?.gty?.includes('client_credentials') ? claims.azp : undefined;
    if (!client || !(await isAuthorizedForManagementApi(services.db, client))) {
      return kindeError(ctx, 403, 'UNAUTHORIZED', 'A valid management API access token is required');
    }
    ctx.state.managementClient = client;
    ctx.state.managementScopes = tokenScopes(claims ?? {});
    ctx.set('Cache-Control', 'no-store');
    try {
      await next();
    } catch (error) {
      if (error instanceof DomainError) return kindeError(ctx, error.status, error.code, error.message);
      throw error;
    }
  };
}

export function notFound(ctx: Context): void {
  kindeError(ctx, 404, 'ROUTE_NOT_FOUND', 'The requested API route does not exist');
}
