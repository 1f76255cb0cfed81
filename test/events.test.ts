import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { withinAttempts } from '../src/domain/attack-protection.ts';
import { recordEvent } from '../src/domain/events/outbox.ts';
import { pruneEvents } from '../src/domain/events/queries.ts';
import { clock } from '../src/clock.ts';
import { inTransaction } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, BOOTSTRAP, newPermission, newRole, serverForSuite, type TestServer } from './support/server.ts';

const EVENT_ID = /^event_[0-9a-f]{32}$/;

for (const database of testDatabases()) {
  describe(`events: the outbox and the audit log (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    /** The audit log's events of this type about this subject (the Gatehouse extension). */
    async function eventsOf(type: string, subject: string): Promise<any[]> {
      const { status, body } = await server.api('GET', `/events?type=${type}&subject=${encodeURIComponent(subject)}&page_size=50`);
      assert.equal(status, 200, JSON.stringify(body));
      return body.events;
    }

    async function theEvent(type: string, subject: string): Promise<any> {
      const events = await eventsOf(type, subject);
      assert.equal(events.length, 1, `one ${type} event for ${subject}: ${JSON.stringify(events)}`);
      return events[0];
    }

    it('records user.created with Kinde’s data, who did it, from where, and serves it as Kinde does', async () => {
      const org = (await server.api('POST', '/organization', { name: 'Events Org' })).body.organization.code as string;
      const created = await server.api('POST', '/user', {
        profile: { given_name: 'Eve', family_name: 'Vent' },
        organization_code: org,
        identities: [{ type: 'email', details: { email: 'eve@example.test' } }],
      });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const userId = created.body.id as string;

      const event = await theEvent('user.created', userId);
      assert.match(event.event_id, EVENT_ID);
      assert.equal(event.actor, BOOTSTRAP.id, 'the application that called the API');
      assert.equal(event.source, 'api');
      assert.match(event.address, /127\.0\.0\.1/);
      assert.deepEqual(event.detail, { method: 'POST', route: '/api/v1/user', status: 200 });
      assert.deepEqual(event.data, {
        user: {
          id: userId,
          email: 'eve@example.test',
          phone: null,
          username: null,
          first_name: 'Eve',
          last_name: 'Vent',
          is_suspended: false,
          is_password_reset_requested: false,
          organizations: [{ code: org, roles: null, permissions: null }],
        },
      });
      assert.equal((await eventsOf('organization.user_added', userId)).length, 1, 'joining the organization it was created in is a change too');

      const kinde = await server.api('GET', `/events/${event.event_id}`);
      assert.equal(kinde.status, 200);
      assert.deepEqual(Object.keys(kinde.body).sort(), ['code', 'event', 'message']);
      assert.deepEqual(kinde.body.event, { type: 'user.created', source: 'api', event_id: event.event_id, timestamp: kinde.body.event.timestamp, data: event.data });
      assert.ok(Math.abs(kinde.body.event.timestamp - Date.now() / 1000) < 60, 'timestamp in seconds');
      assertKindeError(await server.api('GET', `/events/event_${'0'.repeat(32)}`), 404, 'EVENT_NOT_FOUND');
    });

    it('records user.updated and user.deleted', async () => {
      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'upd@example.test' } }] })).body.id as string;
      assert.equal((await server.api('PATCH', `/user?id=${userId}`, { given_name: 'Upton', is_suspended: true })).status, 200);
      const updated = await theEvent('user.updated', userId);
      assert.equal(updated.data.user.first_name, 'Upton');
      assert.equal(updated.data.user.is_suspended, true);
      assert.equal((await server.api('DELETE', `/user?id=${userId}`)).status, 200);
      assert.deepEqual((await theEvent('user.deleted', userId)).data, { user: { id: userId } });
    });

    it('records organization, membership, role and permission changes in Kinde’s shapes', async () => {
      const code = (await server.api('POST', '/organization', { name: 'Acme', external_id: 'acme-1' })).body.organization.code as string;
      assert.deepEqual((await theEvent('organization.created', code)).data, {
        organization: { code, name: 'Acme', handle: null, external_id: 'acme-1', is_allow_registrations: false },
      });
      assert.equal((await server.api('PATCH', `/organization/${code}`, { name: 'Acme Inc' })).status, 200);
      assert.equal((await theEvent('organization.updated', code)).data.organization.name, 'Acme Inc');

      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'member@example.test' } }] })).body.id as string;
      assert.equal((await server.api('POST', `/organizations/${code}/users`, { users: [{ id: userId }] })).status, 200);
      assert.deepEqual((await theEvent('organization.user_added', userId)).data, { organization: { code }, user: { id: userId } });
      assert.equal((await server.api('DELETE', `/organizations/${code}/users/${userId}`)).status, 200);
      assert.deepEqual((await theEvent('organization.user_removed', userId)).data, { organization: { code }, user: { id: userId } });
      assert.equal((await server.api('DELETE', `/organization/${code}`)).status, 200);
      assert.deepEqual((await theEvent('organization.deleted', code)).data, { organization: { code } });

      const roleId = await newRole(server, 'events-role', { description: 'Roles change' });
      assert.deepEqual((await theEvent('role.created', roleId)).data, { role: { id: roleId, key: 'events-role', name: 'Role events-role', description: 'Roles change', is_default_role: false } });
      assert.equal((await server.api('PATCH', `/roles/${roleId}`, { name: 'Renamed' })).status, 200);
      assert.equal((await theEvent('role.updated', roleId)).data.role.name, 'Renamed');
      assert.equal((await server.api('DELETE', `/roles/${roleId}`)).status, 200);
      assert.deepEqual((await theEvent('role.deleted', roleId)).data, { role: { id: roleId } });

      const permissionId = await newPermission(server, 'events:read');
      assert.deepEqual((await theEvent('permission.created', permissionId)).data, { permission: { id: permissionId, key: 'events:read', name: 'Permission events:read', description: null } });
      assert.equal((await server.api('PATCH', `/permissions/${permissionId}`, { description: 'Reads events' })).status, 200);
      assert.equal((await theEvent('permission.updated', permissionId)).data.permission.description, 'Reads events');
      assert.equal((await server.api('DELETE', `/permissions/${permissionId}`)).status, 200);
      assert.deepEqual((await theEvent('permission.deleted', permissionId)).data, { permission: { id: permissionId } });
    });

    /** Every event of the write just made about `subject`, oldest first: what one management call left in the log. */
    async function eventsAbout(subject: string, since: string): Promise<any[]> {
      const { body } = await server.api('GET', `/events?subject=${encodeURIComponent(subject)}&from=${encodeURIComponent(since)}&page_size=100`);
      return body.events;
    }

    it('records identity edits as their own events with what changed, and no generic management_api.write', async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'ida@example.test' } }] })).body.id as string;
      const first = (await server.api('GET', `/users/${userId}/identities`)).body.identities[0].id as string;
      const added = await server.api('POST', `/users/${userId}/identities`, { type: 'email', value: 'ida.two@example.test' });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const second = added.body.identity.id as string;
      assert.deepEqual((await theEvent('user.identity_added', userId)).detail, { identity_id: second, type: 'email', connection_id: null });
      assert.equal((await theEvent('user.updated', userId)).data.user.id, userId, 'Kinde’s user.updated still goes to webhooks');

      assert.equal((await server.api('PATCH', `/identities/${second}`, { is_primary: true })).status, 200);
      const primary = await theEvent('user.identity_made_primary', userId);
      assert.deepEqual(primary.detail, { identity_id: second, type: 'email', previous_primary_id: first });
      assert.equal(primary.actor, BOOTSTRAP.id);
      assert.equal(primary.source, 'api');

      assert.equal((await server.api('DELETE', `/identities/${second}`)).status, 200);
      assert.deepEqual((await theEvent('user.identity_deleted', userId)).detail, { identity_id: second, type: 'email', was_primary: true, new_primary_id: first });
      assertKindeError(await server.api('DELETE', `/identities/${first}`), 400, 'LAST_IDENTITY');

      const types = (await eventsAbout(userId, since)).map((event) => event.type);
      assert.deepEqual(types, ['user.created', 'user.identity_added', 'user.updated', 'user.identity_made_primary', 'user.identity_deleted'], 'one event per change; the refused delete left none');
      assert.equal((await eventsOf('management_api.write', second)).length, 0);
    });

    it('records an MFA reset as user.mfa_reset with what was removed, once', async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'mfa.reset@example.test' } }] })).body.id as string;
      assert.equal((await server.api('DELETE', `/users/${userId}/mfa`)).status, 200);
      assertKindeError(await server.api('DELETE', `/users/${userId}/mfa/mfa_${'0'.repeat(32)}`), 404);
      const reset = await theEvent('user.mfa_reset', userId);
      assert.deepEqual(reset.detail, { factors_removed: [], recovery_codes_removed: 0 });
      assert.equal(reset.actor, BOOTSTRAP.id);
      assert.deepEqual((await eventsAbout(userId, since)).map((event) => event.type), ['user.created', 'user.mfa_reset']);
    });

    it('records feature-flag writes with the key, the value and the one it replaced', async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      assert.equal((await server.api('POST', '/feature_flags', { key: 'ev_seats', name: 'Seats', type: 'int', default_value: '5' })).status, 201);
      assert.deepEqual((await theEvent('feature_flag.created', 'ev_seats')).detail, { key: 'ev_seats', type: 'i', default_value: 5 });
      assert.equal((await server.api('PUT', '/feature_flags/ev_seats?name=Seats&type=int&allow_override_level=org&default_value=7')).status, 200);
      const updated = await theEvent('feature_flag.updated', 'ev_seats');
      assert.equal(updated.detail.default_value, 7);
      assert.equal(updated.detail.previous.default_value, 5);

      const org = (await server.api('POST', '/organization', { name: 'Flag Org' })).body.organization.code as string;
      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'flags@example.test' } }] })).body.id as string;
      assert.equal((await server.api('PATCH', `/organizations/${org}/feature_flags/ev_seats?value=50`)).status, 200);
      assert.equal((await server.api('PATCH', `/organizations/${org}/feature_flags/ev_seats?value=60`)).status, 200);
      const orgSets = await eventsOf('organization.feature_flag_set', org);
      assert.deepEqual(orgSets.map((event) => event.detail), [{ key: 'ev_seats', value: 50, previous_value: null }, { key: 'ev_seats', value: 60, previous_value: 50 }]);
      assert.equal((await server.api('DELETE', `/organizations/${org}/feature_flags`)).status, 200);
      assert.deepEqual((await theEvent('organization.feature_flag_removed', org)).detail, { keys: ['ev_seats'] });
      assertKindeError(await server.api('PATCH', `/organizations/${org}/feature_flags/ev_seats?value=lots`), 400);

      assert.equal((await server.api('PATCH', `/users/${userId}/feature_flags/ev_seats?value=3`)).status, 200);
      assert.deepEqual((await theEvent('user.feature_flag_set', userId)).detail, { key: 'ev_seats', value: 3, previous_value: null });
      assert.equal((await server.api('DELETE', `/users/${userId}/feature_flags/ev_seats`)).status, 200);
      assert.deepEqual((await theEvent('user.feature_flag_removed', userId)).detail, { key: 'ev_seats', previous_value: 3 });

      assert.equal((await server.api('DELETE', '/feature_flags/ev_seats')).status, 200);
      assert.deepEqual((await theEvent('feature_flag.deleted', 'ev_seats')).detail, { key: 'ev_seats' });
      const generic = (await server.api('GET', `/events?type=management_api.write&from=${encodeURIComponent(since)}&page_size=100`)).body.events;
      assert.deepEqual(generic.filter((event: any) => String(event.data.route).includes('feature_flags')), [], 'no generic event for a flag write');
    });

    it('records nothing for a refused write, and nothing when the transaction of the change fails', async () => {
      const before = await server.services.db.selectFrom('audit_events').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow();
      assertKindeError(await server.api('POST', '/user', { organization_code: 'org_00000000000', identities: [{ type: 'email', details: { email: 'nobody@example.test' } }] }), 404);
      await assert.rejects(
        inTransaction(server.services.db, async (tx) => {
          await recordEvent(tx, { type: 'user.updated', subject: 'kp_00000000000000000000000000000000', data: {} });
          throw new Error('the change failed');
        }),
        /the change failed/,
      );
      const after = await server.services.db.selectFrom('audit_events').select(({ fn }) => fn.countAll().as('n')).executeTakeFirstOrThrow();
      assert.equal(Number(after.n), Number(before.n));
    });

    it('records each wrong secret as user.authentication_failed, and the lockout with the attempt that caused it', async () => {
      const userId = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'locked@example.test' } }] })).body.id as string;
      const policy = { maxAttempts: 3, lockoutSeconds: 60 };
      for (let i = 0; i < 3; i++) await withinAttempts(server.services.db, userId, policy, async () => 'wrong', () => true);
      const failures = await eventsOf('user.authentication_failed', userId);
      assert.deepEqual(failures.map((event) => [event.data, event.detail.locked]), [[{ user: { id: userId } }, false], [{ user: { id: userId } }, false], [{ user: { id: userId } }, true]]);
      const locked = await theEvent('user.locked', userId);
      assert.deepEqual(locked.data, { user: { id: userId } });
      assert.equal(locked.detail.max_attempts, 3);
    });

    it('lists Kinde’s event types with their schemas', async () => {
      const { status, body } = await server.api('GET', '/event_types');
      assert.equal(status, 200);
      const codes = body.event_types.map((type: any) => type.code);
      for (const code of [
        'user.created', 'user.updated', 'user.deleted', 'user.authenticated', 'user.authentication_failed',
        'organization.created', 'organization.updated', 'organization.deleted', 'organization.user_added', 'organization.user_removed',
        'role.created', 'role.updated', 'role.deleted', 'permission.created', 'permission.updated', 'permission.deleted', 'access_request.created',
      ]) {
        assert.ok(codes.includes(code), code);
      }
      for (const type of body.event_types) {
        assert.match(type.id, /^et_[0-9a-f]{32}$/);
        assert.equal(type.origin, 'kinde');
        assert.equal(type.schema.$id, `https://kinde.com/${type.code}.schema.json`);
        assert.equal(type.schema.properties.type.const, type.code);
      }
    });

    it('pages the log oldest first and filters it by type, subject and time', async () => {
      const from = new Date().toISOString();
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) ids.push(await newPermission(server, `paged:${i}`));
      const seen: string[] = [];
      let token: string | undefined;
      do {
        const { status, body } = await server.api('GET', `/events?type=permission.created&from=${encodeURIComponent(from)}&page_size=2${token ? `&next_token=${token}` : ''}`);
        assert.equal(status, 200, JSON.stringify(body));
        assert.ok(body.events.length <= 2);
        seen.push(...body.events.map((event: any) => event.subject));
        token = body.next_token;
      } while (token);
      assert.deepEqual(seen, ids);
      const future = Math.floor(Date.now() / 1000) + 3600;
      assert.deepEqual((await server.api('GET', `/events?from=${future}`)).body.events, []);
      assertKindeError(await server.api('GET', '/events?from=yesterday'), 400);
    });

    it('prunes events older than the retention period', async () => {
      const id = await recordEvent(server.services.db, { type: 'test.old', subject: 'retention' });
      clock.advance(91 * 24 * 60 * 60_000);
      try {
        const recent = await recordEvent(server.services.db, { type: 'test.recent', subject: 'retention' });
        await pruneEvents(server.services.db, clock.now() - server.services.config.eventRetentionDays * 24 * 60 * 60_000);
        const left = await server.services.db.selectFrom('audit_events').select('id').where('subject', '=', 'retention').execute();
        assert.deepEqual(left.map((row) => row.id), [recent]);
        assert.notEqual(id, recent);
      } finally {
        clock.reset();
      }
    });
  });
}
