import type Router from '@koa/router';
import { z } from 'zod';
import { listConnections } from '../domain/connections.ts';
import {
  addMembers,
  createOrganization,
  defaultOrganization,
  deleteOrganization,
  listMembers,
  listOrganizations,
  type Membership,
  type Organization,
  organizationConnectionIds,
  removeMember,
  requireMember,
  requireOrganization,
  setOrganizationConnection,
  updateMembers,
  updateOrganization,
  updateOrganizationSessionPolicy,
} from '../domain/organizations.ts';
import { addMemberPermission, addMemberRole, memberPermissions, memberRoleKeys, memberRoles, removeMemberPermission, removeMemberRole } from '../domain/roles.ts';
import { displayName, findUsers, primaryIdentity, requireUser } from '../domain/users.ts';
import type { Services } from '../services.ts';
import { connectionJson, connectionsResponse } from './connections.ts';
import { OK, pageQuery, pageRequest } from './input.ts';
import { dateTime, nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

const name = z.string().trim().min(1).max(255);
const externalId = z.string().trim().max(255);
/** An email domain as people type it: `Example.com` is kept as `example.com`. */
const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$/, 'must be a domain such as example.com');
const domains = z.array(domain).max(100);
const keys = z.array(z.string().min(1).max(255)).max(100);

/** Kinde fields Gatehouse does not implement: absent, `null` or `false` is fine; anything else is refused. */
const notSupported = (fields: readonly string[]) =>
  Object.fromEntries(fields.map((field) => [field, z.union([z.undefined(), z.null(), z.literal(false)], { error: `${field} is not supported` }).optional()]));

const BRANDING = [
  'background_color',
  'button_color',
  'button_text_color',
  'link_color',
  'background_color_dark',
  'button_color_dark',
  'button_text_color_dark',
  'link_color_dark',
  'theme_code',
  'handle',
  'sender_name',
  'sender_email',
] as const;

/**
 * Kinde's `is_auto_membership_enabled` (and its deprecated name `is_allow_registrations`): anyone
 * may join with `org_code`. Gatehouse extensions on create: the allowed-domain policy, which Kinde
 * only sets with PATCH.
 */
const createBody = z.object({
  name,
  external_id: externalId.optional(),
  is_auto_membership_enabled: z.boolean().optional(),
  is_allow_registrations: z.boolean().optional(),
  allowed_domains: domains.optional(),
  is_auto_join_domain_list: z.boolean().optional(),
  ...notSupported([...BRANDING, 'feature_flags', 'is_create_billing_customer', 'billing_email', 'billing_plan_code']),
});

const updateBody = z.object({
  name: name.optional(),
  /** `""` or `null` clears it. */
  external_id: externalId.nullable().optional(),
  is_auto_membership_enabled: z.boolean().optional(),
  is_allow_registrations: z.boolean().optional(),
  is_auto_join_domain_list: z.boolean().optional(),
  allowed_domains: domains.optional(),
  // Every organization has Kinde's "advanced organization features" in Gatehouse: the switch has nothing to change.
  is_enable_advanced_orgs: z.boolean().optional(),
  /** Section 054: the organization's "Enforce multi-factor authentication" switch (its factors: `PUT /organizations/{code}/mfa`). */
  is_enforce_mfa: z.boolean().optional(),
  ...notSupported([...BRANDING, 'is_suspended']),
});

const getQuery = z.object({ code: z.string().min(1).optional(), expand: z.undefined({ error: 'expand is not supported' }).optional() });
const listQuery = z.object({ ...pageQuery, sort: z.undefined({ error: 'sort is not supported; organizations are listed in creation order' }).optional() });
const updateQuery = z.object({ expand: z.undefined({ error: 'expand is not supported' }).optional() });
const membersQuery = z.object({
  ...pageQuery,
  sort: z.undefined({ error: 'sort is not supported; members are listed in the order they joined' }).optional(),
  roles: z.undefined({ error: 'Filtering by roles is not supported' }).optional(),
  permissions: z.undefined({ error: 'Filtering by permissions is not supported' }).optional(),
});
const permissionsQuery = z.object({ expand: z.enum(['roles']).optional() });

const memberInput = z.object({ id: z.string().min(1), roles: keys.optional(), permissions: keys.optional() });
const addMembersBody = z.object({ users: z.array(memberInput).min(1).max(100) });
const updateMembersBody = z.object({
  users: z.array(memberInput.extend({ operation: z.enum(['delete'], { error: 'operation can only be "delete"' }).optional() })).min(1).max(100),
});
const roleBody = z.object({ role_id: z.string().min(1) });
const permissionBody = z.object({ permission_id: z.string().min(1) });

/** Section 047, as Kinde's `PATCH /organizations/{code}/sessions`. */
const sessionsBody = z.object({
  is_use_org_sso_session_policy: z.boolean().optional(),
  sso_session_persistence_mode: z.enum(['persistent', 'non_persistent']).optional(),
  is_use_org_authenticated_session_lifetime: z.boolean().optional(),
  authenticated_session_lifetime: z.number().int().min(60).max(31_536_000).optional(),
});

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const orNull = (value: string | null | undefined) => (value === undefined ? undefined : value === '' ? null : value);

const organizationItemSchema = z.object({
  code: z.string(),
  name: z.string(),
  handle: z.null(),
  is_default: z.boolean(),
  external_id: z.string().nullable(),
  is_auto_membership_enabled: z.boolean(),
});
const organizationSchema = organizationItemSchema.extend({
  logo: z.null(),
  logo_dark: z.null(),
  favicon_svg: z.null(),
  favicon_fallback: z.null(),
  allowed_domains: z.array(z.string()),
  created_on: dateTime.nullable(),
  is_allow_registrations: z.boolean(),
  sender_name: z.null(),
  sender_email: z.null(),
  is_suspended: z.boolean(),
  suspended_on: z.null(),
  is_auto_join_domain_list: z.boolean(),
});
const memberSchema = z.object({
  id: z.string(),
  email: z.string().nullable(),
  full_name: z.string(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  picture: z.string().nullable(),
  joined_on: dateTime.nullable(),
  last_accessed_on: dateTime.nullable(),
  is_suspended: z.boolean(),
  roles: z.array(z.string()),
});
const memberPermissionSchema = z.object({
  id: z.string(),
  key: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  /** With `expand=roles`: the roles that give it (none when given directly). */
  roles: z.array(z.object({ id: z.string(), key: z.string() })).optional(),
});

/** Kinde's `organization_item_schema`. */
function organizationItemJson(organization: Organization): z.input<typeof organizationItemSchema> {
  return {
    code: organization.code,
    name: organization.name,
    handle: null,
    is_default: organization.isDefault,
    external_id: organization.externalId,
    is_auto_membership_enabled: organization.policy.allowRegistrations,
  };
}

/** Kinde's `get_organization_response` (branding left unset), plus the Gatehouse policy switch it lacks. */
function organizationJson(organization: Organization): z.input<typeof organizationSchema> {
  return {
    ...organizationItemJson(organization),
    logo: null,
    logo_dark: null,
    favicon_svg: null,
    favicon_fallback: null,
    allowed_domains: organization.policy.allowedDomains,
    created_on: isoOrNull(organization.createdAt),
    is_allow_registrations: organization.policy.allowRegistrations,
    sender_name: null,
    sender_email: null,
    is_suspended: false,
    suspended_on: null,
    is_auto_join_domain_list: organization.policy.autoJoinFromAllowedDomains,
  };
}

export function organizationRoutes(router: Router, services: Services): void {
  const { db } = services;

  /** The organization and member of a `/organizations/{org_code}/users/{user_id}/…` path, each 404 when unknown. */
  async function memberOf(params: { org_code: string; user_id: string }): Promise<{ orgCode: string; userId: string }> {
    const organization = await requireOrganization(db, params.org_code);
    const user = await requireUser(db, params.user_id);
    await requireMember(db, organization.code, user.id);
    return { orgCode: organization.code, userId: user.id };
  }

  async function membersJson(orgCode: string, memberships: Membership[]): Promise<z.input<typeof memberSchema>[]> {
    const ids = memberships.map((m) => m.userId);
    const users = new Map((await findUsers(db, ids)).map((user) => [user.id, user]));
    const roles = await memberRoleKeys(db, orgCode, ids);
    return memberships.flatMap((membership) => {
      const user = users.get(membership.userId);
      if (!user) return [];
      return [
        {
          id: user.id,
          email: primaryIdentity(user, 'email')?.value ?? null,
          full_name: displayName(user) ?? '',
          first_name: user.firstName,
          last_name: user.lastName,
          picture: user.picture,
          joined_on: isoOrNull(membership.joinedAt),
          last_accessed_on: isoOrNull(membership.lastAccessedAt),
          is_suspended: user.isSuspended,
          roles: roles.get(user.id) ?? [],
        },
      ];
    });
  }

  // Kinde answers with the default organization when no code is given.
  route(router, { method: 'GET', path: '/organization', scope: 'read:organizations', summary: 'Get an organization', query: getQuery, response: organizationSchema }, async ({ query }) => {
    return organizationJson(query.code === undefined ? await defaultOrganization(db) : await requireOrganization(db, query.code));
  });

  route(
    router,
    { method: 'POST', path: '/organization', scope: 'create:organizations', summary: 'Create an organization', body: createBody, response: okWith({ organization: z.object({ code: z.string() }) }) },
    async ({ body }) => {
      const organization = await createOrganization(db, {
        name: body.name,
        externalId: body.external_id || null,
        allowRegistrations: body.is_auto_membership_enabled ?? body.is_allow_registrations,
        allowedDomains: body.allowed_domains,
        autoJoinFromAllowedDomains: body.is_auto_join_domain_list,
      });
      return { ...OK, organization: { code: organization.code } };
    },
  );

  route(
    router,
    { method: 'GET', path: '/organizations', scope: 'read:organizations', summary: 'List organizations', query: listQuery, response: okWith({ organizations: z.array(organizationItemSchema), next_token: nextToken }) },
    async ({ query }) => {
      const page = await listOrganizations(db, pageRequest(query));
      return { ...OK, organizations: page.items.map(organizationItemJson), next_token: page.nextToken };
    },
  );

  route(
    router,
    { method: 'PATCH', path: '/organization/:org_code', scope: 'update:organizations', summary: 'Update an organization', query: updateQuery, body: updateBody, response: okResponse },
    async ({ params, body }) => {
      await updateOrganization(db, params.org_code, {
        name: body.name,
        externalId: orNull(body.external_id),
        allowRegistrations: body.is_auto_membership_enabled ?? body.is_allow_registrations,
        allowedDomains: body.allowed_domains,
        autoJoinFromAllowedDomains: body.is_auto_join_domain_list,
        enforceMfa: body.is_enforce_mfa,
      });
      return OK;
    },
  );

  route(router, { method: 'DELETE', path: '/organization/:org_code', scope: 'delete:organizations', summary: 'Delete an organization', response: okResponse }, async ({ params }) => {
    await deleteOrganization(db, params.org_code);
    return OK;
  });

  route(
    router,
    {
      method: 'GET',
      path: '/organizations/:org_code/users',
      scope: 'read:organizations',
      summary: "List an organization's members",
      query: membersQuery,
      response: okWith({ organization_users: z.array(memberSchema), next_token: nextToken }),
    },
    async ({ params, query }) => {
      const page = await listMembers(db, params.org_code, pageRequest(query));
      return { ...OK, organization_users: await membersJson(params.org_code, page.items), next_token: page.nextToken };
    },
  );

  route(
    router,
    { method: 'POST', path: '/organizations/:org_code/users', scope: 'update:organizations', summary: 'Add members to an organization', body: addMembersBody, response: okWith({ users_added: z.array(z.string()) }) },
    async ({ params, body }) => {
      const added = await addMembers(
        db,
        params.org_code,
        body.users.map((user) => ({ userId: user.id, roleKeys: user.roles, permissionKeys: user.permissions })),
      );
      return { ...OK, users_added: added };
    },
  );

  route(
    router,
    {
      method: 'PATCH',
      path: '/organizations/:org_code/users',
      scope: 'update:organizations',
      summary: "Add, update or remove an organization's members",
      body: updateMembersBody,
      response: okWith({ users_added: z.array(z.string()), users_updated: z.array(z.string()), users_removed: z.array(z.string()) }),
    },
    async ({ params, body }) => {
      const outcome = await updateMembers(
        db,
        params.org_code,
        body.users.map((user) => ({ userId: user.id, remove: user.operation === 'delete', roleKeys: user.roles, permissionKeys: user.permissions })),
      );
      return { ...OK, users_added: outcome.added, users_updated: outcome.updated, users_removed: outcome.removed };
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/users/:user_id', scope: 'update:organizations', summary: 'Remove a member from an organization', response: okResponse },
    async ({ params }) => {
      const { orgCode, userId } = await memberOf(params);
      await removeMember(db, orgCode, userId);
      return OK;
    },
  );

  route(
    router,
    {
      method: 'GET',
      path: '/organizations/:org_code/users/:user_id/roles',
      scope: 'read:organizations',
      summary: "List a member's roles",
      response: okWith({ roles: z.array(z.object({ id: z.string(), key: z.string(), name: z.string() })) }),
    },
    async ({ params }) => {
      const { orgCode, userId } = await memberOf(params);
      const roles = await memberRoles(db, orgCode, userId);
      return { ...OK, roles: roles.map(({ id, key, name }) => ({ id, key, name })) };
    },
  );

  route(
    router,
    { method: 'POST', path: '/organizations/:org_code/users/:user_id/roles', scope: 'update:organizations', summary: 'Give a member a role', body: roleBody, response: okResponse },
    async ({ params, body }) => {
      const { orgCode, userId } = await memberOf(params);
      await addMemberRole(db, orgCode, userId, body.role_id);
      return OK;
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/users/:user_id/roles/:role_id', scope: 'update:organizations', summary: "Take a member's role away", response: okResponse },
    async ({ params }) => {
      const { orgCode, userId } = await memberOf(params);
      await removeMemberRole(db, orgCode, userId, params.role_id);
      return OK;
    },
  );

  route(
    router,
    {
      method: 'GET',
      path: '/organizations/:org_code/users/:user_id/permissions',
      scope: 'read:organizations',
      summary: "List a member's permissions",
      query: permissionsQuery,
      response: okWith({ permissions: z.array(memberPermissionSchema) }),
    },
    async ({ params, query }) => {
      const { orgCode, userId } = await memberOf(params);
      const permissions = await memberPermissions(db, orgCode, userId);
      return {
        ...OK,
        permissions: permissions.map((p) => ({ id: p.id, key: p.key, name: p.name, description: p.description, ...(query.expand ? { roles: p.roles } : {}) })),
      };
    },
  );

  route(
    router,
    { method: 'POST', path: '/organizations/:org_code/users/:user_id/permissions', scope: 'update:organizations', summary: 'Give a member a permission', body: permissionBody, response: okResponse },
    async ({ params, body }) => {
      const { orgCode, userId } = await memberOf(params);
      await addMemberPermission(db, orgCode, userId, body.permission_id);
      return OK;
    },
  );

  route(
    router,
    {
      method: 'DELETE',
      path: '/organizations/:org_code/users/:user_id/permissions/:permission_id',
      scope: 'update:organizations',
      summary: "Take a member's permission away",
      response: okResponse,
    },
    async ({ params }) => {
      const { orgCode, userId } = await memberOf(params);
      await removeMemberPermission(db, orgCode, userId, params.permission_id);
      return OK;
    },
  );

  // Section 046: the organization's own connection set (empty while it uses the environment's).
  route(
    router,
    { method: 'GET', path: '/organizations/:org_code/connections', scope: 'read:organizations', summary: "List an organization's own connections", response: connectionsResponse },
    async ({ params }) => {
      const organization = await requireOrganization(db, params.org_code);
      const own = new Set((await organizationConnectionIds(db, organization.code)) ?? []);
      const connections = (await listConnections(db)).filter((connection) => own.has(connection.id));
      return { ...OK, connections: connections.map(connectionJson), has_more: false };
    },
  );

  route(
    router,
    { method: 'POST', path: '/organizations/:org_code/connections/:connection_id', scope: 'update:organizations', summary: 'Enable a connection for an organization', response: okResponse },
    async ({ params }) => {
      await setOrganizationConnection(db, params.org_code, params.connection_id, true);
      return OK;
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/connections/:connection_id', scope: 'update:organizations', summary: 'Disable a connection for an organization', response: okResponse },
    async ({ params }) => {
      await setOrganizationConnection(db, params.org_code, params.connection_id, false);
      return OK;
    },
  );

  route(
    router,
    { method: 'PATCH', path: '/organizations/:org_code/sessions', scope: 'update:organizations', summary: "Set an organization's session policy", body: sessionsBody, response: okResponse },
    async ({ params, body }) => {
      await updateOrganizationSessionPolicy(db, params.org_code, {
        useOrgPolicy: body.is_use_org_sso_session_policy,
        persistence: body.sso_session_persistence_mode,
        useOrgAuthenticatedSessionLifetime: body.is_use_org_authenticated_session_lifetime,
        authenticatedSessionLifetime: body.authenticated_session_lifetime,
      });
      return OK;
    },
  );
}
