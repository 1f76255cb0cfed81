import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findApplication } from '../src/domain/applications.ts';
import { featureFlagsFor } from '../src/domain/feature-flags.ts';
import { findOrganization } from '../src/domain/organizations.ts';
import { memberAccess } from '../src/domain/roles.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer, newPermission, newRole } from './support/server.ts';

const UNKNOWN_ORG = 'org_00000000000';
const UNKNOWN_USER = 'kp_00000000000000000000000000000000';
const UNKNOWN_ID = '00000000-0000-4000-8000-000000000000';

for (const database of testDatabases()) {
  describe(`management API: organizations (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    async function everything(path: string, key: string, pageSize = 500): Promise<any[]> {
      const items: any[] = [];
      let token: string | undefined;
      do {
        const separator = path.includes('?') ? '&' : '?';
        const { status, body } = await server.api('GET', `${path}${separator}page_size=${pageSize}${token ? `&next_token=${token}` : ''}`);
        assert.equal(status, 200, JSON.stringify(body));
        items.push(...body[key]);
        token = body.next_token;
      } while (token);
      return items;
    }

    const count = async (table: 'organizations' | 'organization_members' | 'member_roles' | 'member_permissions' | 'users' | 'feature_flags' | 'organization_feature_flags') =>
      Number((await server.services.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

    async function newOrganization(name: string, extra: Record<string, unknown> = {}): Promise<string> {
      const { status, body } = await server.api('POST', '/organization', { name, ...extra });
      assert.equal(status, 200, JSON.stringify(body));
      return body.organization.code;
    }

    let people = 0;
    async function newUser(extra: Record<string, unknown> = {}): Promise<string> {
      const n = ++people;
      const { status, body } = await server.api('POST', '/user', {
        profile: { given_name: `Given${n}`, family_name: `Family${n}` },
        identities: [{ type: 'email', is_verified: true, details: { email: `person${n}@acme.test` } }],
        ...extra,
      });
      assert.equal(status, 200, JSON.stringify(body));
      return body.id;
    }


    describe('organizations', () => {
      it('creates an organization and answers in Kinde’s shapes', async () => {
        const created = await server.api('POST', '/organization', { name: 'Acme Corp', external_id: 'acme-1', is_auto_membership_enabled: true });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        assert.equal(created.body.code, 'OK');
        assert.equal(created.body.message, 'Success');
        const code = created.body.organization.code;
        assert.match(code, /^org_[0-9a-f]{11}$/);

        const fetched = await server.api('GET', `/organization?code=${code}`);
        assert.equal(fetched.status, 200);
        assert.ok(Date.parse(fetched.body.created_on) > Date.now() - 60_000);
        assert.deepEqual(fetched.body, {
          code,
          name: 'Acme Corp',
          handle: null,
          is_default: false,
          external_id: 'acme-1',
          is_auto_membership_enabled: true,
          logo: null,
          logo_dark: null,
          favicon_svg: null,
          favicon_fallback: null,
          allowed_domains: [],
          created_on: fetched.body.created_on,
          is_allow_registrations: true,
          sender_name: null,
          sender_email: null,
          is_suspended: false,
          suspended_on: null,
          is_auto_join_domain_list: false,
        });
        const listed = (await everything('/organizations', 'organizations')).find((org) => org.code === code);
        assert.deepEqual(listed, { code, name: 'Acme Corp', handle: null, is_default: false, external_id: 'acme-1', is_auto_membership_enabled: true });
      });

      it('answers with the default organization when no code is given', async () => {
        const { status, body } = await server.api('GET', '/organization');
        assert.equal(status, 200);
        assert.equal(body.is_default, true);
        assert.equal(body.name, 'Default Organization');
        assert.equal((await everything('/organizations', 'organizations')).filter((org) => org.is_default).length, 1);
      });

      it('pages organizations with page_size and next_token', async () => {
        for (const name of ['Page A', 'Page B', 'Page C']) await newOrganization(name);
        const all = await everything('/organizations', 'organizations');
        assert.ok(all.length >= 4);
        const first = await server.api('GET', '/organizations?page_size=2');
        assert.equal(first.body.organizations.length, 2);
        const second = await server.api('GET', `/organizations?page_size=2&next_token=${first.body.next_token}`);
        assert.deepEqual([...first.body.organizations, ...second.body.organizations].map((o: any) => o.code), all.slice(0, 4).map((o) => o.code));
        assert.deepEqual((await everything('/organizations', 'organizations', 2)).map((o) => o.code), all.map((o) => o.code));
        assertKindeError(await server.api('GET', '/organizations?next_token=nope'), 400, 'INVALID_NEXT_TOKEN');
      });

      it('updates the name, external id and join policy', async () => {
        const code = await newOrganization('Before');
        const updated = await server.api('PATCH', `/organization/${code}`, {
          name: 'After',
          external_id: 'ext-9',
          allowed_domains: ['Acme.Test', 'acme.example'],
          is_auto_join_domain_list: true,
          is_auto_membership_enabled: true,
          is_enable_advanced_orgs: true,
        });
        assert.equal(updated.status, 200, JSON.stringify(updated.body));
        assert.deepEqual(updated.body, { code: 'OK', message: 'Success' });
        const { body } = await server.api('GET', `/organization?code=${code}`);
        assert.equal(body.name, 'After');
        assert.equal(body.external_id, 'ext-9');
        assert.deepEqual(body.allowed_domains, ['acme.test', 'acme.example']);
        assert.equal(body.is_auto_join_domain_list, true);
        assert.equal(body.is_auto_membership_enabled, true);
        assert.deepEqual((await findOrganization(server.services.db, code))?.policy, {
          allowedDomains: ['acme.test', 'acme.example'],
          autoJoinFromAllowedDomains: true,
          allowRegistrations: true,
        });

        // Kinde's deprecated name works too; "" clears the external id.
        await server.api('PATCH', `/organization/${code}`, { is_allow_registrations: false, external_id: '' });
        const cleared = (await server.api('GET', `/organization?code=${code}`)).body;
        assert.equal(cleared.is_auto_membership_enabled, false);
        assert.equal(cleared.external_id, null);
      });

      it('refuses bad input and unknown organizations, changing nothing', async () => {
        const code = await newOrganization('Steady', { allowed_domains: ['steady.test'] });
        const before = await count('organizations');
        for (const body of [{}, { name: '' }, { name: 5 }, { name: 'Branded', background_color: '#fff' }, { name: 'Billed', is_create_billing_customer: true }, { name: 'Bad', allowed_domains: ['not a domain'] }]) {
          assertKindeError(await server.api('POST', '/organization', body), 400, 'INVALID_REQUEST');
        }
        assert.equal(await count('organizations'), before);

        for (const body of [
          { name: '' },
          { allowed_domains: 'steady.test' },
          { allowed_domains: ['ok.test', '@bad'] },
          { is_auto_join_domain_list: 'yes' },
          { is_enforce_mfa: 'yes' },
          { is_suspended: true },
        ]) {
          assertKindeError(await server.api('PATCH', `/organization/${code}`, body), 400, 'INVALID_REQUEST');
        }
        const { body } = await server.api('GET', `/organization?code=${code}`);
        assert.equal(body.name, 'Steady');
        assert.deepEqual(body.allowed_domains, ['steady.test']);

        assertKindeError(await server.api('GET', `/organization?code=${UNKNOWN_ORG}`), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('PATCH', `/organization/${UNKNOWN_ORG}`, { name: 'Ghost' }), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('DELETE', `/organization/${UNKNOWN_ORG}`), 404, 'ORGANIZATION_INVALID');
      });

      it('deletes an organization, but never the default one', async () => {
        const code = await newOrganization('Doomed');
        const member = await newUser();
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: member }] });
        assert.deepEqual(await server.api('DELETE', `/organization/${code}`), { status: 200, body: { code: 'OK', message: 'Success' } });
        assertKindeError(await server.api('GET', `/organization?code=${code}`), 404);
        assert.deepEqual((await server.api('GET', `/user?id=${member}`)).body.organizations, []);

        const defaultCode = (await server.api('GET', '/organization')).body.code;
        assertKindeError(await server.api('DELETE', `/organization/${defaultCode}`), 400, 'DEFAULT_ORGANIZATION');
        assert.equal((await server.api('GET', `/organization?code=${defaultCode}`)).status, 200);
      });
    });

    describe('members', () => {
      it('adds people with roles and permissions, and lists them as organization_users', async () => {
        const code = await newOrganization('Members Inc');
        await newRole(server, 'org-admin');
        await newRole(server, 'org-default', { is_default_role: true });
        await newPermission(server, 'members:invite');
        const [ann, bob] = [await newUser(), await newUser()];

        const added = await server.api('POST', `/organizations/${code}/users`, {
          users: [{ id: ann, roles: ['org-admin'], permissions: ['members:invite'] }, { id: bob }],
        });
        assert.equal(added.status, 200, JSON.stringify(added.body));
        assert.deepEqual(added.body, { code: 'OK', message: 'Success', users_added: [ann, bob] });

        const listed = await server.api('GET', `/organizations/${code}/users`);
        assert.equal(listed.status, 200);
        assert.equal(listed.body.code, 'OK');
        const annJson = listed.body.organization_users.find((u: any) => u.id === ann);
        assert.ok(Date.parse(annJson.joined_on) > Date.now() - 60_000);
        assert.deepEqual(annJson, {
          id: ann,
          email: `person${people - 1}@acme.test`,
          full_name: `Given${people - 1} Family${people - 1}`,
          first_name: `Given${people - 1}`,
          last_name: `Family${people - 1}`,
          picture: null,
          joined_on: annJson.joined_on,
          last_accessed_on: null,
          is_suspended: false,
          roles: ['org-admin'],
        });
        assert.deepEqual(listed.body.organization_users.find((u: any) => u.id === bob).roles, ['org-default'], 'default roles when none are named');
        const access = await memberAccess(server.services.db, code, ann);
        assert.deepEqual(access.roles.map((r) => r.key), ['org-admin']);
        assert.deepEqual(access.permissions, ['members:invite']);
        assert.deepEqual((await server.api('GET', `/user?id=${ann}`)).body.organizations, [code]);
        const listedUser = (await everything('/users', 'users')).find((u) => u.id === ann);
        assert.deepEqual(listedUser.organizations, [code]);

        // Adding again is harmless.
        const again = await server.api('POST', `/organizations/${code}/users`, { users: [{ id: bob }] });
        assert.equal(again.status, 200);
        assert.equal((await everything(`/organizations/${code}/users`, 'organization_users')).length, 2);
      });

      it('pages members across two pages', async () => {
        const code = await newOrganization('Many');
        const ids = [await newUser(), await newUser(), await newUser()];
        await server.api('POST', `/organizations/${code}/users`, { users: ids.map((id) => ({ id })) });
        const first = await server.api('GET', `/organizations/${code}/users?page_size=2`);
        assert.equal(first.body.organization_users.length, 2);
        assert.ok(first.body.next_token);
        const second = await server.api('GET', `/organizations/${code}/users?page_size=2&next_token=${first.body.next_token}`);
        assert.equal(second.body.next_token, undefined);
        assert.deepEqual([...first.body.organization_users, ...second.body.organization_users].map((u: any) => u.id).sort(), [...ids].sort());
        assertKindeError(await server.api('GET', `/organizations/${code}/users?roles=admin`), 400);
        assertKindeError(await server.api('GET', `/organizations/${UNKNOWN_ORG}/users`), 404, 'ORGANIZATION_INVALID');
      });

      it('refuses an unknown person, role, permission or organization, adding nobody', async () => {
        const code = await newOrganization('Careful');
        const known = await newUser();
        await newRole(server, 'careful-role');
        const before = await count('organization_members');
        assertKindeError(await server.api('POST', `/organizations/${code}/users`, { users: [{ id: known }, { id: UNKNOWN_USER }] }), 404, 'USER_INVALID');
        assertKindeError(await server.api('POST', `/organizations/${code}/users`, { users: [{ id: known, roles: ['careful-role', 'no-such-role'] }] }), 404, 'ROLE_INVALID');
        assertKindeError(await server.api('POST', `/organizations/${code}/users`, { users: [{ id: known, permissions: ['no:such'] }] }), 404, 'PERMISSION_INVALID');
        assertKindeError(await server.api('POST', `/organizations/${UNKNOWN_ORG}/users`, { users: [{ id: known }] }), 404, 'ORGANIZATION_INVALID');
        for (const body of [{}, { users: [] }, { users: [{}] }, { users: [{ id: known, roles: 'careful-role' }] }, { users: 'all' }]) {
          assertKindeError(await server.api('POST', `/organizations/${code}/users`, body), 400, 'INVALID_REQUEST');
        }
        assert.equal(await count('organization_members'), before);
      });

      it('adds, updates and removes in one PATCH', async () => {
        const code = await newOrganization('Patchwork');
        await newRole(server, 'patch-a');
        await newRole(server, 'patch-b');
        const [stay, leave, join] = [await newUser(), await newUser(), await newUser()];
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: stay, roles: ['patch-a'] }, { id: leave }] });
        const patched = await server.api('PATCH', `/organizations/${code}/users`, {
          users: [{ id: stay, roles: ['patch-b'] }, { id: leave, operation: 'delete' }, { id: join, roles: ['patch-a'] }],
        });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.deepEqual(patched.body, { code: 'OK', message: 'Success', users_added: [join], users_updated: [stay], users_removed: [leave] });
        const members = await everything(`/organizations/${code}/users`, 'organization_users');
        assert.deepEqual(Object.fromEntries(members.map((m) => [m.id, m.roles])), { [stay]: ['patch-b'], [join]: ['patch-a'] });

        const before = await count('organization_members');
        assertKindeError(await server.api('PATCH', `/organizations/${code}/users`, { users: [{ id: stay, operation: 'delete' }, { id: UNKNOWN_USER, operation: 'delete' }] }), 404);
        assertKindeError(await server.api('PATCH', `/organizations/${code}/users`, { users: [{ id: stay, operation: 'remove' }] }), 400);
        assert.equal(await count('organization_members'), before);
      });

      it('removes a member, and answers 404 for people who are not members', async () => {
        const code = await newOrganization('Leavers');
        const member = await newUser();
        const stranger = await newUser();
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: member }] });
        assert.deepEqual(await server.api('DELETE', `/organizations/${code}/users/${member}`), { status: 200, body: { code: 'OK', message: 'Success' } });
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${member}`), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${stranger}`), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${UNKNOWN_USER}`), 404, 'USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${UNKNOWN_ORG}/users/${member}`), 404, 'ORGANIZATION_INVALID');
      });

      it('gives and takes a member’s roles', async () => {
        const code = await newOrganization('Role play');
        const member = await newUser();
        const stranger = await newUser();
        const role = await newRole(server, 'role-play');
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: member, roles: [] }] });
        assert.deepEqual((await server.api('GET', `/organizations/${code}/users/${member}/roles`)).body, { code: 'OK', message: 'Success', roles: [] });

        assert.deepEqual(await server.api('POST', `/organizations/${code}/users/${member}/roles`, { role_id: role }), { status: 200, body: { code: 'OK', message: 'Success' } });
        assert.deepEqual((await server.api('GET', `/organizations/${code}/users/${member}/roles`)).body.roles, [{ id: role, key: 'role-play', name: 'Role role-play' }]);
        assertKindeError(await server.api('POST', `/organizations/${code}/users/${member}/roles`, { role_id: UNKNOWN_ID }), 404, 'ROLE_INVALID');
        assertKindeError(await server.api('POST', `/organizations/${code}/users/${member}/roles`, {}), 400);
        assertKindeError(await server.api('POST', `/organizations/${code}/users/${stranger}/roles`, { role_id: role }), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('GET', `/organizations/${code}/users/${UNKNOWN_USER}/roles`), 404, 'USER_INVALID');

        assert.equal((await server.api('DELETE', `/organizations/${code}/users/${member}/roles/${role}`)).status, 200);
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${member}/roles/${role}`), 404, 'ROLE_NOT_ASSIGNED');
        assert.deepEqual((await server.api('GET', `/organizations/${code}/users/${member}/roles`)).body.roles, []);
      });

      it('gives and takes a member’s permissions, and shows where they come from', async () => {
        const code = await newOrganization('Permits');
        const member = await newUser();
        const direct = await newPermission(server, 'permits:direct');
        const viaRole = await newPermission(server, 'permits:role');
        const role = await newRole(server, 'permit-holder');
        await server.api('PATCH', `/roles/${role}/permissions`, { permissions: [{ id: viaRole }] });
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: member, roles: ['permit-holder'] }] });

        assert.deepEqual(await server.api('POST', `/organizations/${code}/users/${member}/permissions`, { permission_id: direct }), { status: 200, body: { code: 'OK', message: 'Success' } });
        const plain = await server.api('GET', `/organizations/${code}/users/${member}/permissions`);
        assert.deepEqual(plain.body, {
          code: 'OK',
          message: 'Success',
          permissions: [
            { id: direct, key: 'permits:direct', name: 'Permission permits:direct', description: null },
            { id: viaRole, key: 'permits:role', name: 'Permission permits:role', description: null },
          ],
        });
        const expanded = await server.api('GET', `/organizations/${code}/users/${member}/permissions?expand=roles`);
        assert.deepEqual(expanded.body.permissions.map((p: any) => p.roles), [[], [{ id: role, key: 'permit-holder' }]]);
        assertKindeError(await server.api('POST', `/organizations/${code}/users/${member}/permissions`, { permission_id: UNKNOWN_ID }), 404, 'PERMISSION_INVALID');

        assert.equal((await server.api('DELETE', `/organizations/${code}/users/${member}/permissions/${direct}`)).status, 200);
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${member}/permissions/${viaRole}`), 404, 'PERMISSION_NOT_ASSIGNED');
        assert.deepEqual((await memberAccess(server.services.db, code, member)).permissions, ['permits:role']);
      });

      it('adds a user created with organization_code to that organization, and refuses an unknown one', async () => {
        const code = await newOrganization('Born here');
        await newRole(server, 'born-default', { is_default_role: true });
        const id = await newUser({ organization_code: code });
        assert.deepEqual((await server.api('GET', `/user?id=${id}`)).body.organizations, [code]);
        assert.deepEqual((await server.api('GET', `/organizations/${code}/users/${id}/roles`)).body.roles.map((r: any) => r.key).includes('born-default'), true);

        const before = await count('users');
        assertKindeError(
          await server.api('POST', '/user', { organization_code: UNKNOWN_ORG, identities: [{ type: 'email', details: { email: 'orphan@acme.test' } }] }),
          404,
          'ORGANIZATION_INVALID',
        );
        assertKindeError(await server.api('POST', '/user', { organization_code: 42 }), 400, 'INVALID_REQUEST');
        assert.equal(await count('users'), before);
        assert.equal((await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'orphan@acme.test' } }] })).status, 200, 'the email was not taken');
      });
    });

    describe('connections and sessions', () => {
      it('gives an organization its own connections (section 046)', async () => {
        const code = await newOrganization('Own auth');
        const connections = (await server.api('GET', '/connections?page_size=500')).body.connections;
        const [first, second] = connections;
        assert.deepEqual((await server.api('GET', `/organizations/${code}/connections`)).body, { code: 'OK', message: 'Success', connections: [], has_more: false });

        assert.deepEqual(await server.api('POST', `/organizations/${code}/connections/${first.id}`), { status: 200, body: { code: 'OK', message: 'Success' } });
        assert.equal((await server.api('POST', `/organizations/${code}/connections/${second.id}`)).status, 200);
        const own = (await server.api('GET', `/organizations/${code}/connections`)).body.connections;
        assert.deepEqual(own.map((c: any) => c.id).sort(), [first.id, second.id].sort());
        assert.deepEqual(own.find((c: any) => c.id === first.id), first);
        assert.equal((await findOrganization(server.services.db, code))?.hasOwnConnections, true);

        assert.equal((await server.api('DELETE', `/organizations/${code}/connections/${first.id}`)).status, 200);
        assert.equal((await server.api('DELETE', `/organizations/${code}/connections/${second.id}`)).status, 200);
        assert.equal((await findOrganization(server.services.db, code))?.hasOwnConnections, false, 'no connections left: back to the environment’s');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/connections/${second.id}`), 404, 'CONNECTION_NOT_FOUND');
        assertKindeError(await server.api('POST', `/organizations/${code}/connections/conn_00000000000000000000000000000000`), 404, 'CONNECTION_NOT_FOUND');
        assertKindeError(await server.api('POST', `/organizations/${UNKNOWN_ORG}/connections/${first.id}`), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('GET', `/organizations/${UNKNOWN_ORG}/connections`), 404, 'ORGANIZATION_INVALID');
      });

      it('sets the organization’s session policy (section 047)', async () => {
        const code = await newOrganization('Sessions');
        const response = await server.api('PATCH', `/organizations/${code}/sessions`, {
          is_use_org_sso_session_policy: true,
          sso_session_persistence_mode: 'non_persistent',
          is_use_org_authenticated_session_lifetime: true,
          authenticated_session_lifetime: 3600,
        });
        assert.deepEqual(response, { status: 200, body: { code: 'OK', message: 'Success' } });
        assert.deepEqual((await findOrganization(server.services.db, code))?.sessionPolicy, {
          useOrgPolicy: true,
          persistence: 'non_persistent',
          useOrgAuthenticatedSessionLifetime: true,
          authenticatedSessionLifetime: 3600,
        });
        for (const body of [{ sso_session_persistence_mode: 'forever' }, { authenticated_session_lifetime: '3600' }, { authenticated_session_lifetime: 1 }, { is_use_org_sso_session_policy: 'yes' }]) {
          assertKindeError(await server.api('PATCH', `/organizations/${code}/sessions`, body), 400, 'INVALID_REQUEST');
        }
        assert.equal((await findOrganization(server.services.db, code))?.sessionPolicy.authenticatedSessionLifetime, 3600);
        assertKindeError(await server.api('PATCH', `/organizations/${UNKNOWN_ORG}/sessions`, { is_use_org_sso_session_policy: true }), 404, 'ORGANIZATION_INVALID');
      });
    });

    describe('feature flags', () => {
      it('creates, replaces and deletes flags in Kinde’s shapes', async () => {
        const created = await server.api('POST', '/feature_flags', { key: 'api_theme', name: 'Theme', description: 'Colours', type: 'str', allow_override_level: 'usr', default_value: 'light' });
        assert.deepEqual(created, { status: 201, body: { code: 'OK', message: 'Success' } });
        assertKindeError(await server.api('POST', '/feature_flags', { key: 'api_theme', name: 'Again', type: 'str', default_value: 'x' }), 409, 'FEATURE_FLAG_EXISTS');
        const before = await count('feature_flags');
        for (const body of [
          { key: 'bad key', name: 'Spaced', type: 'str', default_value: 'x' },
          { key: 'api_bad', name: 'Typed', type: 'float', default_value: '1.5' },
          { key: 'api_bad', name: 'Bool', type: 'bool', default_value: 'yes' },
          { key: 'api_bad', name: 'Int', type: 'int', default_value: 'many' },
          { key: 'api_bad', name: 'Missing default', type: 'int' },
        ]) {
          const response = await server.api('POST', '/feature_flags', body);
          assertKindeError(response, 400);
        }
        assert.equal(await count('feature_flags'), before);

        let environment = (await server.api('GET', '/environment/feature_flags')).body;
        assert.deepEqual(environment.feature_flags.api_theme, { type: 'str', value: 'light' });

        const replaced = await server.api('PUT', '/feature_flags/api_theme?name=Theme&description=Colours&type=str&allow_override_level=org&default_value=dark');
        assert.deepEqual(replaced, { status: 200, body: { code: 'OK', message: 'Success' } });
        environment = (await server.api('GET', '/environment/feature_flags')).body;
        assert.deepEqual(environment.feature_flags.api_theme, { type: 'str', value: 'dark' });
        assertKindeError(await server.api('PUT', '/feature_flags/api_none?name=X&type=str&allow_override_level=org&default_value=x'), 404, 'FEATURE_FLAG_INVALID');
        assertKindeError(await server.api('PUT', '/feature_flags/api_theme?name=X&type=bool&allow_override_level=org&default_value=maybe'), 400);

        assert.deepEqual(await server.api('DELETE', '/feature_flags/api_theme'), { status: 200, body: { code: 'OK', message: 'Success' } });
        assertKindeError(await server.api('DELETE', '/feature_flags/api_theme'), 404, 'FEATURE_FLAG_INVALID');
      });

      it('overrides a flag for an organization and for a user, in that order of precedence', async () => {
        const code = await newOrganization('Flagged');
        const user = await newUser();
        await server.api('POST', '/feature_flags', { key: 'api_seats', name: 'Seats', type: 'int', default_value: '5' });
        await server.api('POST', '/feature_flags', { key: 'api_beta', name: 'Beta', type: 'bool', default_value: 'false' });

        assert.deepEqual(await server.api('PATCH', `/organizations/${code}/feature_flags/api_seats?value=50`), { status: 200, body: { code: 'OK', message: 'Success' } });
        assert.deepEqual(await server.api('PATCH', `/users/${user}/feature_flags/api_beta?value=true`), { status: 200, body: { code: 'OK', message: 'Success' } });
        const orgFlags = (await server.api('GET', `/organizations/${code}/feature_flags`)).body;
        assert.equal(orgFlags.code, 'OK');
        assert.deepEqual(orgFlags.feature_flags.api_seats, { type: 'int', value: '50' });
        assert.deepEqual(orgFlags.feature_flags.api_beta, { type: 'bool', value: 'false' });

        const claims = await featureFlagsFor(server.services.db, code, user);
        assert.deepEqual([claims.api_seats, claims.api_beta], [{ t: 'i', v: 50 }, { t: 'b', v: true }]);

        const before = await count('organization_feature_flags');
        assertKindeError(await server.api('PATCH', `/organizations/${code}/feature_flags/api_seats?value=lots`), 400, 'INVALID_FLAG_VALUE');
        assertKindeError(await server.api('PATCH', `/organizations/${code}/feature_flags/api_seats`), 400, 'INVALID_REQUEST');
        assertKindeError(await server.api('PATCH', `/organizations/${code}/feature_flags/api_none?value=1`), 404, 'FEATURE_FLAG_INVALID');
        assertKindeError(await server.api('PATCH', `/organizations/${UNKNOWN_ORG}/feature_flags/api_seats?value=1`), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('PATCH', `/users/${UNKNOWN_USER}/feature_flags/api_beta?value=true`), 404, 'USER_INVALID');
        assertKindeError(await server.api('PATCH', `/users/${user}/feature_flags/api_beta?value=1`), 400, 'INVALID_FLAG_VALUE');
        assert.equal(await count('organization_feature_flags'), before);
        assertKindeError(await server.api('PUT', '/feature_flags/api_seats?name=Seats&type=str&allow_override_level=org&default_value=five'), 400, 'FEATURE_FLAG_OVERRIDDEN');

        assert.equal((await server.api('DELETE', `/organizations/${code}/feature_flags/api_seats`)).status, 200);
        assert.equal((await server.api('DELETE', `/users/${user}/feature_flags/api_beta`)).status, 200);
        const after = await featureFlagsFor(server.services.db, code, user);
        assert.deepEqual([after.api_seats, after.api_beta], [{ t: 'i', v: 5 }, { t: 'b', v: false }]);

        await server.api('PATCH', `/organizations/${code}/feature_flags/api_beta?value=true`);
        assert.equal((await server.api('DELETE', `/organizations/${code}/feature_flags`)).status, 200);
        assert.deepEqual((await featureFlagsFor(server.services.db, code, user)).api_beta, { t: 'b', v: false });
      });
    });

    describe('users and applications', () => {
      it('accepts refresh_claims for a user, 404 for an unknown one (section 050)', async () => {
        const user = await newUser();
        assert.deepEqual(await server.api('POST', `/users/${user}/refresh_claims`), { status: 200, body: { code: 'OK', message: 'Success' } });
        const row = await server.services.db.selectFrom('users').select('claims_refreshed_at').where('id', '=', user).executeTakeFirstOrThrow();
        assert.ok(row.claims_refreshed_at !== null);
        assertKindeError(await server.api('POST', `/users/${UNKNOWN_USER}/refresh_claims`), 404, 'USER_INVALID');
      });

      it('switches organization claims and Hasura mapping on for an application', async () => {
        const app = (await server.api('POST', '/applications', { name: 'Switcher', type: 'reg' })).body.application;
        const patched = await server.api('PATCH', `/applications/${app.id}`, { is_org_name_in_token: true, is_organizations_in_id_token: true });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.equal((await server.api('PATCH', `/applications/${app.id}/tokens`, { is_hasura_mapping_enabled: true })).status, 200);
        let stored = await findApplication(server.services.db, app.id);
        assert.deepEqual([stored?.isOrgNameInToken, stored?.isOrganizationsInIdToken, stored?.isHasuraMappingEnabled], [true, true, true]);

        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { is_org_name_in_token: 'yes' }), 400);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}/tokens`, { is_hasura_mapping_enabled: 1 }), 400);
        await server.api('PATCH', `/applications/${app.id}/tokens`, { is_hasura_mapping_enabled: false });
        stored = await findApplication(server.services.db, app.id);
        assert.deepEqual([stored?.isOrgNameInToken, stored?.isOrganizationsInIdToken, stored?.isHasuraMappingEnabled], [true, true, false]);
      });
    });
  });
}
