import type { Context, Next } from 'koa';
import type { ManagementScope } from '../domain/apis.ts';
import { kindeError } from './kinde-error.ts';

/*
 * A token for the management API carries the scopes it was issued with (`scp`): every scope its
 * application was given (domain/apis.ts `setApplicationScope`), or fewer when it asks
 * (`scope=read:users`), so a service that only reads users can hold a token that can do nothing else.
 * Each route declares the one it needs (route.ts).
 */

/** The scopes of the management token of this request (set by `managementAuth`). */
export function tokenScopes(claims: { scp?: unknown; scope?: unknown }): Set<string> {
  if (Array.isArray(claims.scp)) return new Set(claims.scp.filter((s): s is string => typeof s === 'string'));
  return new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
}

export function requireScope(scope: ManagementScope) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const granted = ctx.state.managementScopes as Set<string> | undefined;
    if (!granted?.has(scope)) return kindeError(ctx, 403, 'INSUFFICIENT_SCOPE', `This access token lacks the ${scope} scope`);
    await next();
  };
}
