import type { NewEvent } from '../domain/events/outbox.ts';
import { membershipData, organizationData, permissionDataById, roleDataById, userDataById, userIdData } from '../domain/events/payloads.ts';
import type { Db } from '../store/db.ts';

/** What a successful management write did, as its handler left it (read in the write's transaction). */
export interface CommittedWrite {
  params: Record<string, string>;
  query: Record<string, unknown>;
  body: any;
}

type KindeEvents = (db: Db, write: CommittedWrite) => Promise<NewEvent[]>;

const ids = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

async function userUpdated(db: Db, userId: string | undefined): Promise<NewEvent[]> {
  const data = userId ? await userDataById(db, userId) : undefined;
  return data ? [{ type: 'user.updated', subject: userId, data }] : [];
}

const membership = (type: 'organization.user_added' | 'organization.user_removed', code: string, userId: string): NewEvent => ({
  type,
  subject: userId,
  data: membershipData(code, userId),
});

async function roleUpdated(db: Db, write: CommittedWrite): Promise<NewEvent[]> {
  const data = await roleDataById(db, write.params.role_id!);
  return data ? [{ type: 'role.updated', subject: write.params.role_id, data }] : [];
}

async function userUpdatedInOrganization(db: Db, write: CommittedWrite): Promise<NewEvent[]> {
  return userUpdated(db, write.params.user_id);
}

/**
 * The Kinde events each management write records (their `data` in Kinde's shapes). A write not
 * listed records Gatehouse's generic `management_api.write` instead: one event per write either way.
 */
const KINDE_EVENTS: Record<string, KindeEvents> = {
  'POST /user': async (db, write) => {
    const data = await userDataById(db, write.body?.id);
    if (!data) return [];
    // Created straight into an organization (`organization_code`): that membership is a change too.
    return [{ type: 'user.created', subject: data.user.id, data }, ...data.user.organizations.map((org) => membership('organization.user_added', org.code, data.user.id))];
  },
  'PATCH /user': (db, write) => userUpdated(db, String(write.query.id)),
  'DELETE /user': async (_db, write) => [{ type: 'user.deleted', subject: String(write.query.id), data: userIdData(String(write.query.id)) }],
  'PUT /users/:user_id/password': (db, write) => userUpdated(db, write.params.user_id),
  'POST /users/:user_id/identities': (db, write) => userUpdated(db, write.params.user_id),

  'POST /organization': async (db, write) => {
    const code = write.body?.organization?.code as string;
    const data = await organizationData(db, code);
    return data ? [{ type: 'organization.created', subject: code, data }] : [];
  },
  'PATCH /organization/:org_code': async (db, write) => {
    const data = await organizationData(db, write.params.org_code!);
    return data ? [{ type: 'organization.updated', subject: write.params.org_code, data }] : [];
  },
  'DELETE /organization/:org_code': async (_db, write) => [{ type: 'organization.deleted', subject: write.params.org_code, data: { organization: { code: write.params.org_code } } }],
  'POST /organizations/:org_code/users': async (_db, write) => ids(write.body?.users_added).map((userId) => membership('organization.user_added', write.params.org_code!, userId)),
  'PATCH /organizations/:org_code/users': async (db, write) => {
    const code = write.params.org_code!;
    const updated = await Promise.all(ids(write.body?.users_updated).map((userId) => userUpdated(db, userId)));
    return [
      ...ids(write.body?.users_added).map((userId) => membership('organization.user_added', code, userId)),
      ...updated.flat(),
      ...ids(write.body?.users_removed).map((userId) => membership('organization.user_removed', code, userId)),
    ];
  },
  'DELETE /organizations/:org_code/users/:user_id': async (_db, write) => [membership('organization.user_removed', write.params.org_code!, write.params.user_id!)],
  'POST /organizations/:org_code/users/:user_id/roles': userUpdatedInOrganization,
  'DELETE /organizations/:org_code/users/:user_id/roles/:role_id': userUpdatedInOrganization,
  'POST /organizations/:org_code/users/:user_id/permissions': userUpdatedInOrganization,
  'DELETE /organizations/:org_code/users/:user_id/permissions/:permission_id': userUpdatedInOrganization,

  'POST /roles': async (db, write) => {
    const data = await roleDataById(db, write.body?.role?.id);
    return data ? [{ type: 'role.created', subject: data.role.id, data }] : [];
  },
  'PATCH /roles/:role_id': roleUpdated,
  'PATCH /roles/:role_id/permissions': roleUpdated,
  'DELETE /roles/:role_id/permissions/:permission_id': roleUpdated,
  'DELETE /roles/:role_id': async (_db, write) => [{ type: 'role.deleted', subject: write.params.role_id, data: { role: { id: write.params.role_id } } }],
  'POST /permissions': async (db, write) => {
    const data = await permissionDataById(db, write.body?.permission?.id);
    return data ? [{ type: 'permission.created', subject: data.permission.id, data }] : [];
  },
  'PATCH /permissions/:permission_id': async (db, write) => {
    const data = await permissionDataById(db, write.params.permission_id!);
    return data ? [{ type: 'permission.updated', subject: write.params.permission_id, data }] : [];
  },
  'DELETE /permissions/:permission_id': async (_db, write) => [
    { type: 'permission.deleted', subject: write.params.permission_id, data: { permission: { id: write.params.permission_id } } },
  ],
};

/** The Kinde events of a write to `route` (as registered, without `/api/v1`), or none when it has none. */
export async function kindeEventsOf(db: Db, method: string, route: string, write: CommittedWrite): Promise<NewEvent[]> {
  const events = KINDE_EVENTS[`${method} ${route}`];
  return events ? events(db, write) : [];
}
