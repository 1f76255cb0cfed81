import assert from 'node:assert/strict';
import { createHash, pbkdf2Sync, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { hashSync as argon2Hash } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { verifyPassword } from '../src/domain/passwords.ts';
import { testDatabases } from './support/databases.ts';
import { serverForSuite, type TestServer } from './support/server.ts';

const md5 = (text: string) => createHash('md5').update(text).digest('hex');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

for (const database of testDatabases()) {
  describe(`management API: passwords and reset requests (${database.name})`, () => {
    let server: TestServer;
    let userCount = 0;
    serverForSuite(database, (started) => (server = started));

    async function newUser(): Promise<string> {
      const created = await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: `pw${++userCount}@example.test` } }] });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      return created.body.id;
    }

    const credential = (userId: string) => server.services.db.selectFrom('credentials').selectAll().where('user_id', '=', userId).executeTakeFirst();
    const setPassword = (userId: string, body: unknown) => server.api('PUT', `/users/${userId}/password`, body);

    function assertKindeError(response: { status: number; body: any }, status: number, code?: string) {
      assert.equal(response.status, status, JSON.stringify(response.body));
      assert.equal(typeof response.body.errors?.[0]?.message, 'string');
      if (code) assert.equal(response.body.errors[0].code, code);
    }

    describe('PUT /users/{user_id}/password', () => {
      it('sets a plain-text password (Gatehouse extension), stored as argon2id', async () => {
        const id = await newUser();
        const response = await setPassword(id, { password: 'correct horse battery' });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(response.body, { code: 'OK', message: 'Success' });
        const stored = await credential(id);
        assert.equal(stored?.hashing_method, 'argon2id');
        assert.equal(stored?.is_temporary, 0);
        assert.ok(!stored?.password_hash.includes('correct horse'));
        assert.equal(await verifyPassword(server.services.db, id, 'correct horse battery'), true);
        assert.equal(await verifyPassword(server.services.db, id, 'wrong horse battery'), false);
      });

      it('marks a temporary password, plain or imported', async () => {
        const plain = await newUser();
        assert.equal((await setPassword(plain, { password: 'temporary-one', is_temporary_password: true })).status, 200);
        assert.equal((await credential(plain))?.is_temporary, 1);

        const imported = await newUser();
        const hashed = bcrypt.hashSync('temporary-two', 4);
        assert.equal((await setPassword(imported, { hashed_password: hashed, is_temporary_password: true })).status, 200);
        assert.equal((await credential(imported))?.is_temporary, 1);
        // Upgrading the hash on first use keeps the flag: the user must still choose their own.
        assert.equal(await verifyPassword(server.services.db, imported, 'temporary-two'), true);
        assert.equal((await credential(imported))?.is_temporary, 1);

        assert.equal((await setPassword(plain, { password: 'chosen by me' })).status, 200);
        assert.equal((await credential(plain))?.is_temporary, 0);
      });

      it('refuses a plain password shorter than 8 characters or among the most common, storing nothing', async () => {
        const id = await newUser();
        assertKindeError(await setPassword(id, { password: 'short' }), 400, 'INVALID_PASSWORD');
        const common = await setPassword(id, { password: 'Password123', is_temporary_password: true });
        assertKindeError(common, 400, 'INVALID_PASSWORD');
        assert.match(common.body.errors[0].message, /too common/);
        assert.equal(await credential(id), undefined);
      });

      const salt = randomBytes(12).toString('base64');
      const pbkdf2Salt = randomBytes(16);
      const imports: { name: string; password: string; body: Record<string, unknown>; stored: string }[] = [
        { name: 'bcrypt, Kinde’s default method', password: 'bcrypt-pass-1', body: { hashed_password: bcrypt.hashSync('bcrypt-pass-1', 4) }, stored: 'bcrypt' },
        {
          name: 'bcrypt named explicitly ($2a$)',
          password: 'bcrypt-pass-2',
          body: { hashing_method: 'bcrypt', hashed_password: bcrypt.hashSync('bcrypt-pass-2', 4).replace(/^\$2b\$/, '$2a$') },
          stored: 'bcrypt',
        },
        {
          name: 'md5 with a prefix salt',
          password: 'md5-prefix-pass',
          body: { hashing_method: 'md5', hashed_password: md5(`${salt}md5-prefix-pass`), salt, salt_position: 'prefix' },
          stored: 'md5',
        },
        {
          name: 'md5 with a suffix salt',
          password: 'md5-suffix-pass',
          body: { hashing_method: 'md5', hashed_password: md5(`md5-suffix-pass${salt}`), salt, salt_position: 'suffix' },
          stored: 'md5',
        },
        {
          name: 'sha256 with a salt',
          password: 'sha256-pass',
          body: { hashing_method: 'sha256', hashed_password: sha256(`${salt}sha256-pass`), salt },
          stored: 'sha256',
        },
        {
          name: 'sha256 in upper-case hex with a suffix salt',
          password: 'sha256-pass-2',
          body: { hashing_method: 'sha256', hashed_password: sha256(`sha256-pass-2${salt}`).toUpperCase(), salt, salt_position: 'suffix' },
          stored: 'sha256',
        },
        {
          name: 'pbkdf2 (salted-pbkdf2-hmac-sha256, base64 salt and hash)',
          password: 'pbkdf2-pass',
          body: {
            hashing_method: 'pbkdf2',
            variant: 'salted-pbkdf2-hmac-sha256',
            iterations: 1000,
            salt: pbkdf2Salt.toString('base64'),
            hashed_password: pbkdf2Sync('pbkdf2-pass', pbkdf2Salt, 1000, 32, 'sha256').toString('base64'),
          },
          stored: 'pbkdf2',
        },
        {
          name: 'pbkdf2 at FusionAuth’s default 24,000 iterations when none are given',
          password: 'pbkdf2-default',
          body: {
            hashing_method: 'pbkdf2',
            variant: 'salted-pbkdf2-hmac-sha256',
            salt: pbkdf2Salt.toString('base64'),
            hashed_password: pbkdf2Sync('pbkdf2-default', pbkdf2Salt, 24_000, 32, 'sha256').toString('base64'),
          },
          stored: 'pbkdf2',
        },
        {
          name: 'argon2 (Gatehouse extension)',
          password: 'argon2-pass',
          body: { hashing_method: 'argon2', hashed_password: argon2Hash('argon2-pass', { memoryCost: 1024, timeCost: 1, parallelism: 1 }) },
          stored: 'argon2',
        },
      ];

      for (const row of imports) {
        it(`imports ${row.name}, then upgrades it to argon2id on the first good password`, async () => {
          const id = await newUser();
          const response = await setPassword(id, row.body);
          assert.equal(response.status, 200, JSON.stringify(response.body));
          assert.deepEqual(response.body, { code: 'OK', message: 'Success' });
          assert.equal((await credential(id))?.hashing_method, row.stored);

          assert.equal(await verifyPassword(server.services.db, id, `${row.password}-wrong`), false);
          assert.equal((await credential(id))?.hashing_method, row.stored, 'a wrong password changes nothing');

          assert.equal(await verifyPassword(server.services.db, id, row.password), true);
          const upgraded = await credential(id);
          assert.equal(upgraded?.hashing_method, 'argon2id');
          assert.equal(upgraded?.hash_params, null);
          assert.equal(await verifyPassword(server.services.db, id, row.password), true);
        });
      }

      it('refuses malformed or unsupported hashes with 400, keeping the current password', async () => {
        const id = await newUser();
        assert.equal((await setPassword(id, { password: 'the current one' })).status, 200);
        const before = await credential(id);
        const bad: Record<string, unknown>[] = [
          { hashed_password: 'not-a-bcrypt-hash' },
          { hashing_method: 'bcrypt', hashed_password: '$2b$04$tooshort' },
          { hashing_method: 'md5', hashed_password: md5('x').slice(1) },
          { hashing_method: 'sha256', hashed_password: 'z'.repeat(64) },
          { hashing_method: 'argon2', hashed_password: '$pbkdf2$not-argon' },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', hashed_password: 'AAAA' },
          { hashing_method: 'pbkdf2', salt: 'AAAA', hashed_password: 'AAAA' },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-md5', salt: 'AAAA', hashed_password: 'AAAA' },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', salt: 'AAAA', hashed_password: 'not base64!' },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', salt: 'AAAA', hashed_password: 'A'.repeat(43) },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', salt: 'AA-_', hashed_password: 'AAAA' },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', salt: 'AAAA', hashed_password: 'AAAA', iterations: 0 },
          { hashing_method: 'pbkdf2', variant: 'salted-pbkdf2-hmac-sha256', salt: 'AAAA', hashed_password: 'AAAA', iterations: 1e9 },
          { hashing_method: 'scrypt', hashed_password: 'abc' },
          { hashing_method: 'md5', hashed_password: md5('x'), salt_position: 'middle' },
          { hashed_password: '' },
          {},
          { password: 'both given here', hashed_password: bcrypt.hashSync('x', 4) },
          { password: 'salted plain text', salt: 'abc' },
          { password: 12345678 },
          { hashed_password: bcrypt.hashSync('x', 4), is_temporary_password: 'yes' },
        ];
        for (const body of bad) {
          const response = await setPassword(id, body);
          assert.equal(response.status, 400, `${JSON.stringify(body)} → ${response.status} ${JSON.stringify(response.body)}`);
          assert.equal(typeof response.body.errors[0].message, 'string');
        }
        assert.deepEqual(await credential(id), before);
        assert.equal(await verifyPassword(server.services.db, id, 'the current one'), true);
      });

      it('names crypt and wordpress hashes as not supported', async () => {
        const id = await newUser();
        for (const method of ['crypt', 'wordpress']) {
          const response = await setPassword(id, { hashing_method: method, hashed_password: '$P$Babcdefghijklmnopqrstuvwxyz01' });
          assertKindeError(response, 400, 'INVALID_REQUEST');
          assert.match(response.body.errors[0].message, new RegExp(`${method} hashes are not supported`));
        }
        assert.equal(await credential(id), undefined);
      });

      it('answers 404 for an unknown user', async () => {
        assertKindeError(await setPassword('kp_00000000000000000000000000000000', { password: 'a fine password' }), 404, 'USER_INVALID');
        assertKindeError(await setPassword('kp_00000000000000000000000000000000', { hashed_password: bcrypt.hashSync('x', 4) }), 404, 'USER_INVALID');
      });
    });

    describe('is_password_reset_requested', () => {
      it('is set and cleared with PATCH /user, and shown on the user', async () => {
        const id = await newUser();
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.is_password_reset_requested, false);

        const requested = await server.api('PATCH', `/user?id=${id}`, { is_password_reset_requested: true });
        assert.equal(requested.status, 200, JSON.stringify(requested.body));
        assert.equal(requested.body.is_password_reset_requested, true);
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.is_password_reset_requested, true);
        const listed = (await server.api('GET', '/users?page_size=500')).body.users.find((u: any) => u.id === id);
        assert.equal(listed.is_password_reset_requested, true);

        const cleared = await server.api('PATCH', `/user?id=${id}`, { is_password_reset_requested: false });
        assert.equal(cleared.body.is_password_reset_requested, false);
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.is_password_reset_requested, false);
      });

      it('is set at creation (Gatehouse extension), with marketing consent', async () => {
        const created = await server.api('POST', '/user', {
          identities: [{ type: 'email', details: { email: 'reset-at-start@example.test' } }],
          is_password_reset_requested: true,
          accepts_marketing: true,
        });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        const user = (await server.api('GET', `/user?id=${created.body.id}`)).body;
        assert.equal(user.is_password_reset_requested, true);
        assert.equal(user.accepts_marketing, true);
      });

      it('is refused for a user without an email, who could never receive the reset code', async () => {
        const before = (await server.api('GET', '/users?page_size=500')).body.users.length;
        const refused = await server.api('POST', '/user', {
          identities: [{ type: 'username', details: { username: 'no-email-person' } }],
          is_password_reset_requested: true,
        });
        assertKindeError(refused, 400, 'INVALID_REQUEST');
        assert.equal((await server.api('GET', '/users?page_size=500')).body.users.length, before);

        const id = (await server.api('POST', '/user', { identities: [{ type: 'username', details: { username: 'no-email-person' } }] })).body.id;
        assertKindeError(await server.api('PATCH', `/user?id=${id}`, { is_password_reset_requested: true }), 400, 'INVALID_REQUEST');
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.is_password_reset_requested, false);
        assertKindeError(await server.api('PATCH', `/user?id=${id}`, { is_password_reset_requested: 'yes' }), 400);
        assertKindeError(await server.api('PATCH', '/user?id=kp_00000000000000000000000000000000', { is_password_reset_requested: true }), 404);
      });
    });
  });
}
