import type Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ManagementScope } from '../domain/apis.ts';
import { kindeError } from './http.ts';

/**
 * The scope each management route needs, by method and path (as registered, without `/api/v1`).
 * A token for the management API carries the scopes it was issued with (`scp`); an authorized
 * application gets every scope unless it asks for fewer (`scope=read:users`), so a service that only
 * reads users can hold a token that can do nothing else.
 */
export const ROUTE_SCOPES: Record<string, ManagementScope> = {
  'GET /users': 'read:users',
  'GET /user': 'read:users',
  'POST /user': 'create:users',
  'PATCH /user': 'update:users',
  'DELETE /user': 'delete:users',
  'PUT /users/:user_id/password': 'update:user_passwords',
  'POST /users/:user_id/refresh_claims': 'update:user_refresh_claims',
  'GET /users/:user_id/identities': 'read:user_identities',
  'POST /users/:user_id/identities': 'create:user_identities',
  'GET /identities/:identity_id': 'read:identities',
  'PATCH /identities/:identity_id': 'update:identities',
  'DELETE /identities/:identity_id': 'delete:identities',
  'GET /users/:user_id/mfa': 'read:user_mfa',
  'DELETE /users/:user_id/mfa': 'delete:user_mfa',
  'DELETE /users/:user_id/mfa/:factor_id': 'delete:user_mfa',
  'GET /users/:user_id/sessions': 'read:user_sessions',
  'DELETE /users/:user_id/sessions': 'delete:user_sessions',
  'PATCH /users/:user_id/feature_flags/:feature_flag_key': 'update:user_feature_flags',
  'DELETE /users/:user_id/feature_flags/:feature_flag_key': 'delete:user_feature_flags',

  'GET /organizations': 'read:organizations',
  'GET /organization': 'read:organizations',
  'POST /organization': 'create:organizations',
  'PATCH /organization/:org_code': 'update:organizations',
  'DELETE /organization/:org_code': 'delete:organizations',
  'GET /organizations/:org_code/mfa': 'read:organizations',
  'PUT /organizations/:org_code/mfa': 'update:organizations',
  'PATCH /organizations/:org_code/sessions': 'update:organizations',
  'GET /organizations/:org_code/users': 'read:organization_users',
  'POST /organizations/:org_code/users': 'create:organization_users',
  'PATCH /organizations/:org_code/users': 'update:organization_users',
  'DELETE /organizations/:org_code/users/:user_id': 'delete:organization_users',
  'GET /organizations/:org_code/users/:user_id/roles': 'read:organization_user_roles',
  'POST /organizations/:org_code/users/:user_id/roles': 'create:organization_user_roles',
  'DELETE /organizations/:org_code/users/:user_id/roles/:role_id': 'delete:organization_user_roles',
  'GET /organizations/:org_code/users/:user_id/permissions': 'read:organization_user_permissions',
  'POST /organizations/:org_code/users/:user_id/permissions': 'create:organization_user_permissions',
  'DELETE /organizations/:org_code/users/:user_id/permissions/:permission_id': 'delete:organization_user_permissions',
  'GET /organizations/:org_code/users/:user_id/mfa': 'read:organization_user_mfa',
  'DELETE /organizations/:org_code/users/:user_id/mfa': 'delete:organization_user_mfa',
  'DELETE /organizations/:org_code/users/:user_id/mfa/:factor_id': 'delete:organization_user_mfa',
  'GET /organizations/:org_code/connections': 'read:organization_connections',
  'POST /organizations/:org_code/connections/:connection_id': 'create:organization_connections',
  'DELETE /organizations/:org_code/connections/:connection_id': 'delete:organization_connections',
  'GET /organizations/:org_code/feature_flags': 'read:organization_feature_flags',
  'DELETE /organizations/:org_code/feature_flags': 'delete:organization_feature_flags',
  'PATCH /organizations/:org_code/feature_flags/:feature_flag_key': 'update:organization_feature_flags',
  'DELETE /organizations/:org_code/feature_flags/:feature_flag_key': 'delete:organization_feature_flags',

  'GET /roles': 'read:roles',
  'POST /roles': 'create:roles',
  'GET /roles/:role_id': 'read:roles',
  'PATCH /roles/:role_id': 'update:roles',
  'DELETE /roles/:role_id': 'delete:roles',
  'GET /roles/:role_id/permissions': 'read:role_permissions',
  'PATCH /roles/:role_id/permissions': 'update:role_permissions',
  'DELETE /roles/:role_id/permissions/:permission_id': 'delete:role_permissions',
  'GET /permissions': 'read:permissions',
  'POST /permissions': 'create:permissions',
  'PATCH /permissions/:permission_id': 'update:permissions',
  'DELETE /permissions/:permission_id': 'delete:permissions',

  'POST /feature_flags': 'create:feature_flags',
  'PUT /feature_flags/:feature_flag_key': 'update:feature_flags',
  'DELETE /feature_flags/:feature_flag_key': 'delete:feature_flags',
  'GET /environment/feature_flags': 'read:environment_feature_flags',
  'GET /environment/settings': 'read:environments',
  'PATCH /environment/settings': 'update:environments',
  'GET /mfa': 'read:mfa',
  'PUT /mfa': 'update:mfa',

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
  'GET /applications/:application_id/connections': 'read:application_connections',
  'POST /applications/:application_id/connections/:connection_id': 'create:application_connections',
  'DELETE /applications/:application_id/connections/:connection_id': 'delete:application_connections',
  'GET /connections': 'read:connections',
  'GET /connections/:connection_id': 'read:connections',

  'GET /apis': 'read:apis',
  'POST /apis': 'create:apis',
  'GET /apis/:api_id': 'read:apis',
  'DELETE /apis/:api_id': 'delete:apis',
  'PATCH /apis/:api_id/applications': 'update:apis',
  'GET /apis/:api_id/scopes': 'read:api_scopes',
  'POST /apis/:api_id/scopes': 'create:api_scopes',
  'GET /apis/:api_id/scopes/:scope_id': 'read:api_scopes',
  'DELETE /apis/:api_id/scopes/:scope_id': 'delete:api_scopes',
};

/** The scopes of the management token of this request (set by `managementAuth`). */
export function grantedScopes(claims: { scp?: unknown; scope?: unknown }): Set<string> {
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
