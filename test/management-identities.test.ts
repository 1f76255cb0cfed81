import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addIdentity } from '../src/domain/identities.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer } from './support/server.ts';

const UNKNOWN_USER = 'kp_00000000000000000000000000000000';
const UNKNOWN_IDENTITY = 'identity_00000000000000000000000000000000';

for (const database of testDatabases()) {
  describe(`management API: identities (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    async function newUser(identities: unknown[]): Promise<string> {
      const created = await server.api('POST', '/user', { identities });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return created.body.id;
    }

    async function identitiesOf(userId: string): Promise<any[]> {
      const { status, body } = await server.api('GET', `/users/${userId}/identities?page_size=500`);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.has_more, false);
      return body.identities;
    }

    async function add(userId: string, body: unknown) {
      return server.api('POST', `/users/${userId}/identities`, body);
    }

    async function addOk(userId: string, type: string, value: string): Promise<string> {
      const response = await add(userId, { type, value });
      assert.equal(response.status, 201, JSON.stringify(response.body));
      return response.body.identity.id;
    }

    const identityCount = async () => Number((await server.services.db.selectFrom('identities').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

    describe('listing', () => {
      it('lists a user’s identities in Kinde’s identity shape', async () => {
        const id = await newUser([
          { type: 'email', is_verified: true, details: { email: 'Lin@Example.test' } },
          { type: 'username', details: { username: 'LinLin' } },
        ]);
        const { status, body } = await server.api('GET', `/users/${id}/identities`);
        assert.equal(status, 200);
        assert.equal(body.code, 'OK');
        assert.equal(body.message, 'Success');
        assert.equal(body.has_more, false);
        const email = body.identities.find((i: any) => i.type === 'email');
        const username = body.identities.find((i: any) => i.type === 'username');
        assert.equal(body.identities.length, 2);
        assert.match(email.id, /^identity_[0-9a-f]{32}$/);
        assert.ok(Date.parse(email.created_on) > Date.now() - 60_000);
        assert.deepEqual(email, {
          id: email.id,
          type: 'email',
          is_confirmed: true,
          created_on: email.created_on,
          last_login_on: null,
          total_logins: 0,
          name: 'Lin@Example.test',
          email: 'Lin@Example.test',
          connection_id: null,
          is_primary: true,
        });
        assert.deepEqual(username, {
          id: username.id,
          type: 'username',
          is_confirmed: false,
          created_on: username.created_on,
          last_login_on: null,
          total_logins: 0,
          name: 'LinLin',
          email: null,
          connection_id: null,
          is_primary: true,
        });
        // GET /identities/{id} answers the bare identity, as the SDK types it.
        const single = await server.api('GET', `/identities/${email.id}`);
        assert.equal(single.status, 200);
        assert.deepEqual(single.body, email);
      });

      it('pages with starting_after / ending_before and has_more', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'pager0@example.test' } }]);
        for (const n of [1, 2, 3, 4]) await addOk(id, 'email', `pager${n}@example.test`);
        const all = await identitiesOf(id);
        assert.deepEqual(
          all.map((i) => i.name),
          ['pager0@example.test', 'pager1@example.test', 'pager2@example.test', 'pager3@example.test', 'pager4@example.test'],
        );
        const ids = all.map((i) => i.id);

        const first = (await server.api('GET', `/users/${id}/identities?page_size=2`)).body;
        assert.deepEqual(first.identities.map((i: any) => i.id), ids.slice(0, 2));
        assert.equal(first.has_more, true);
        const second = (await server.api('GET', `/users/${id}/identities?page_size=2&starting_after=${ids[1]}`)).body;
        assert.deepEqual(second.identities.map((i: any) => i.id), ids.slice(2, 4));
        assert.equal(second.has_more, true);
        const last = (await server.api('GET', `/users/${id}/identities?page_size=2&starting_after=${ids[3]}`)).body;
        assert.deepEqual(last.identities.map((i: any) => i.id), ids.slice(4));
        assert.equal(last.has_more, false);
        const back = (await server.api('GET', `/users/${id}/identities?page_size=2&ending_before=${ids[4]}`)).body;
        assert.deepEqual(back.identities.map((i: any) => i.id), ids.slice(2, 4));
        assert.equal(back.has_more, true);

        assertKindeError(await server.api('GET', `/users/${id}/identities?starting_after=${ids[0]}&ending_before=${ids[2]}`), 400);
        assertKindeError(await server.api('GET', `/users/${id}/identities?starting_after=${UNKNOWN_IDENTITY}`), 400, 'INVALID_CURSOR');
        assertKindeError(await server.api('GET', `/users/${id}/identities?page_size=0`), 400);
        assertKindeError(await server.api('GET', `/users/${UNKNOWN_USER}/identities`), 404, 'USER_INVALID');
      });
    });

    describe('adding', () => {
      it('adds an identity: 201 with its id, not primary when the type already has one', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'first@example.test' } }]);
        const response = await add(id, { type: 'email', value: ' second@example.test ' });
        assert.equal(response.status, 201, JSON.stringify(response.body));
        assert.deepEqual(response.body, { code: 'OK', message: 'Success', identity: { id: response.body.identity.id } });
        const added = (await server.api('GET', `/identities/${response.body.identity.id}`)).body;
        assert.equal(added.name, 'second@example.test');
        assert.equal(added.is_primary, false);
        assert.equal(added.is_confirmed, false);

        const phone = (await server.api('GET', `/identities/${await addOk(id, 'phone', '+61466043123')}`)).body;
        assert.equal(phone.is_primary, true, 'the first phone is the primary phone');
        const username = (await server.api('GET', `/identities/${await addOk(id, 'username', 'first_user')}`)).body;
        assert.equal(username.is_primary, true);

        const user = (await server.api('GET', `/user?id=${id}`)).body;
        assert.equal(user.preferred_email, 'first@example.test');
        assert.equal(user.phone, '+61466043123');
        assert.equal(user.username, 'first_user');
      });

      it('treats usernames case-insensitively: Bob then bob is a 409', async () => {
        const alice = await newUser([{ type: 'email', details: { email: 'alice@example.test' } }]);
        const carol = await newUser([{ type: 'email', details: { email: 'carol@example.test' } }]);
        await addOk(alice, 'username', 'Bob');
        assertKindeError(await add(carol, { type: 'username', value: 'bob' }), 409, 'USER_IDENTITY_EXISTS');
        assertKindeError(await add(carol, { type: 'username', value: 'BOB' }), 409, 'USER_IDENTITY_EXISTS');
        assertKindeError(await add(alice, { type: 'username', value: 'bOb' }), 409, 'USER_IDENTITY_EXISTS');
        assert.deepEqual((await identitiesOf(carol)).map((i) => i.type), ['email']);
        // The display form is kept as typed.
        assert.equal((await identitiesOf(alice)).find((i) => i.type === 'username').name, 'Bob');
        // The same through POST /user.
        const created = await server.api('POST', '/user', { identities: [{ type: 'username', details: { username: 'BOB' } }] });
        assertKindeError(created, 409, 'USER_IDENTITY_EXISTS');
      });

      it('refuses an email or phone another user has, in any case', async () => {
        await newUser([{ type: 'email', details: { email: 'taken@example.test' } }, { type: 'phone', details: { phone: '+61466000001' } }]);
        const other = await newUser([{ type: 'email', details: { email: 'other@example.test' } }]);
        assertKindeError(await add(other, { type: 'email', value: 'TAKEN@example.test' }), 409, 'USER_IDENTITY_EXISTS');
        assertKindeError(await add(other, { type: 'phone', value: '+61466000001' }), 409, 'USER_IDENTITY_EXISTS');
      });

      it('refuses values that break the identity rules, writing nothing', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'rules@example.test' } }]);
        const before = await identityCount();
        const bad = [
          { type: 'username', value: 'a' },
          { type: 'username', value: 'x'.repeat(65) },
          { type: 'username', value: 'has space' },
          { type: 'username', value: 'dot.ted' },
          { type: 'username', value: 'émile' },
          { type: 'email', value: 'not-an-email' },
          { type: 'email', value: '' },
          { type: 'phone', value: '0466 043 123' },
          { type: 'phone', value: '+0466043123' },
          { type: 'phone', value: '+12' },
          { type: 'fax', value: '123' },
          { type: 'email' },
          { value: 'no-type@example.test' },
          { type: 'email', value: 42 },
        ];
        for (const body of bad) {
          const response = await add(id, body);
          assert.equal(response.status, 400, `${JSON.stringify(body)} → ${response.status} ${JSON.stringify(response.body)}`);
        }
        const social = await add(id, { type: 'social', value: 'someone', connection_id: 'conn_x' });
        assertKindeError(social, 400);
        assert.match(social.body.errors[0].message, /signs in through the connection/);
        assertKindeError(await add(UNKNOWN_USER, { type: 'email', value: 'ghost@example.test' }), 404, 'USER_INVALID');
        assert.equal(await identityCount(), before);
        // Two characters is the shortest username.
        await addOk(id, 'username', 'ab');
      });

      it('applies the same username and phone rules to POST /user', async () => {
        for (const identity of [
          { type: 'username', details: { username: 'a' } },
          { type: 'username', details: { username: 'dot.ted' } },
          { type: 'phone', details: { phone: '(02) 9999 9999' } },
        ]) {
          assertKindeError(await server.api('POST', '/user', { identities: [identity] }), 400, 'INVALID_REQUEST');
        }
      });
    });

    describe('primary identities', () => {
      it('makes an identity the primary of its type; the previous one stays as a secondary', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'old-primary@example.test' } }, { type: 'username', details: { username: 'keeps-primary' } }]);
        const newer = await addOk(id, 'email', 'new-primary@example.test');
        const patched = await server.api('PATCH', `/identities/${newer}`, { is_primary: true });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.deepEqual(patched.body, { code: 'OK', message: 'Success' });

        const identities = await identitiesOf(id);
        const primaryOf = (type: string) => identities.filter((i) => i.type === type && i.is_primary).map((i) => i.name);
        assert.deepEqual(primaryOf('email'), ['new-primary@example.test']);
        assert.deepEqual(primaryOf('username'), ['keeps-primary']);
        assert.equal(identities.length, 3);
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.preferred_email, 'new-primary@example.test');

        // Again: idempotent.
        assert.equal((await server.api('PATCH', `/identities/${newer}`, { is_primary: true })).status, 200);
        assert.deepEqual(primaryOf('email'), ['new-primary@example.test']);
      });

      it('refuses to edit a value or to unset a primary', async () => {
        const id = await newUser([{ type: 'email', is_verified: true, details: { email: 'fixed@example.test' } }]);
        const [identity] = await identitiesOf(id);
        for (const body of [{ value: 'changed@example.test' }, { name: 'changed@example.test' }, { email: 'changed@example.test' }, { is_primary: false }, { is_primary: 'yes' }]) {
          assertKindeError(await server.api('PATCH', `/identities/${identity.id}`, body), 400, 'INVALID_REQUEST');
        }
        const edit = await server.api('PATCH', `/identities/${identity.id}`, { value: 'changed@example.test' });
        assert.match(edit.body.errors[0].message, /add the new one, then delete the old one/);
        assert.deepEqual(await identitiesOf(id), [identity]);
        assertKindeError(await server.api('PATCH', `/identities/${UNKNOWN_IDENTITY}`, { is_primary: true }), 404, 'IDENTITY_NOT_FOUND');
        assertKindeError(await server.api('PATCH', `/identities/${UNKNOWN_IDENTITY}`, {}), 404, 'IDENTITY_NOT_FOUND');
      });
    });

    describe('deleting', () => {
      it('deletes an identity; the oldest remaining one of its type becomes primary', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'd1@example.test' } }, { type: 'username', details: { username: 'deleter' } }]);
        const second = await addOk(id, 'email', 'd2@example.test');
        await addOk(id, 'email', 'd3@example.test');
        const primary = (await identitiesOf(id)).find((i) => i.name === 'd1@example.test');

        const deleted = await server.api('DELETE', `/identities/${primary.id}`);
        assert.equal(deleted.status, 200, JSON.stringify(deleted.body));
        assert.deepEqual(deleted.body, { code: 'OK', message: 'Success' });
        assertKindeError(await server.api('GET', `/identities/${primary.id}`), 404, 'IDENTITY_NOT_FOUND');
        assertKindeError(await server.api('DELETE', `/identities/${primary.id}`), 404, 'IDENTITY_NOT_FOUND');

        const emails = (await identitiesOf(id)).filter((i) => i.type === 'email');
        assert.deepEqual(
          emails.map((i) => [i.name, i.is_primary]),
          [
            ['d2@example.test', true],
            ['d3@example.test', false],
          ],
        );
        assert.equal(emails[0].id, second);
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.preferred_email, 'd2@example.test');
        // The address is free for anyone again.
        await newUser([{ type: 'email', details: { email: 'd1@example.test' } }]);
      });

      it('refuses to delete a user’s last identity', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'only@example.test' } }]);
        const extra = await addOk(id, 'username', 'only-for-now');
        assert.equal((await server.api('DELETE', `/identities/${extra}`)).status, 200);
        const [last] = await identitiesOf(id);
        const refused = await server.api('DELETE', `/identities/${last.id}`);
        assertKindeError(refused, 400, 'LAST_IDENTITY');
        assert.match(refused.body.errors[0].message, /only identity/);
        assert.deepEqual(await identitiesOf(id), [last]);
      });

      it('goes with its user', async () => {
        const id = await newUser([{ type: 'email', details: { email: 'cascade@example.test' } }]);
        const [identity] = await identitiesOf(id);
        assert.equal((await server.api('DELETE', `/user?id=${id}`)).status, 200);
        assertKindeError(await server.api('GET', `/identities/${identity.id}`), 404, 'IDENTITY_NOT_FOUND');
      });
    });

    it('keeps one primary per type when identities are added concurrently', async () => {
      const id = await newUser([{ type: 'email', details: { email: 'race0@example.test' } }]);
      // Straight through the domain, on a warm connection pool, so the transactions really overlap.
      const { db } = server.services;
      await Promise.all([...Array(10).keys()].map(() => db.selectFrom('users').select('id').execute()));
      await Promise.all([...Array(12).keys()].map((n) => addIdentity(db, id, { type: 'phone', value: `+614660001${String(n).padStart(2, '0')}` })));
      const phones = (await identitiesOf(id)).filter((i) => i.type === 'phone');
      assert.equal(phones.length, 12);
      assert.equal(phones.filter((i) => i.is_primary).length, 1);
    });
  });
}
