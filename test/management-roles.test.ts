import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer, newPermission, newRole } from './support/server.ts';

const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

for (const database of testDatabases()) {
  describe(`management API: roles and permissions (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    /** Every item of a `page_size` + `next_token` listing, walking the pages. */
    async function everything(path: string, key: string, pageSize = 500): Promise<any[]> {
      const items: any[] = [];
      let token: string | undefined;
      do {
        const { status, body } = await server.api('GET', `${path}?page_size=${pageSize}${token ? `&next_token=${token}` : ''}`);
        assert.equal(status, 200, JSON.stringify(body));
        items.push(...body[key]);
        token = body.next_token;
      } while (token);
      return items;
    }

    const count = async (table: 'roles' | 'permissions' | 'role_permissions') =>
      Number((await server.services.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);


    describe('roles', () => {
      it('creates a role (201 with its id) and answers in Kinde’s role shape', async () => {
        const created = await server.api('POST', '/roles', { key: 'admin', name: 'Administrator', description: 'Runs the place', is_default_role: false });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.body.code, 'OK');
        assert.equal(created.body.message, 'Success');
        const { id } = created.body.role;
        assert.match(id, UUID);

        const fetched = await server.api('GET', `/roles/${id}`);
        assert.equal(fetched.status, 200);
        assert.deepEqual(fetched.body, {
          code: 'OK',
          message: 'Success',
          role: { id, key: 'admin', name: 'Administrator', description: 'Runs the place', is_default_role: false, is_default_creator_role: false },
        });
        const listed = (await everything('/roles', 'roles')).find((role) => role.id === id);
        assert.deepEqual(listed, { id, key: 'admin', name: 'Administrator', description: 'Runs the place', is_default_role: false, is_default_creator_role: false });
      });

      it('pages roles with page_size and next_token', async () => {
        for (const key of ['page-a', 'page-b', 'page-c']) await newRole(server, key);
        const all = await everything('/roles', 'roles');
        const first = await server.api('GET', '/roles?page_size=2');
        assert.equal(first.body.roles.length, 2);
        assert.ok(first.body.next_token);
        const second = await server.api('GET', `/roles?page_size=2&next_token=${first.body.next_token}`);
        assert.equal(second.status, 200);
        assert.deepEqual([...first.body.roles, ...second.body.roles].map((r: any) => r.id), all.slice(0, 4).map((r) => r.id));
        assert.deepEqual((await everything('/roles', 'roles', 2)).map((r) => r.id), all.map((r) => r.id));
        assertKindeError(await server.api('GET', '/roles?next_token=garbage'), 400, 'INVALID_NEXT_TOKEN');
        assertKindeError(await server.api('GET', '/roles?sort=name_asc'), 400);
      });

      it('refuses a duplicate key with 409, writing nothing', async () => {
        await newRole(server, 'unique-role');
        const before = await count('roles');
        assertKindeError(await server.api('POST', '/roles', { key: 'unique-role', name: 'Again' }), 409, 'ROLE_EXISTS');
        assert.equal(await count('roles'), before);
      });

      it('refuses bad input with 400, writing nothing', async () => {
        const before = await count('roles');
        for (const body of [
          {},
          { name: 'No key' },
          { key: 'no-name' },
          { key: 'has space', name: 'Spaced' },
          { key: 'typed', name: 7 },
          { key: 'typed', name: 'Typed', is_default_role: 'yes' },
          { key: 'typed', name: 'Typed', assignment_permission_id: UNKNOWN_ID },
        ]) {
          assertKindeError(await server.api('POST', '/roles', body), 400, 'INVALID_REQUEST');
        }
        assert.equal(await count('roles'), before);
      });

      it('updates and deletes a role; unknown roles answer 404', async () => {
        const id = await newRole(server, 'editor');
        await newRole(server, 'taken');
        const updated = await server.api('PATCH', `/roles/${id}`, { key: 'chief-editor', name: 'Chief editor', description: 'Edits', is_default_role: true });
        assert.equal(updated.status, 200, JSON.stringify(updated.body));
        assert.equal(updated.body.code, 'OK');
        assert.deepEqual((await server.api('GET', `/roles/${id}`)).body.role, {
          id,
          key: 'chief-editor',
          name: 'Chief editor',
          description: 'Edits',
          is_default_role: true,
          is_default_creator_role: false,
        });
        assertKindeError(await server.api('PATCH', `/roles/${id}`, { key: 'taken', name: 'Clash' }), 409, 'ROLE_EXISTS');
        assertKindeError(await server.api('PATCH', `/roles/${id}`, { is_default_role: 'no' }), 400);
        assert.equal((await server.api('GET', `/roles/${id}`)).body.role.name, 'Chief editor', 'a refused update changes nothing');
        assert.equal((await server.api('PATCH', `/roles/${id}`, { description: '' })).status, 200);
        assert.equal((await server.api('GET', `/roles/${id}`)).body.role.description, null);

        assertKindeError(await server.api('GET', `/roles/${UNKNOWN_ID}`), 404, 'ROLE_INVALID');
        assertKindeError(await server.api('PATCH', `/roles/${UNKNOWN_ID}`, { name: 'Ghost' }), 404, 'ROLE_INVALID');
        assertKindeError(await server.api('DELETE', `/roles/${UNKNOWN_ID}`), 404, 'ROLE_INVALID');

        const deleted = await server.api('DELETE', `/roles/${id}`);
        assert.deepEqual(deleted, { status: 200, body: { code: 'OK', message: 'Success' } });
        assertKindeError(await server.api('GET', `/roles/${id}`), 404);
      });
    });

    describe('permissions', () => {
      it('creates, lists, updates and deletes permissions in Kinde’s shape', async () => {
        const created = await server.api('POST', '/permissions', { key: 'read:reports', name: 'Read reports', description: 'See them' });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        assert.equal(created.body.code, 'OK');
        const { id } = created.body.permission;
        assert.match(id, UUID);
        const listed = (await everything('/permissions', 'permissions')).find((p) => p.id === id);
        assert.deepEqual(listed, { id, key: 'read:reports', name: 'Read reports', description: 'See them' });

        assert.equal((await server.api('PATCH', `/permissions/${id}`, { name: 'Read all reports', description: null })).status, 200);
        assert.deepEqual((await everything('/permissions', 'permissions')).find((p) => p.id === id), {
          id,
          key: 'read:reports',
          name: 'Read all reports',
          description: null,
        });
        assertKindeError(await server.api('PATCH', `/permissions/${UNKNOWN_ID}`, { name: 'Ghost' }), 404, 'PERMISSION_INVALID');
        assert.equal((await server.api('DELETE', `/permissions/${id}`)).status, 200);
        assertKindeError(await server.api('DELETE', `/permissions/${id}`), 404, 'PERMISSION_INVALID');
      });

      it('pages permissions across two pages', async () => {
        for (const key of ['p:1', 'p:2', 'p:3']) await newPermission(server, key);
        const all = await everything('/permissions', 'permissions');
        assert.ok(all.length >= 3);
        const first = await server.api('GET', '/permissions?page_size=2');
        const second = await server.api('GET', `/permissions?page_size=2&next_token=${first.body.next_token}`);
        assert.deepEqual([...first.body.permissions, ...second.body.permissions].map((p: any) => p.id), all.slice(0, 4).map((p) => p.id));
        assert.deepEqual((await everything('/permissions', 'permissions', 2)).map((p) => p.id), all.map((p) => p.id));
      });

      it('refuses a duplicate key with 409 and bad input with 400, writing nothing', async () => {
        await newPermission(server, 'write:reports');
        const other = await newPermission(server, 'delete:reports');
        const before = await count('permissions');
        assertKindeError(await server.api('POST', '/permissions', { key: 'write:reports', name: 'Again' }), 409, 'PERMISSION_EXISTS');
        for (const body of [{}, { key: 'x y', name: 'Spaced' }, { key: 'ok', name: '' }, { key: ['list'], name: 'List' }]) {
          assertKindeError(await server.api('POST', '/permissions', body), 400, 'INVALID_REQUEST');
        }
        assert.equal(await count('permissions'), before);
        assertKindeError(await server.api('PATCH', `/permissions/${other}`, { key: 'write:reports' }), 409, 'PERMISSION_EXISTS');
      });
    });

    describe('a role’s permissions', () => {
      it('adds and removes permissions in one PATCH and lists them page by page', async () => {
        const role = await newRole(server, 'auditor');
        const [a, b, c] = [await newPermission(server, 'audit:a'), await newPermission(server, 'audit:b'), await newPermission(server, 'audit:c')];
        const patched = await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [{ id: a }, { id: b }, { id: c }] });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.deepEqual(patched.body, { code: 'OK', message: 'Success', permissions_added: [a, b, c], permissions_removed: [] });

        const first = await server.api('GET', `/roles/${role}/permissions?page_size=2`);
        assert.equal(first.status, 200);
        assert.equal(first.body.permissions.length, 2);
        const second = await server.api('GET', `/roles/${role}/permissions?page_size=2&next_token=${first.body.next_token}`);
        assert.equal(second.body.next_token, undefined);
        assert.deepEqual([...first.body.permissions, ...second.body.permissions].map((p: any) => p.key), ['audit:a', 'audit:b', 'audit:c']);
        assert.deepEqual(first.body.permissions[0], { id: a, key: 'audit:a', name: 'Permission audit:a', description: null });

        const removed = await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [{ id: a, operation: 'delete' }] });
        assert.deepEqual(removed.body.permissions_removed, [a]);
        assert.equal((await server.api('DELETE', `/roles/${role}/permissions/${b}`)).status, 200);
        assertKindeError(await server.api('DELETE', `/roles/${role}/permissions/${b}`), 404);
        assert.deepEqual((await everything(`/roles/${role}/permissions`, 'permissions')).map((p) => p.id), [c]);
      });

      it('refuses an unknown role or permission, or a bad operation, changing nothing', async () => {
        const role = await newRole(server, 'careful');
        const known = await newPermission(server, 'careful:read');
        const before = await count('role_permissions');
        assertKindeError(await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [{ id: known }, { id: UNKNOWN_ID }] }), 404, 'PERMISSION_INVALID');
        assertKindeError(await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [{ id: known, operation: 'remove' }] }), 400);
        assertKindeError(await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [] }), 400);
        assertKindeError(await server.api('PATCH', `/roles/${UNKNOWN_ID}/permissions`, { permissions: [{ id: known }] }), 404, 'ROLE_INVALID');
        assertKindeError(await server.api('GET', `/roles/${UNKNOWN_ID}/permissions`), 404, 'ROLE_INVALID');
        assert.equal(await count('role_permissions'), before);
      });
    });
  });
}
