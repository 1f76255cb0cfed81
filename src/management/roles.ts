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
import { OK, pageQuery, pageRequest, readBody, readQuery } from './input.ts';

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

/** Kinde's `roles` item. */
function roleJson(role: Role) {
  return { id: role.id, key: role.key, name: role.name, description: role.description, is_default_role: role.isDefaultRole, is_default_creator_role: role.isDefaultCreatorRole };
}

/** Kinde's `permissions` item. */
function permissionJson(permission: Permission) {
  return { id: permission.id, key: permission.key, name: permission.name, description: permission.description };
}

export function roleRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/roles', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await listRoles(db, pageRequest(query));
    ctx.body = { ...OK, roles: page.items.map(roleJson), next_token: page.nextToken };
  });

  router.post('/roles', async (ctx) => {
    const body = await readBody(ctx, createRoleBody);
    const role = await createRole(db, { key: body.key, name: body.name, description: body.description || null, isDefaultRole: body.is_default_role, isDefaultCreatorRole: body.is_default_creator_role });
    ctx.status = 201;
    ctx.body = { ...OK, role: { id: role.id } };
  });

  router.get('/roles/:role_id', async (ctx) => {
    ctx.body = { ...OK, role: roleJson(await requireRole(db, ctx.params.role_id!)) };
  });

  router.patch('/roles/:role_id', async (ctx) => {
    const body = await readBody(ctx, updateRoleBody);
    await updateRole(db, ctx.params.role_id!, { key: body.key, name: body.name, description: orNull(body.description), isDefaultRole: body.is_default_role, isDefaultCreatorRole: body.is_default_creator_role });
    ctx.body = OK;
  });

  router.delete('/roles/:role_id', async (ctx) => {
    await deleteRole(db, ctx.params.role_id!);
    ctx.body = OK;
  });

  router.get('/roles/:role_id/permissions', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await rolePermissions(db, ctx.params.role_id!, pageRequest(query));
    ctx.body = { ...OK, permissions: page.items.map(permissionJson), next_token: page.nextToken };
  });

  router.patch('/roles/:role_id/permissions', async (ctx) => {
    const { permissions } = await readBody(ctx, rolePermissionsBody);
    const changes = permissions.map((p) => ({ permissionId: p.id, remove: p.operation === 'delete' }));
    const outcome = await updateRolePermissions(db, ctx.params.role_id!, changes);
    ctx.body = { ...OK, permissions_added: outcome.added, permissions_removed: outcome.removed };
  });

  router.delete('/roles/:role_id/permissions/:permission_id', async (ctx) => {
    await removeRolePermission(db, ctx.params.role_id!, ctx.params.permission_id!);
    ctx.body = OK;
  });

  router.get('/permissions', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await listPermissions(db, pageRequest(query));
    ctx.body = { ...OK, permissions: page.items.map(permissionJson), next_token: page.nextToken };
  });

  router.post('/permissions', async (ctx) => {
    const body = await readBody(ctx, createPermissionBody);
    const permission = await createPermission(db, { key: body.key, name: body.name, description: body.description || null });
    ctx.status = 201;
    ctx.body = { ...OK, permission: { id: permission.id } };
  });

  router.patch('/permissions/:permission_id', async (ctx) => {
    const body = await readBody(ctx, updatePermissionBody);
    await updatePermission(db, ctx.params.permission_id!, { key: body.key, name: body.name, description: orNull(body.description) });
    ctx.body = OK;
  });

  router.delete('/permissions/:permission_id', async (ctx) => {
    await deletePermission(db, ctx.params.permission_id!);
    ctx.body = OK;
  });
}
