import type Router from '@koa/router';
import { z } from 'zod';
import {
  createPermission,
  createRole,
  deletePermission,
  deleteRole,
  listPermissions,
  listRoles,
  type Permission,
  removeRolePermission,
  requireRole,
  type Role,
  rolePermissions,
  updatePermission,
  updateRole,
  updateRolePermissions,
} from '../domain/roles.ts';
import type { Services } from '../services.ts';
import { OK, pageQuery, pageRequest } from './input.ts';
import { nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

/** Keys go into tokens as `roles[].key` and `permissions[]`, and into `has_permission` checks: no spaces. */
const key = z.string().trim().min(1).max(255).regex(/^\S+$/, 'must not contain whitespace');
const name = z.string().trim().min(1).max(255);
const description = z.string().max(1024);
/** Kinde's role assignment permissions are not implemented: only "none" is accepted. */
const assignmentPermission = z.union([z.undefined(), z.null(), z.literal('NO_PERMISSION_REQUIRED')], { error: 'assignment_permission_id is not supported' }).optional();

const listQuery = z.object({ ...pageQuery, sort: z.undefined({ error: 'sort is not supported; they are listed in creation order' }).optional() });

const createRoleBody = z.object({
  key,
  name,
  description: description.optional(),
  is_default_role: z.boolean().optional(),
  /** Gatehouse extension: given to whoever creates an organization at sign-up. */
  is_default_creator_role: z.boolean().optional(),
  assignment_permission_id: assignmentPermission,
});
const updateRoleBody = z.object({
  key: key.optional(),
  name: name.optional(),
  /** `""` or `null` clears it. */
  description: description.nullable().optional(),
  is_default_role: z.boolean().optional(),
  /** Gatehouse extension: given to whoever creates an organization at sign-up. */
  is_default_creator_role: z.boolean().optional(),
  assignment_permission_id: assignmentPermission,
});
const rolePermissionsBody = z.object({
  permissions: z
    .array(z.object({ id: z.string().min(1), operation: z.enum(['delete'], { error: 'operation can only be "delete"' }).optional() }))
    .min(1)
    .max(100),
});
const createPermissionBody = z.object({ key, name, description: description.optional() });
const updatePermissionBody = z.object({ key: key.optional(), name: name.optional(), description: description.nullable().optional() });

const orNull = (value: string | null | undefined) => (value === undefined ? undefined : value === '' ? null : value);

const roleSchema = z.object({ id: z.string(), key: z.string(), name: z.string(), description: z.string().nullable(), is_default_role: z.boolean(), is_default_creator_role: z.boolean() });
const permissionSchema = z.object({ id: z.string(), key: z.string(), name: z.string(), description: z.string().nullable() });
const permissionsPage = okWith({ permissions: z.array(permissionSchema), next_token: nextToken });

/** Kinde's `roles` item. */
function roleJson(role: Role): z.input<typeof roleSchema> {
  return { id: role.id, key: role.key, name: role.name, description: role.description, is_default_role: role.isDefaultRole, is_default_creator_role: role.isDefaultCreatorRole };
}

/** Kinde's `permissions` item. */
function permissionJson(permission: Permission): z.input<typeof permissionSchema> {
  return { id: permission.id, key: permission.key, name: permission.name, description: permission.description };
}

export function roleRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(router, { method: 'GET', path: '/roles', scope: 'read:roles', summary: 'List roles', query: listQuery, response: okWith({ roles: z.array(roleSchema), next_token: nextToken }) }, async ({ query }) => {
    const page = await listRoles(db, pageRequest(query));
    return { ...OK, roles: page.items.map(roleJson), next_token: page.nextToken };
  });

  route(router, { method: 'POST', path: '/roles', scope: 'create:roles', summary: 'Create a role', body: createRoleBody, status: 201, response: okWith({ role: z.object({ id: z.string() }) }) }, async ({ body }) => {
    const role = await createRole(db, { key: body.key, name: body.name, description: body.description || null, isDefaultRole: body.is_default_role, isDefaultCreatorRole: body.is_default_creator_role });
    return { ...OK, role: { id: role.id } };
  });

  route(router, { method: 'GET', path: '/roles/:role_id', scope: 'read:roles', summary: 'Get a role', response: okWith({ role: roleSchema }) }, async ({ params }) => {
    return { ...OK, role: roleJson(await requireRole(db, params.role_id)) };
  });

  route(router, { method: 'PATCH', path: '/roles/:role_id', scope: 'update:roles', summary: 'Update a role', body: updateRoleBody, response: okResponse }, async ({ params, body }) => {
    await updateRole(db, params.role_id, { key: body.key, name: body.name, description: orNull(body.description), isDefaultRole: body.is_default_role, isDefaultCreatorRole: body.is_default_creator_role });
    return OK;
  });

  route(router, { method: 'DELETE', path: '/roles/:role_id', scope: 'delete:roles', summary: 'Delete a role', response: okResponse }, async ({ params }) => {
    await deleteRole(db, params.role_id);
    return OK;
  });

  route(router, { method: 'GET', path: '/roles/:role_id/permissions', scope: 'read:roles', summary: 'List the permissions of a role', query: listQuery, response: permissionsPage }, async ({ params, query }) => {
    const page = await rolePermissions(db, params.role_id, pageRequest(query));
    return { ...OK, permissions: page.items.map(permissionJson), next_token: page.nextToken };
  });

  route(
    router,
    {
      method: 'PATCH',
      path: '/roles/:role_id/permissions',
      scope: 'update:roles',
      summary: 'Add permissions to a role, or remove them',
      body: rolePermissionsBody,
      response: okWith({ permissions_added: z.array(z.string()), permissions_removed: z.array(z.string()) }),
    },
    async ({ params, body }) => {
      const changes = body.permissions.map((p) => ({ permissionId: p.id, remove: p.operation === 'delete' }));
      const outcome = await updateRolePermissions(db, params.role_id, changes);
      return { ...OK, permissions_added: outcome.added, permissions_removed: outcome.removed };
    },
  );

  route(router, { method: 'DELETE', path: '/roles/:role_id/permissions/:permission_id', scope: 'update:roles', summary: 'Remove a permission from a role', response: okResponse }, async ({ params }) => {
    await removeRolePermission(db, params.role_id, params.permission_id);
    return OK;
  });

  route(router, { method: 'GET', path: '/permissions', scope: 'read:permissions', summary: 'List permissions', query: listQuery, response: permissionsPage }, async ({ query }) => {
    const page = await listPermissions(db, pageRequest(query));
    return { ...OK, permissions: page.items.map(permissionJson), next_token: page.nextToken };
  });

  route(
    router,
    { method: 'POST', path: '/permissions', scope: 'create:permissions', summary: 'Create a permission', body: createPermissionBody, status: 201, response: okWith({ permission: z.object({ id: z.string() }) }) },
    async ({ body }) => {
      const permission = await createPermission(db, { key: body.key, name: body.name, description: body.description || null });
      return { ...OK, permission: { id: permission.id } };
    },
  );

  route(router, { method: 'PATCH', path: '/permissions/:permission_id', scope: 'update:permissions', summary: 'Update a permission', body: updatePermissionBody, response: okResponse }, async ({ params, body }) => {
    await updatePermission(db, params.permission_id, { key: body.key, name: body.name, description: orNull(body.description) });
    return OK;
  });

  route(router, { method: 'DELETE', path: '/permissions/:permission_id', scope: 'delete:permissions', summary: 'Delete a permission', response: okResponse }, async ({ params }) => {
    await deletePermission(db, params.permission_id);
    return OK;
  });
}
