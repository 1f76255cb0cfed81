import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ManagementScope } from '../domain/apis.ts';
import { kindeError } from './kinde-error.ts';

/**
 * The scope each management route needs, by method and path (as registered, without `/api/v1`).
 * A token for the management API carries the scopes it was issued with (`scp`): every scope its
 * application was given (domain/apis.ts `setApplicationScope`), or fewer when it asks
 * (`scope=read:users`), so a service that only reads users can hold a token that can do nothing else.
 */
export const ROUTE_SCOPES: Record<string, ManagementScope> = {
  'GET /users': 'read:users',
  'POST /users/import': 'create:users',
  'GET /users/import/:job_id': 'read:users',
  'GET /user': 'read:users',
  'POST /user': 'create:users',
  'PATCH /user': 'update:users',
  'DELETE /user': 'delete:users',
  'PUT /users/:user_id/password': 'update:users',
  'POST /users/:user_id/refresh_claims': 'update:users',
  'GET /users/:user_id/identities': 'read:users',
  'POST /users/:user_id/identities': 'update:users',
  'GET /identities/:identity_id': 'read:users',
  'PATCH /identities/:identity_id': 'update:users',
  'DELETE /identities/:identity_id': 'update:users',
  'GET /users/:user_id/mfa': 'read:users',
  'DELETE /users/:user_id/mfa': 'update:users',
  'DELETE /users/:user_id/mfa/:factor_id': 'update:users',
  'GET /users/:user_id/sessions': 'read:users',
  'DELETE /users/:user_id/sessions': 'update:users',
  'PATCH /users/:user_id/feature_flags/:feature_flag_key': 'update:users',
  'DELETE /users/:user_id/feature_flags/:feature_flag_key': 'update:users',

  'GET /organizations': 'read:organizations',
  'GET /organization': 'read:organizations',
  'POST /organization': 'create:organizations',
  'PATCH /organization/:org_code': 'update:organizations',
  'DELETE /organization/:org_code': 'delete:organizations',
  'GET /organizations/:org_code/mfa': 'read:organizations',
  'PUT /organizations/:org_code/mfa': 'update:organizations',
  'PATCH /organizations/:org_code/sessions': 'update:organizations',
  'GET /organizations/:org_code/users': 'read:organizations',
  'POST /organizations/:org_code/users': 'update:organizations',
  'PATCH /organizations/:org_code/users': 'update:organizations',
  'DELETE /organizations/:org_code/users/:user_id': 'update:organizations',
  'GET /organizations/:org_code/users/:user_id/roles': 'read:organizations',
  'POST /organizations/:org_code/users/:user_id/roles': 'update:organizations',
  'DELETE /organizations/:org_code/users/:user_id/roles/:role_id': 'update:organizations',
  'GET /organizations/:org_code/users/:user_id/permissions': 'read:organizations',
  'POST /organizations/:org_code/users/:user_id/permissions': 'update:organizations',
  'DELETE /organizations/:org_code/users/:user_id/permissions/:permission_id': 'update:organizations',
  'GET /organizations/:org_code/users/:user_id/mfa': 'read:users',
  'DELETE /organizations/:org_code/users/:user_id/mfa': 'update:users',
  'DELETE /organizations/:org_code/users/:user_id/mfa/:factor_id': 'update:users',
  'GET /organizations/:org_code/connections': 'read:organizations',
  'POST /organizations/:org_code/connections/:connection_id': 'update:organizations',
  'DELETE /organizations/:org_code/connections/:connection_id': 'update:organizations',
  'GET /organizations/:org_code/feature_flags': 'read:organizations',
  'DELETE /organizations/:org_code/feature_flags': 'update:organizations',
  'PATCH /organizations/:org_code/feature_flags/:feature_flag_key': 'update:organizations',
  'DELETE /organizations/:org_code/feature_flags/:feature_flag_key': 'update:organizations',

  'GET /roles': 'read:roles',
  'POST /roles': 'create:roles',
  'GET /roles/:role_id': 'read:roles',
  'PATCH /roles/:role_id': 'update:roles',
  'DELETE /roles/:role_id': 'delete:roles',
  'GET /roles/:role_id/permissions': 'read:roles',
  'PATCH /roles/:role_id/permissions': 'update:roles',
  'DELETE /roles/:role_id/permissions/:permission_id': 'update:roles',
  'GET /permissions': 'read:permissions',
  'POST /permissions': 'create:permissions',
  'PATCH /permissions/:permission_id': 'update:permissions',
  'DELETE /permissions/:permission_id': 'delete:permissions',

  'POST /feature_flags': 'update:feature_flags',
  'PUT /feature_flags/:feature_flag_key': 'update:feature_flags',
  'DELETE /feature_flags/:feature_flag_key': 'update:feature_flags',
  'GET /environment/feature_flags': 'read:feature_flags',
  'GET /environment/settings': 'read:environments',
  'PATCH /environment/settings': 'update:environments',
  'GET /mfa': 'read:environments',
  'PUT /mfa': 'update:environments',

  'GET /applications': 'read:applications',
  'POST /applications': 'create:applications',
  'GET /applications/:application_id': 'read:applications',
  'PATCH /applications/:application_id': 'update:applications',
  'DELETE /applications/:application_id': 'delete:applications',
  'PATCH /applications/:application_id/tokens': 'update:applications',
  'GET /applications/:app_id/auth_redirect_urls': 'read:applications',
  'POST /applications/:app_id/auth_redirect_urls': 'update:applications',
  'PUT /applications/:app_id/auth_redirect_urls': 'update:applications',
  'DELETE /applications/:app_id/auth_redirect_urls': 'update:applications',
  'GET /applications/:app_id/auth_logout_urls': 'read:applications',
  'POST /applications/:app_id/auth_logout_urls': 'update:applications',
  'PUT /applications/:app_id/auth_logout_urls': 'update:applications',
  'DELETE /applications/:app_id/auth_logout_urls': 'update:applications',
  'GET /applications/:application_id/connections': 'read:applications',
  'POST /applications/:application_id/connections/:connection_id': 'update:applications',
  'DELETE /applications/:application_id/connections/:connection_id': 'update:applications',
  'GET /connections': 'read:connections',
  'POST /connections': 'create:connections',
  'GET /connections/:connection_id': 'read:connections',
  'PATCH /connections/:connection_id': 'update:connections',
  'PUT /connections/:connection_id': 'update:connections',
  'DELETE /connections/:connection_id': 'delete:connections',
  'POST /connections/:connection_id/refresh_metadata': 'update:connections',

  'GET /apis': 'read:apis',
  'POST /apis': 'create:apis',
  'GET /apis/:api_id': 'read:apis',
  'DELETE /apis/:api_id': 'delete:apis',
  'PATCH /apis/:api_id/applications': 'update:apis',
  'POST /apis/:api_id/applications/:application_id/scopes/:scope_id': 'update:apis',
  'DELETE /apis/:api_id/applications/:application_id/scopes/:scope_id': 'update:apis',
  'GET /apis/:api_id/scopes': 'read:apis',
  'POST /apis/:api_id/scopes': 'update:apis',
  'GET /apis/:api_id/scopes/:scope_id': 'read:apis',
  'DELETE /apis/:api_id/scopes/:scope_id': 'update:apis',

  'GET /event_types': 'read:events',
  'GET /events': 'read:events',
  'GET /events/:event_id': 'read:events',
  'POST /events/:event_id/redeliver': 'update:webhooks',
  'GET /webhooks': 'read:webhooks',
  'POST /webhooks': 'create:webhooks',
  'PATCH /webhooks/:webhook_id': 'update:webhooks',
  'DELETE /webhooks/:webhook_id': 'delete:webhooks',
  'GET /webhooks/:webhook_id/deliveries': 'read:webhooks',

  'GET /access_requests': 'read:access_requests',
  'POST /access_requests/:access_request_id/approve': 'update:access_requests',
  'POST /access_requests/:access_request_id/deny': 'update:access_requests',
};

/** The scopes of the management token of this request (set by `managementAuth`). */
export function tokenScopes(claims: { scp?: unknown; scope?: unknown }): Set<string> {
  if (Array.isArray(claims.scp)) return new Set(claims.scp.filter((s): s is string => typeof s === 'string'));
  return new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
}

function requireScope(scope: ManagementScope) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const granted = ctx.state.managementScopes as Set<string> | undefined;
    if (!granted?.has(scope)) return kindeError(ctx, 403, 'INSUFFICIENT_SCOPE', `This access token lacks the ${scope} scope`);
    await next();
  };
}

/**
 * Puts the scope check in front of every route of the management router. A route missing from
 * ROUTE_SCOPES stops start-up, so no route is ever left unguarded by accident.
 */
export function guardRoutesWithScopes(router: Router, prefix: string, except: ReadonlySet<string>): void {
  for (const layer of router.stack) {
    const methods = layer.methods.filter((m) => m !== 'HEAD');
    if (methods.length === 0) continue;
    const registered = String(layer.path);
    const path = registered.startsWith(prefix) ? registered.slice(prefix.length) : registered;
    if (except.has(path)) continue;
    const [method] = methods;
    if (methods.length > 1) throw new Error(`management route ${path} answers ${methods.join(', ')}: register one method per route so each has its scope`);
    const scope = ROUTE_SCOPES[`${method} ${path}`];
    if (!scope) throw new Error(`management route ${method} ${path} has no scope in ROUTE_SCOPES`);
    layer.stack.unshift(requireScope(scope) as (typeof layer.stack)[number]);
  }
}
