import { type Expression, sql } from 'kysely';
import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, inTransaction, isForeignKeyViolation, isUniqueViolation, type Tx } from '../store/db.ts';
import { keysetPage, type Page, type PageRequest, toPage } from '../store/pagination.ts';
import { preparedQuery } from '../store/prepared.ts';
import type { PermissionsTable, RolesTable } from '../store/schema.ts';
import { DomainError } from './errors.ts';

/**
 * Roles and permissions (contract doc: role `{id, key, name, description, is_default_role}`,
 * permission `{id, key, name, description}`), and what each organization member holds: roles, and
 * permissions given directly. A member's permissions are those of their roles plus their own.
 */

export interface Role {
  id: string;
  key: string;
  name: string;
  description: string | null;
  /** Given to people who join an organization without roles being named (section 018, default roles). */
  isDefaultRole: boolean;
  /** Given to the person who creates an organization at sign-up (`is_create_org`), instead of the default roles. */
  isDefaultCreatorRole: boolean;
  createdAt: number;
}

export interface Permission {
  id: string;
  key: string;
  name: string;
  description: string | null;
  createdAt: number;
}

/** What a member's tokens say about them in one organization (contract doc, "Tokens"). */
export interface MemberAccess {
  roles: Array<{ id: string; key: string; name: string }>;
  /** Keys, sorted and without duplicates. */
  permissions: string[];
}

/** A member's permission and the roles it comes through (none when it was given directly only). */
export interface MemberPermission extends Permission {
  roles: Array<{ id: string; key: string }>;
}

const toRole = (row: RolesTable): Role => ({
  id: row.id,
  key: row.key,
  name: row.name,
  description: row.description,
  isDefaultRole: row.is_default_role === 1,
  isDefaultCreatorRole: row.is_default_creator_role === 1,
  createdAt: row.created_at,
});

const toPermission = (row: PermissionsTable): Permission => ({
  id: row.id,
  key: row.key,
  name: row.name,
  description: row.description,
  createdAt: row.created_at,
});

/** Code-unit order, the same on both databases (their collations differ). */
const byKey = <T extends { key: string }>(a: T, b: T) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);

const roleNotFound = () => new DomainError('ROLE_INVALID', 'Role not found', 404);
const permissionNotFound = () => new DomainError('PERMISSION_INVALID', 'Permission not found', 404);
const notAMember = () => new DomainError('ORGANIZATION_USER_INVALID', 'The user is not a member of this organization', 404);

// ---------------------------------------------------------------------------------------------- roles

export interface NewRole {
  key: string;
  name: string;
  description?: string | null;
  isDefaultRole?: boolean;
  isDefaultCreatorRole?: boolean;
}

export async function createRole(db: Db, input: NewRole): Promise<Role> {
  const row: RolesTable = {
    id: newId.role(),
    key: input.key,
    name: input.name,
    description: input.description ?? null,
    is_default_role: input.isDefaultRole ? 1 : 0,
    is_default_creator_role: input.isDefaultCreatorRole ? 1 : 0,
    created_at: clock.now(),
  };
  try {
    await db.insertInto('roles').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('ROLE_EXISTS', `A role with the key "${input.key}" already exists`, 409);
    throw error;
  }
  return toRole(row);
}

export async function findRole(db: Db | Tx, id: string): Promise<Role | undefined> {
  const row = await db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toRole(row);
}

export async function requireRole(db: Db | Tx, id: string): Promise<Role> {
  const role = await findRole(db, id);
  if (!role) throw roleNotFound();
  return role;
}

export async function listRoles(db: Db, page: PageRequest): Promise<Page<Role>> {
  const rows = await keysetPage(db.selectFrom('roles').selectAll(), page).execute();
  const { items, nextToken } = toPage(rows, page.pageSize);
  return { items: items.map(toRole), nextToken };
}

export interface RolePatch {
  key?: string;
  name?: string;
  description?: string | null;
  isDefaultRole?: boolean;
  isDefaultCreatorRole?: boolean;
}

export async function updateRole(db: Db, id: string, patch: RolePatch): Promise<Role> {
  const set: Partial<RolesTable> = {};
  if (patch.key !== undefined) set.key = patch.key;
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.description !== undefined) set.description = patch.description;
  if (patch.isDefaultRole !== undefined) set.is_default_role = patch.isDefaultRole ? 1 : 0;
  if (patch.isDefaultCreatorRole !== undefined) set.is_default_creator_role = patch.isDefaultCreatorRole ? 1 : 0;
  if (Object.keys(set).length > 0) {
    try {
      const result = await db.updateTable('roles').set(set).where('id', '=', id).executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw roleNotFound();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('ROLE_EXISTS', `A role with the key "${patch.key}" already exists`, 409);
      throw error;
    }
  }
  return requireRole(db, id);
}

export async function creatorRoleKeys(db: Db | Tx): Promise<string[]> {
  const rows = await db.selectFrom('roles').select('key').where('is_default_creator_role', '=', 1).execute();
  return rows.map((row) => row.key);
}

/** Members holding the role lose it with the role (the schema cascades). */
export async function deleteRole(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('roles').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw roleNotFound();
}

/** Role ids for keys, in the order given; an unknown key refuses the whole request. */
export async function resolveRoleKeys(db: Db | Tx, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom('roles').select(['id', 'key']).where('key', 'in', [...keys]).execute();
  return keys.map((key) => {
    const row = rows.find((r) => r.key === key);
    if (!row) throw new DomainError('ROLE_INVALID', `No role with the key "${key}"`, 404);
    return row.id;
  });
}

/** The current keys of roles given by id (roles that no longer exist are left out). */
export async function roleKeysOf(db: Db | Tx, ids: readonly string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db.selectFrom('roles').select('key').where('id', 'in', [...ids]).execute();
  return rows.map((row) => row.key).sort();
}

export async function defaultRoleIds(db: Db | Tx): Promise<string[]> {
  const rows = await db.selectFrom('roles').select('id').where('is_default_role', '=', 1).execute();
  return rows.map((row) => row.id);
}

// ---------------------------------------------------------------------------------------- permissions

export interface NewPermission {
  key: string;
  name: string;
  description?: string | null;
}

export async function createPermission(db: Db, input: NewPermission): Promise<Permission> {
  const row: PermissionsTable = {
    id: newId.permission(),
    key: input.key,
    name: input.name,
    description: input.description ?? null,
    created_at: clock.now(),
  };
  try {
    await db.insertInto('permissions').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('PERMISSION_EXISTS', `A permission with the key "${input.key}" already exists`, 409);
    throw error;
  }
  return toPermission(row);
}

export async function findPermission(db: Db | Tx, id: string): Promise<Permission | undefined> {
  const row = await db.selectFrom('permissions').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toPermission(row);
}

export async function requirePermission(db: Db | Tx, id: string): Promise<Permission> {
  const permission = await findPermission(db, id);
  if (!permission) throw permissionNotFound();
  return permission;
}

export async function listPermissions(db: Db, page: PageRequest): Promise<Page<Permission>> {
  const rows = await keysetPage(db.selectFrom('permissions').selectAll(), page).execute();
  const { items, nextToken } = toPage(rows, page.pageSize);
  return { items: items.map(toPermission), nextToken };
}

export interface PermissionPatch {
  key?: string;
  name?: string;
  description?: string | null;
}

export async function updatePermission(db: Db, id: string, patch: PermissionPatch): Promise<Permission> {
  const set: Partial<PermissionsTable> = {};
  if (patch.key !== undefined) set.key = patch.key;
  if (patch.name !== undefined) set.name = patch.name;
  if (patch.description !== undefined) set.description = patch.description;
  if (Object.keys(set).length > 0) {
    try {
      const result = await db.updateTable('permissions').set(set).where('id', '=', id).executeTakeFirst();
      if (result.numUpdatedRows === 0n) throw permissionNotFound();
    } catch (error) {
      if (isUniqueViolation(error)) throw new DomainError('PERMISSION_EXISTS', `A permission with the key "${patch.key}" already exists`, 409);
      throw error;
    }
  }
  return requirePermission(db, id);
}

/** Roles and members holding the permission lose it with the permission (the schema cascades). */
export async function deletePermission(db: Db, id: string): Promise<void> {
  const result = await db.deleteFrom('permissions').where('id', '=', id).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw permissionNotFound();
}

export async function resolvePermissionKeys(db: Db | Tx, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom('permissions').select(['id', 'key']).where('key', 'in', [...keys]).execute();
  return keys.map((key) => {
    const row = rows.find((r) => r.key === key);
    if (!row) throw new DomainError('PERMISSION_INVALID', `No permission with the key "${key}"`, 404);
    return row.id;
  });
}

/** `{id, key, name}` for permission keys (account API), in key order; unknown keys are left out. */
export async function describePermissions(db: Db, keys: readonly string[]): Promise<Array<{ id: string; key: string; name: string }>> {
  if (keys.length === 0) return [];
  const rows = await db.selectFrom('permissions').select(['id', 'key', 'name']).where('key', 'in', [...keys]).execute();
  return rows.sort(byKey);
}

// ---------------------------------------------------------------------------------- role permissions

export async function rolePermissions(db: Db, roleId: string, page: PageRequest): Promise<Page<Permission>> {
  await requireRole(db, roleId);
  const query = db
    .selectFrom('permissions')
    .innerJoin('role_permissions', 'role_permissions.permission_id', 'permissions.id')
    .selectAll('permissions')
    .where('role_permissions.role_id', '=', roleId);
  const rows = await keysetPage(query, page).execute();
  const { items, nextToken } = toPage(rows, page.pageSize);
  return { items: items.map(toPermission), nextToken };
}

async function insertRolePermission(tx: Tx, roleId: string, permissionId: string): Promise<void> {
  await requirePermission(tx, permissionId);
  await tx.insertInto('role_permissions').values({ role_id: roleId, permission_id: permissionId }).onConflict((oc) => oc.doNothing()).execute();
}

export async function addRolePermission(db: Db, roleId: string, permissionId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await requireRole(tx, roleId);
    await insertRolePermission(tx, roleId, permissionId);
  });
}

export async function removeRolePermission(db: Db, roleId: string, permissionId: string): Promise<void> {
  await requireRole(db, roleId);
  const result = await db.deleteFrom('role_permissions').where('role_id', '=', roleId).where('permission_id', '=', permissionId).executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('PERMISSION_NOT_ASSIGNED', 'The role does not have this permission', 404);
}

export interface RolePermissionChange {
  permissionId: string;
  remove: boolean;
}

/**
 * Kinde's `PATCH /roles/{id}/permissions`: adds and removes in one change. An unknown permission
 * refuses the whole request, so nothing is half-applied.
 */
export async function updateRolePermissions(db: Db, roleId: string, changes: readonly RolePermissionChange[]): Promise<{ added: string[]; removed: string[] }> {
  return inTransaction(db, async (tx) => {
    await requireRole(tx, roleId);
    const added: string[] = [];
    const removed: string[] = [];
    for (const change of changes) {
      if (change.remove) {
        await requirePermission(tx, change.permissionId);
        await tx.deleteFrom('role_permissions').where('role_id', '=', roleId).where('permission_id', '=', change.permissionId).execute();
        removed.push(change.permissionId);
      } else {
        await insertRolePermission(tx, roleId, change.permissionId);
        added.push(change.permissionId);
      }
    }
    return { added, removed };
  });
}

/** Replaces a role's permissions with exactly these. */
export async function setRolePermissions(db: Db, roleId: string, permissionIds: readonly string[]): Promise<void> {
  await inTransaction(db, async (tx) => {
    await requireRole(tx, roleId);
    await tx.deleteFrom('role_permissions').where('role_id', '=', roleId).execute();
    for (const permissionId of new Set(permissionIds)) await insertRolePermission(tx, roleId, permissionId);
  });
}

// ------------------------------------------------------------------------------- members' roles, etc.

/**
 * Gives a member roles and permissions (by id), keeping what they hold. The membership must exist:
 * the schema's foreign key answers for a missing member, organization or user alike.
 */
export async function grantMemberAccess(
  tx: Tx,
  orgCode: string,
  userId: string,
  grant: { roleIds?: readonly string[]; permissionIds?: readonly string[] },
): Promise<void> {
  try {
    for (const roleId of new Set(grant.roleIds ?? [])) {
      await tx
        .insertInto('member_roles')
        .values({ organization_code: orgCode, user_id: userId, role_id: roleId })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
    for (const permissionId of new Set(grant.permissionIds ?? [])) {
      await tx
        .insertInto('member_permissions')
        .values({ organization_code: orgCode, user_id: userId, permission_id: permissionId })
        .onConflict((oc) => oc.doNothing())
        .execute();
    }
  } catch (error) {
    if (isForeignKeyViolation(error)) throw notAMember();
    throw error;
  }
}

/** Replaces a member's roles and/or direct permissions (an absent list is left as it is). */
export async function replaceMemberAccess(
  tx: Tx,
  orgCode: string,
  userId: string,
  grant: { roleIds?: readonly string[]; permissionIds?: readonly string[] },
): Promise<void> {
  if (grant.roleIds) await tx.deleteFrom('member_roles').where('organization_code', '=', orgCode).where('user_id', '=', userId).execute();
  if (grant.permissionIds) await tx.deleteFrom('member_permissions').where('organization_code', '=', orgCode).where('user_id', '=', userId).execute();
  await grantMemberAccess(tx, orgCode, userId, grant);
}

export async function addMemberRole(db: Db, orgCode: string, userId: string, roleId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await requireRole(tx, roleId);
    await grantMemberAccess(tx, orgCode, userId, { roleIds: [roleId] });
  });
}

export async function removeMemberRole(db: Db, orgCode: string, userId: string, roleId: string): Promise<void> {
  const result = await db
    .deleteFrom('member_roles')
    .where('organization_code', '=', orgCode)
    .where('user_id', '=', userId)
    .where('role_id', '=', roleId)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('ROLE_NOT_ASSIGNED', 'The user does not have this role in this organization', 404);
}

export async function addMemberPermission(db: Db, orgCode: string, userId: string, permissionId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await requirePermission(tx, permissionId);
    await grantMemberAccess(tx, orgCode, userId, { permissionIds: [permissionId] });
  });
}

/** Takes back a permission given directly; one that comes through a role stays with the role. */
export async function removeMemberPermission(db: Db, orgCode: string, userId: string, permissionId: string): Promise<void> {
  const result = await db
    .deleteFrom('member_permissions')
    .where('organization_code', '=', orgCode)
    .where('user_id', '=', userId)
    .where('permission_id', '=', permissionId)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) {
    throw new DomainError('PERMISSION_NOT_ASSIGNED', 'The user was not given this permission directly in this organization', 404);
  }
}

export async function memberRoles(db: Db | Tx, orgCode: string, userId: string): Promise<Role[]> {
  const rows = await db
    .selectFrom('roles')
    .innerJoin('member_roles', 'member_roles.role_id', 'roles.id')
    .selectAll('roles')
    .where('member_roles.organization_code', '=', orgCode)
    .where('member_roles.user_id', '=', userId)
    .execute();
  return rows.map(toRole).sort(byKey);
}

/** Role keys of several members at once (organization user lists). */
export async function memberRoleKeys(db: Db, orgCode: string, userIds: readonly string[]): Promise<Map<string, string[]>> {
  const byUser = new Map<string, string[]>(userIds.map((id) => [id, []]));
  if (userIds.length === 0) return byUser;
  const rows = await db
    .selectFrom('member_roles')
    .innerJoin('roles', 'roles.id', 'member_roles.role_id')
    .select(['member_roles.user_id', 'roles.key'])
    .where('member_roles.organization_code', '=', orgCode)
    .where('member_roles.user_id', 'in', [...userIds])
    .execute();
  for (const row of rows.sort(byKey)) byUser.get(row.user_id)?.push(row.key);
  return byUser;
}

/** Every permission a member holds, directly or through their roles, with the roles it comes through. */
export async function memberPermissions(db: Db | Tx, orgCode: string, userId: string): Promise<MemberPermission[]> {
  const direct = await db
    .selectFrom('permissions')
    .innerJoin('member_permissions', 'member_permissions.permission_id', 'permissions.id')
    .selectAll('permissions')
    .where('member_permissions.organization_code', '=', orgCode)
    .where('member_permissions.user_id', '=', userId)
    .execute();
  const viaRoles = await db
    .selectFrom('member_roles')
    .innerJoin('roles', 'roles.id', 'member_roles.role_id')
    .innerJoin('role_permissions', 'role_permissions.role_id', 'member_roles.role_id')
    .innerJoin('permissions', 'permissions.id', 'role_permissions.permission_id')
    .selectAll('permissions')
    .select(['roles.id as role_id', 'roles.key as role_key'])
    .where('member_roles.organization_code', '=', orgCode)
    .where('member_roles.user_id', '=', userId)
    .execute();
  const byId = new Map<string, MemberPermission>();
  for (const row of [...direct, ...viaRoles]) {
    if (!byId.has(row.id)) byId.set(row.id, { ...toPermission(row), roles: [] });
  }
  for (const row of viaRoles.sort((a, b) => byKey({ key: a.role_key }, { key: b.role_key }))) {
    byId.get(row.id)!.roles.push({ id: row.role_id, key: row.role_key });
  }
  return [...byId.values()].sort(byKey);
}

/**
 * The token view of a member (contract doc, "Tokens"): `roles: [{id, key, name}]` and `permissions`,
 * the union of the roles' permissions and those given directly, as sorted, distinct keys. A person
 * who is not a member holds nothing (their grants go with the membership: the schema cascades).
 */
export async function memberAccess(db: Db | Tx, orgCode: string, userId: string): Promise<MemberAccess> {
  return toMemberAccess((await rolesAndPermissionsOfMember(db, { orgCode, userId })).rows);
}

/** The rows of `memberAccessQuery` as the token's roles and permissions. */
export function toMemberAccess(rows: ReadonlyArray<{ kind: 'role' | 'permission'; id: string | null; key: string; name: string | null }>): MemberAccess {
  const roles = rows.flatMap((row) => (row.kind === 'role' ? [{ id: row.id!, key: row.key, name: row.name! }] : []));
  return {
    roles: roles.sort(byKey),
    permissions: [...new Set(rows.filter((row) => row.kind === 'permission').map((row) => row.key))].sort(),
  };
}

const rolesAndPermissionsOfMember = preparedQuery((db, { orgCode, userId }: { orgCode: string; userId: string }) => memberAccessQuery(db, orgCode, userId));

/**
 * One statement for both (every token request reads them): the roles, then the permissions they give
 * and those given to the member directly. `orgCode` may be a subquery (the token's claim set).
 */
export function memberAccessQuery(db: Db | Tx, orgCode: string | Expression<string | null>, userId: string | Expression<string>) {
  const none = sql<string | null>`null`;
  return db
    .selectFrom('member_roles')
    .innerJoin('roles', 'roles.id', 'member_roles.role_id')
    .select([sql<'role' | 'permission'>`'role'`.as('kind'), sql.ref<string | null>('roles.id').as('id'), 'roles.key', sql.ref<string | null>('roles.name').as('name')])
    .where('member_roles.organization_code', '=', orgCode)
    .where('member_roles.user_id', '=', userId)
    .unionAll(
      db
        .selectFrom('member_roles')
        .innerJoin('role_permissions', 'role_permissions.role_id', 'member_roles.role_id')
        .innerJoin('permissions', 'permissions.id', 'role_permissions.permission_id')
        .select([sql<'role' | 'permission'>`'permission'`.as('kind'), none.as('id'), 'permissions.key', none.as('name')])
        .where('member_roles.organization_code', '=', orgCode)
        .where('member_roles.user_id', '=', userId),
    )
    .unionAll(
      db
        .selectFrom('member_permissions')
        .innerJoin('permissions', 'permissions.id', 'member_permissions.permission_id')
        .select([sql<'role' | 'permission'>`'permission'`.as('kind'), none.as('id'), 'permissions.key', none.as('name')])
        .where('member_permissions.organization_code', '=', orgCode)
        .where('member_permissions.user_id', '=', userId),
    );
}
