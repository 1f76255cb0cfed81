import type Router from '@koa/router';
import type { Context } from 'koa';
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
import { connectionJson } from './connections.ts';
import { OK, pageQuery, pageRequest, readBody, readQuery } from './input.ts';

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

/** Kinde's `organization_item_schema`. */
function organizationItemJson(organization: Organization) {
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
function organizationJson(organization: Organization) {
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
  async function memberOf(ctx: Context): Promise<{ orgCode: string; userId: string }> {
    const organization = await requireOrganization(db, ctx.params.org_code!);
    const user = await requireUser(db, ctx.params.user_id!);
    await requireMember(db, organization.code, user.id);
    return { orgCode: organization.code, userId: user.id };
  }

  async function membersJson(orgCode: string, memberships: Membership[]) {
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

  router.get('/organization', async (ctx) => {
    // Kinde answers with the default organization when no code is given.
    const { code } = readQuery(ctx, getQuery);
    ctx.body = organizationJson(code === undefined ? await defaultOrganization(db) : await requireOrganization(db, code));
  });

  router.post('/organization', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const organization = await createOrganization(db, {
      name: body.name,
      externalId: body.external_id || null,
      allowRegistrations: body.is_auto_membership_enabled ?? body.is_allow_registrations,
      allowedDomains: body.allowed_domains,
      autoJoinFromAllowedDomains: body.is_auto_join_domain_list,
    });
    ctx.body = { ...OK, organization: { code: organization.code } };
  });

  router.get('/organizations', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await listOrganizations(db, pageRequest(query));
    ctx.body = { ...OK, organizations: page.items.map(organizationItemJson), next_token: page.nextToken };
  });

  router.patch('/organization/:org_code', async (ctx) => {
    readQuery(ctx, updateQuery);
    const body = await readBody(ctx, updateBody);
    await updateOrganization(db, ctx.params.org_code!, {
      name: body.name,
      externalId: orNull(body.external_id),
      allowRegistrations: body.is_auto_membership_enabled ?? body.is_allow_registrations,
      allowedDomains: body.allowed_domains,
      autoJoinFromAllowedDomains: body.is_auto_join_domain_list,
      enforceMfa: body.is_enforce_mfa,
    });
    ctx.body = OK;
  });

  router.delete('/organization/:org_code', async (ctx) => {
    await deleteOrganization(db, ctx.params.org_code!);
    ctx.body = OK;
  });

  router.get('/organizations/:org_code/users', async (ctx) => {
    const query = readQuery(ctx, membersQuery);
    const page = await listMembers(db, ctx.params.org_code!, pageRequest(query));
    ctx.body = { ...OK, organization_users: await membersJson(ctx.params.org_code!, page.items), next_token: page.nextToken };
  });

  router.post('/organizations/:org_code/users', async (ctx) => {
    const { users } = await readBody(ctx, addMembersBody);
    const added = await addMembers(
      db,
      ctx.params.org_code!,
      users.map((user) => ({ userId: user.id, roleKeys: user.roles, permissionKeys: user.permissions })),
    );
    ctx.body = { ...OK, users_added: added };
  });

  router.patch('/organizations/:org_code/users', async (ctx) => {
    const { users } = await readBody(ctx, updateMembersBody);
    const outcome = await updateMembers(
      db,
      ctx.params.org_code!,
      users.map((user) => ({ userId: user.id, remove: user.operation === 'delete', roleKeys: user.roles, permissionKeys: user.permissions })),
    );
    ctx.body = { ...OK, users_added: outcome.added, users_updated: outcome.updated, users_removed: outcome.removed };
  });

  router.delete('/organizations/:org_code/users/:user_id', async (ctx) => {
    const { orgCode, userId } = await memberOf(ctx);
    await removeMember(db, orgCode, userId);
    ctx.body = OK;
  });

  router.get('/organizations/:org_code/users/:user_id/roles', async (ctx) => {
    const { orgCode, userId } = await memberOf(ctx);
    const roles = await memberRoles(db, orgCode, userId);
    ctx.body = { ...OK, roles: roles.map(({ id, key, name }) => ({ id, key, name })) };
  });

  router.post('/organizations/:org_code/users/:user_id/roles', async (ctx) => {
    const { role_id } = await readBody(ctx, roleBody);
    const { orgCode, userId } = await memberOf(ctx);
    await addMemberRole(db, orgCode, userId, role_id);
    ctx.body = OK;
  });

  router.delete('/organizations/:org_code/users/:user_id/roles/:role_id', async (ctx) => {
    const { orgCode, userId } = await memberOf(ctx);
    await removeMemberRole(db, orgCode, userId, ctx.params.role_id!);
    ctx.body = OK;
  });

  router.get('/organizations/:org_code/users/:user_id/permissions', async (ctx) => {
    const { expand } = readQuery(ctx, permissionsQuery);
    const { orgCode, userId } = await memberOf(ctx);
    const permissions = await memberPermissions(db, orgCode, userId);
    ctx.body = {
      ...OK,
      permissions: permissions.map((p) => ({ id: p.id, key: p.key, name: p.name, description: p.description, ...(expand ? { roles: p.roles } : {}) })),
    };
  });

  router.post('/organizations/:org_code/users/:user_id/permissions', async (ctx) => {
    const { permission_id } = await readBody(ctx, permissionBody);
    const { orgCode, userId } = await memberOf(ctx);
    await addMemberPermission(db, orgCode, userId, permission_id);
    ctx.body = OK;
  });

  router.delete('/organizations/:org_code/users/:user_id/permissions/:permission_id', async (ctx) => {
    const { orgCode, userId } = await memberOf(ctx);
    await removeMemberPermission(db, orgCode, userId, ctx.params.permission_id!);
    ctx.body = OK;
  });

  // Section 046: the organization's own connection set (empty while it uses the environment's).
  router.get('/organizations/:org_code/connections', async (ctx) => {
    const organization = await requireOrganization(db, ctx.params.org_code!);
    const own = new Set((await organizationConnectionIds(db, organization.code)) ?? []);
    const connections = (await listConnections(db)).filter((connection) => own.has(connection.id));
    ctx.body = { ...OK, connections: connections.map(connectionJson), has_more: false };
  });

  router.post('/organizations/:org_code/connections/:connection_id', async (ctx) => {
    await setOrganizationConnection(db, ctx.params.org_code!, ctx.params.connection_id!, true);
    ctx.body = OK;
  });

  router.delete('/organizations/:org_code/connections/:connection_id', async (ctx) => {
    await setOrganizationConnection(db, ctx.params.org_code!, ctx.params.connection_id!, false);
    ctx.body = OK;
  });

  router.patch('/organizations/:org_code/sessions', async (ctx) => {
    const body = await readBody(ctx, sessionsBody);
    await updateOrganizationSessionPolicy(db, ctx.params.org_code!, {
      useOrgPolicy: body.is_use_org_sso_session_policy,
      persistence: body.sso_session_persistence_mode,
      useOrgAuthenticatedSessionLifetime: body.is_use_org_authenticated_session_lifetime,
      authenticatedSessionLifetime: body.authenticated_session_lifetime,
    });
    ctx.body = OK;
  });
}
