import type { Db, Tx } from '../../store/db.ts';
import { findOrganization, organizationsOf } from '../organizations.ts';
import { findPermission, findRole, memberPermissions, memberRoles, type Permission, type Role } from '../roles.ts';
import { findUser, primaryIdentity, type User } from '../users.ts';

/**
 * The `data` of each Kinde event, in the shapes Kinde sends (spec section 040, `@kinde/webhooks`):
 * read inside the transaction of the change, so they say what was committed with it.
 */

export async function userData(db: Db | Tx, user: User) {
  const organizations = await Promise.all(
    (await organizationsOf(db, user.id)).map(async ({ code }) => {
      const roles = await memberRoles(db, code, user.id);
      const permissions = await memberPermissions(db, code, user.id);
      return {
        code,
        roles: roles.length ? roles.map((role) => ({ id: role.id, key: role.key })) : null,
        permissions: permissions.length ? permissions.map((permission) => ({ id: permission.id, key: permission.key })) : null,
      };
    }),
  );
  return {
    user: {
      id: user.id,
      email: primaryIdentity(user, 'email')?.value ?? null,
      phone: primaryIdentity(user, 'phone')?.value ?? null,
      username: primaryIdentity(user, 'username')?.value ?? null,
      first_name: user.firstName,
      last_name: user.lastName,
      is_suspended: user.isSuspended,
      is_password_reset_requested: user.isPasswordResetRequested,
      organizations,
    },
  };
}

/** `user.created` / `user.updated` data for a user by id; undefined when it is gone. */
export async function userDataById(db: Db | Tx, userId: string) {
  const user = await findUser(db, userId);
  return user ? userData(db, user) : undefined;
}

export const userIdData = (userId: string) => ({ user: { id: userId } });

/** `organization.user_added` and `organization.user_removed`: the organization and the person. */
export const membershipData = (code: string, userId: string) => ({ organization: { code }, ...userIdData(userId) });

export async function organizationData(db: Db | Tx, code: string) {
  const organization = await findOrganization(db, code);
  if (!organization) return undefined;
  return {
    organization: {
      code: organization.code,
      name: organization.name,
      handle: null,
      external_id: organization.externalId,
      is_allow_registrations: organization.policy.allowRegistrations,
    },
  };
}

export const roleData = (role: Role) => ({ role: { id: role.id, key: role.key, name: role.name, description: role.description, is_default_role: role.isDefaultRole } });

export async function roleDataById(db: Db | Tx, id: string) {
  const role = await findRole(db, id);
  return role ? roleData(role) : undefined;
}

export const permissionData = (permission: Permission) => ({ permission: { id: permission.id, key: permission.key, name: permission.name, description: permission.description } });

export async function permissionDataById(db: Db | Tx, id: string) {
  const permission = await findPermission(db, id);
  return permission ? permissionData(permission) : undefined;
}
