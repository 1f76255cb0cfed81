import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { ensureManagementApi, MANAGEMENT_SCOPES } from '../src/domain/apis.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, BOOTSTRAP, serverForSuite, type TestServer } from './support/server.ts';

const BUILT_IN_STRATEGIES = ['email:password', 'email:otp', 'phone:otp', 'username:password', 'username:otp'];

for (const database of testDatabases()) {
  describe(`management API at /api/v1 (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    /** Sends a raw body, for the cases `server.api` cannot express (bad JSON, wrong content type). */
    async function rawRequest(method: string, path: string, body: string, contentType: string) {
      const response = await fetch(`${server.url}/api/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${await server.managementToken()}`, 'content-type': contentType },
        body,
      });
      return { status: response.status, body: (await response.json()) as any };
    }

    async function all(path: string, key: string): Promise<any[]> {
      const { status, body } = await server.api('GET', `${path}?page_size=500`);
      assert.equal(status, 200);
      assert.equal(body.next_token, undefined);
      return body[key];
    }

    async function clientCredentialsToken(clientId: string, clientSecret: string, audience: string) {
      const response = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret, audience }),
      });
      return { status: response.status, body: (await response.json()) as any };
    }

    async function createApp(type: 'reg' | 'spa' | 'm2m' | 'device', name = `Test ${type}`) {
      const { status, body } = await server.api('POST', '/applications', { name, type });
      assert.equal(status, 201, JSON.stringify(body));
      return body.application as { id: string; client_id: string; client_secret?: string };
    }

    /** Kinde's "add scope to API application", by scope key. */
    async function giveScopes(apiId: string, applicationId: string, keys: string[]) {
      const scopes = (await server.api('GET', `/apis/${apiId}/scopes`)).body.scopes as Array<{ id: string; key: string }>;
      for (const key of keys) {
        const scope = scopes.find((s) => s.key === key);
        assert.ok(scope, `the API has ${key}`);
        assert.equal((await server.api('POST', `/apis/${apiId}/applications/${applicationId}/scopes/${scope.id}`)).status, 200);
      }
    }

    async function managementAdmin(name: string, scopes: string[]) {
      const app = await createApp('m2m', name);
      const managementApi = (await all('/apis', 'apis')).find((api) => api.is_management_api);
      await server.api('PATCH', `/apis/${managementApi.id}/applications`, { applications: [{ id: app.id }] });
      await giveScopes(managementApi.id, app.id, scopes);
      return { app, managementApi };
    }

    const tokenRequest = (app: { client_id: string; client_secret?: string }, extra: Record<string, string>) =>
      fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: app.client_id, client_secret: app.client_secret!, audience: `${server.services.config.issuer}/api`, ...extra }),
      });

    describe('authentication', () => {
      it('answers 403 without a bearer token', async () => {
        const response = await fetch(`${server.url}/api/v1/applications`);
        assertKindeError({ status: response.status, body: await response.json() }, 403);
      });

      it('answers 403 to a token issued for another audience', async () => {
        const app = await createApp('m2m', 'Other-audience client');
        const api = await server.api('POST', '/apis', { name: 'Orders', audience: 'https://orders.example.test' });
        await server.api('PATCH', `/apis/${api.body.api.id}/applications`, { applications: [{ id: app.id }] });
        const token = await clientCredentialsToken(app.client_id, app.client_secret!, 'https://orders.example.test');
        assert.equal(token.status, 200, JSON.stringify(token.body));
        const response = await fetch(`${server.url}/api/v1/applications`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
        assertKindeError({ status: response.status, body: await response.json() }, 403);
      });

      it('stops accepting a token as soon as its application loses management access', async () => {
        const { app, managementApi } = await managementAdmin('Short-lived admin', ['read:applications']);
        const token = await clientCredentialsToken(app.client_id, app.client_secret!, `${server.services.config.issuer}/api`);
        const call = () => fetch(`${server.url}/api/v1/applications`, { headers: { authorization: `Bearer ${token.body.access_token}` } });
        assert.equal((await call()).status, 200);
        await server.api('PATCH', `/apis/${managementApi.id}/applications`, { applications: [{ id: app.id, operation: 'delete' }] });
        const refused = await call();
        assertKindeError({ status: refused.status, body: await refused.json() }, 403);
      });

      it('lets a token do only what its scopes allow: a read:users token reads users and changes nothing', async () => {
        const { app } = await managementAdmin('User directory reader', ['read:users', 'create:users']);
        const everything = ((await (await tokenRequest(app, {})).json()) as { access_token: string }).access_token;
        assert.deepEqual(decodeJwt(everything).scp, ['create:users', 'read:users'], 'asking for nothing gives every scope the application holds');
        const issued = await tokenRequest(app, { scope: 'read:users' });
        assert.equal(issued.status, 200);
        const accessToken = ((await issued.json()) as { access_token: string }).access_token;
        assert.deepEqual(decodeJwt(accessToken).scp, ['read:users']);
        const call = async (method: string, path: string, body?: unknown) => {
          const response = await fetch(`${server.url}/api/v1${path}`, {
            method,
            headers: { authorization: `Bearer ${accessToken}`, 'content-type': 'application/json' },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          return { status: response.status, body: (await response.json()) as any };
        };

        assert.equal((await call('GET', '/users')).status, 200);
        const usersBefore = (await all('/users', 'users')).length;
        const refused = await call('POST', '/user', { identities: [{ type: 'email', details: { email: 'scoped@example.test' } }] });
        assertKindeError(refused, 403, 'INSUFFICIENT_SCOPE');
        assert.match(refused.body.errors[0].message, /create:users/);
        assert.equal((await all('/users', 'users')).length, usersBefore, 'nothing was created');
        assertKindeError(await call('GET', '/organizations'), 403, 'INSUFFICIENT_SCOPE');
        assertKindeError(await call('PUT', `/users/${(await all('/users', 'users'))[0]?.id ?? 'kp_x'}/password`, { password: 'a new passphrase' }), 403, 'INSUFFICIENT_SCOPE');
        assertKindeError(await call('GET', '/no-such-thing'), 404, 'ROUTE_NOT_FOUND');
      });

      it('issues only the scopes the application holds, and says so (RFC 6749 §3.3: the server may narrow the request)', async () => {
        const { app } = await managementAdmin('Greedy client', ['read:users']);
        const response = await tokenRequest(app, { scope: 'read:users delete:users admin:everything' });
        assert.equal(response.status, 200);
        const body = (await response.json()) as { access_token: string; scope: string };
        assert.equal(body.scope, 'read:users');
        assert.deepEqual(decodeJwt(body.access_token).scp, ['read:users']);
      });

      it('answers 404 ROUTE_NOT_FOUND for an unknown route', async () => {
        assertKindeError(await server.api('GET', '/no-such-thing'), 404, 'ROUTE_NOT_FOUND');
        assertKindeError(await server.api('PUT', '/applications'), 404, 'ROUTE_NOT_FOUND');
      });
    });

    describe('management scopes', () => {
      it('has one catalogue: every scope guards some route, and the management API offers exactly those', async () => {
        const document = (await (await fetch(`${server.url}/api/v1/openapi.json`)).json()) as { paths: Record<string, Record<string, { 'x-required-scope': string }>> };
        const used = new Set(Object.values(document.paths).flatMap((operations) => Object.values(operations).map((operation) => operation['x-required-scope'])));
        assert.deepEqual(MANAGEMENT_SCOPES.filter((scope) => !used.has(scope)), []);
        const managementApi = (await all('/apis', 'apis')).find((api) => api.is_management_api);
        const offered = (await server.api('GET', `/apis/${managementApi.id}/scopes`)).body.scopes.map((scope: { key: string }) => scope.key);
        assert.deepEqual([...offered].sort(), [...MANAGEMENT_SCOPES].sort());
      });

      it('gives a management API made by an older version the scopes added since, at start-up, and them to applications that held every scope', async () => {
        const db = server.services.db;
        const { app: partial, managementApi } = await managementAdmin('Partial admin', ['read:users']);
        await db.deleteFrom('api_scopes').where('api_id', '=', managementApi.id).where('key', 'in', ['read:roles', 'delete:roles']).execute();
        await ensureManagementApi(db, server.services.config.issuer);
        const keys = (await db.selectFrom('api_scopes').select('key').where('api_id', '=', managementApi.id).execute()).map((row) => row.key);
        assert.ok(keys.includes('read:roles') && keys.includes('delete:roles'));
        assert.equal(keys.length, MANAGEMENT_SCOPES.length);
        const held = async (applicationId: string) =>
          (
            await db
              .selectFrom('api_application_scopes')
              .innerJoin('api_scopes', 'api_scopes.id', 'api_application_scopes.scope_id')
              .select('api_scopes.key')
              .where('api_application_scopes.application_id', '=', applicationId)
              .execute()
          ).map((row) => row.key);
        assert.equal((await held(BOOTSTRAP.id)).length, MANAGEMENT_SCOPES.length, 'full access stays full access');
        assert.deepEqual(await held(partial.id), ['read:users'], 'a partial grant is not widened');
      });
    });

    describe('applications', () => {
      it('creates a back-end application and shows its secret only once', async () => {
        const created = await server.api('POST', '/applications', { name: 'Web shop', type: 'reg' });
        assert.equal(created.status, 201);
        assert.equal(created.body.code, 'OK');
        assert.equal(created.body.message, 'Success');
        const { id, client_id, client_secret } = created.body.application;
        assert.equal(client_id, id);
        assert.match(client_secret, /^[A-Za-z0-9]{40,60}$/);

        const fetched = await server.api('GET', `/applications/${id}`);
        assert.equal(fetched.status, 200);
        assert.deepEqual(fetched.body.application, {
          id,
          name: 'Web shop',
          type: 'reg',
          client_id: id,
          login_uri: null,
          homepage_uri: null,
          has_cancel_button: false,
          is_ask_for_names: true,
          is_show_sign_in_link: true,
          is_gravatar_fallback_enabled: true,
          is_ask_marketing_consent: false,
          is_org_name_in_token: false,
          is_organizations_in_id_token: false,
          is_hasura_mapping_enabled: false,
        });
        assert.ok(!('client_secret' in fetched.body.application));
      });

      it('gives single-page and device applications no secret', async () => {
        assert.equal((await createApp('spa')).client_secret, undefined);
        assert.equal((await createApp('device')).client_secret, undefined);
      });

      it('lists applications across two pages with next_token', async () => {
        await createApp('reg', 'Page filler 1');
        await createApp('reg', 'Page filler 2');
        const everything = await all('/applications', 'applications');
        const pageSize = Math.ceil(everything.length / 2);

        const first = await server.api('GET', `/applications?page_size=${pageSize}`);
        assert.equal(first.status, 200);
        assert.equal(first.body.applications.length, pageSize);
        assert.equal(typeof first.body.next_token, 'string');
        const second = await server.api('GET', `/applications?page_size=${pageSize}&next_token=${first.body.next_token}`);
        assert.equal(second.status, 200);
        assert.equal(second.body.next_token, undefined);

        const paged = [...first.body.applications, ...second.body.applications];
        assert.deepEqual(paged, everything);
        for (const item of paged) assert.deepEqual(Object.keys(item).sort(), ['id', 'name', 'type']);
      });

      it('refuses a malformed next_token and an out-of-range page_size', async () => {
        assertKindeError(await server.api('GET', '/applications?next_token=not-a-token'), 400);
        assertKindeError(await server.api('GET', '/applications?page_size=0'), 400);
        assertKindeError(await server.api('GET', '/applications?page_size=501'), 400);
        assertKindeError(await server.api('GET', '/applications?page_size=ten'), 400);
      });

      it('updates name, URLs and the ask-for-names extension, ignoring language_key', async () => {
        const app = await createApp('reg', 'Before');
        const patched = await server.api('PATCH', `/applications/${app.id}`, {
          name: 'After',
          language_key: 'en',
          redirect_uris: ['https://app.example.test/callback'],
          logout_uris: ['https://app.example.test/'],
          login_uri: 'https://app.example.test/login',
          homepage_uri: 'https://app.example.test',
          is_ask_for_names: true,
        });
        assert.equal(patched.status, 200, JSON.stringify(patched.body));
        assert.equal(patched.body.code, 'OK');

        const { application } = (await server.api('GET', `/applications/${app.id}`)).body;
        assert.equal(application.name, 'After');
        assert.equal(application.login_uri, 'https://app.example.test/login');
        assert.equal(application.homepage_uri, 'https://app.example.test');
        assert.equal(application.is_ask_for_names, true);
        assert.deepEqual((await server.api('GET', `/applications/${app.id}/auth_redirect_urls`)).body.redirect_urls, [
          'https://app.example.test/callback',
        ]);
        assert.deepEqual((await server.api('GET', `/applications/${app.id}/auth_logout_urls`)).body.logout_urls, ['https://app.example.test/']);
      });

      it('refuses an update with wrong types or bad URLs and changes nothing', async () => {
        const app = await createApp('reg', 'Unchanged');
        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { name: 42 }), 400, 'INVALID_REQUEST');
        const badUrl = await server.api('PATCH', `/applications/${app.id}`, { name: 'Changed', redirect_uris: ['https://ok.test/cb', 'https://x.test/cb#frag'] });
        assertKindeError(badUrl, 400);
        assert.match(badUrl.body.errors[0].message, /redirect_uris\.1/);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { logout_uris: ['/relative'] }), 400);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { login_uri: 'javascript:alert(1)' }), 400);
        const { application } = (await server.api('GET', `/applications/${app.id}`)).body;
        assert.equal(application.name, 'Unchanged');
        assert.deepEqual((await server.api('GET', `/applications/${app.id}/auth_redirect_urls`)).body.redirect_urls, []);
      });

      it('updates token lifetimes and accepts is_hasura_mapping_enabled', async () => {
        const app = await createApp('reg');
        const response = await server.api('PATCH', `/applications/${app.id}/tokens`, {
          access_token_lifetime: 3600,
          refresh_token_lifetime: 86_400,
          id_token_lifetime: 3600,
          authenticated_session_lifetime: 7200,
          is_hasura_mapping_enabled: false,
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.equal(response.body.code, 'OK');
        assertKindeError(await server.api('PATCH', `/applications/${app.id}/tokens`, { access_token_lifetime: '3600' }), 400);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}/tokens`, { access_token_lifetime: -1 }), 400);
      });

      it('deletes an application, then answers 404 for it', async () => {
        const app = await createApp('spa', 'Short-lived');
        const before = (await all('/applications', 'applications')).length;
        const deleted = await server.api('DELETE', `/applications/${app.id}`);
        assert.equal(deleted.status, 200);
        assert.equal(deleted.body.code, 'OK');
        assert.equal((await all('/applications', 'applications')).length, before - 1);
        assertKindeError(await server.api('GET', `/applications/${app.id}`), 404);
        assertKindeError(await server.api('DELETE', `/applications/${app.id}`), 404);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { name: 'Ghost' }), 404);
      });

      it('stops a deleted application from getting tokens at once, though the engine just served it', async () => {
        const app = await createApp('m2m', 'Soon gone');
        const managementApi = (await all('/apis', 'apis')).find((api) => api.is_management_api);
        await server.api('PATCH', `/apis/${managementApi.id}/applications`, { applications: [{ id: app.id }] });
        assert.equal((await tokenRequest(app, {})).status, 200);
        assert.equal((await server.api('DELETE', `/applications/${app.id}`)).status, 200);
        const refused = await tokenRequest(app, {});
        assert.equal(refused.status, 401);
        assert.equal(((await refused.json()) as { error: string }).error, 'invalid_client');
      });

      it('refuses bad create requests without writing a row', async () => {
        const before = (await all('/applications', 'applications')).length;
        assertKindeError(await server.api('POST', '/applications', { name: 'No type' }), 400, 'INVALID_REQUEST');
        assertKindeError(await server.api('POST', '/applications', { name: 'Bad type', type: 'mobile' }), 400);
        assertKindeError(await server.api('POST', '/applications', { name: ['array'], type: 'reg' }), 400);
        assertKindeError(await server.api('POST', '/applications', { name: '', type: 'reg' }), 400);
        assertKindeError(await server.api('POST', '/applications', [1, 2]), 400);
        assertKindeError(await rawRequest('POST', '/applications', '{"name": "Broken", "type": ', 'application/json'), 400, 'INVALID_JSON');
        assertKindeError(await rawRequest('POST', '/applications', 'name=Form&type=reg', 'application/x-www-form-urlencoded'), 415);
        assertKindeError(await rawRequest('POST', '/applications', JSON.stringify({ name: 'x'.repeat(70_000), type: 'reg' }), 'application/json'), 413);
        assert.equal((await all('/applications', 'applications')).length, before);
      });
    });

    describe('redirect and logout URLs', () => {
      for (const [path, key] of [
        ['auth_redirect_urls', 'redirect_urls'],
        ['auth_logout_urls', 'logout_urls'],
      ] as const) {
        it(`adds, replaces and removes ${path}`, async () => {
          const app = await createApp('reg');
          const base = `/applications/${app.id}/${path}`;
          const list = async () => (await server.api('GET', base)).body[key];

          assert.deepEqual(await list(), []);
          const added = await server.api('POST', base, { urls: ['https://a.test/cb', 'http://localhost:3000/cb'] });
          assert.equal(added.status, 200);
          assert.deepEqual(added.body, { code: 'OK', message: 'Success' });
          await server.api('POST', base, { urls: ['https://a.test/cb', 'https://b.test/cb'] });
          assert.deepEqual(await list(), ['https://a.test/cb', 'http://localhost:3000/cb', 'https://b.test/cb']);

          // The SDK sends one comma-separated, URL-encoded parameter.
          const removed = await server.api('DELETE', `${base}?urls=${encodeURIComponent('https://a.test/cb,https://b.test/cb')}`);
          assert.equal(removed.status, 200);
          assert.deepEqual(await list(), ['http://localhost:3000/cb']);

          await server.api('PUT', base, { urls: ['https://c.test/cb'] });
          assert.deepEqual(await list(), ['https://c.test/cb']);

          assertKindeError(await server.api('POST', base, { urls: ['myapp://callback'] }), 400);
          assertKindeError(await server.api('PUT', base, { urls: ['https://c.test/cb#x'] }), 400);
          assertKindeError(await server.api('PUT', base, { urls: 'https://c.test/cb' }), 400);
          assertKindeError(await server.api('DELETE', base), 400);
          assert.deepEqual(await list(), ['https://c.test/cb']);

          assertKindeError(await server.api('GET', `/applications/unknown/${path}`), 404);
          assertKindeError(await server.api('POST', `/applications/unknown/${path}`, { urls: ['https://a.test/cb'] }), 404);
        });
      }
    });

    describe('connections', () => {
      it('lists the five built-in connections with conn_ ids', async () => {
        const { status, body } = await server.api('GET', '/connections?page_size=10');
        assert.equal(status, 200);
        assert.equal(body.code, 'OK');
        assert.equal(body.has_more, false);
        assert.deepEqual(body.connections.map((c: any) => c.strategy).sort(), [...BUILT_IN_STRATEGIES].sort());
        for (const connection of body.connections) {
          assert.match(connection.id, /^conn_[0-9a-f]{32}$/);
          assert.deepEqual(Object.keys(connection).sort(), ['display_name', 'id', 'name', 'strategy']);
        }
        const one = await server.api('GET', `/connections/${body.connections[0].id}`);
        assert.equal(one.status, 200);
        assert.deepEqual(one.body.connection, body.connections[0]);
        assertKindeError(await server.api('GET', '/connections/conn_00000000000000000000000000000000'), 404);
      });

      it('pages with starting_after, ending_before and has_more', async () => {
        const everything = (await server.api('GET', '/connections')).body.connections as { id: string }[];
        const first = (await server.api('GET', '/connections?page_size=2')).body;
        assert.deepEqual(first.connections, everything.slice(0, 2));
        assert.equal(first.has_more, true);
        const second = (await server.api('GET', `/connections?page_size=2&starting_after=${first.connections[1].id}`)).body;
        assert.deepEqual(second.connections, everything.slice(2, 4));
        assert.equal(second.has_more, true);
        const third = (await server.api('GET', `/connections?page_size=2&starting_after=${second.connections[1].id}`)).body;
        assert.deepEqual(third.connections, everything.slice(4));
        assert.equal(third.has_more, false);
        const back = (await server.api('GET', `/connections?page_size=2&ending_before=${third.connections[0].id}`)).body;
        assert.deepEqual(back.connections, everything.slice(2, 4));
        assert.equal(back.has_more, true);
        assertKindeError(await server.api('GET', '/connections?starting_after=conn_unknown'), 400);
      });

      it('turns email + code on for a new back-end application', async () => {
        const app = await createApp('reg');
        const { status, body } = await server.api('GET', `/applications/${app.id}/connections`);
        assert.equal(status, 200);
        assert.deepEqual(body.connections.map((c: any) => c.strategy), ['email:otp']);
        assertKindeError(await server.api('GET', '/applications/unknown/connections'), 404);
      });

      it('refuses email + password while email + code is on, changing nothing', async () => {
        const app = await createApp('reg');
        const byStrategy = new Map((await server.api('GET', '/connections')).body.connections.map((c: any) => [c.strategy, c.id]));
        const conflict = await server.api('POST', `/applications/${app.id}/connections/${byStrategy.get('email:password')}`);
        assertKindeError(conflict, 400, 'CONNECTION_CONFLICT');
        const strategies = async () => (await server.api('GET', `/applications/${app.id}/connections`)).body.connections.map((c: any) => c.strategy);
        assert.deepEqual(await strategies(), ['email:otp']);

        assert.equal((await server.api('DELETE', `/applications/${app.id}/connections/${byStrategy.get('email:otp')}`)).status, 200);
        assert.equal((await server.api('POST', `/applications/${app.id}/connections/${byStrategy.get('email:password')}`)).status, 200);
        assert.equal((await server.api('POST', `/applications/${app.id}/connections/${byStrategy.get('username:password')}`)).status, 200);
        assert.deepEqual((await strategies()).sort(), ['email:password', 'username:password']);
      });

      it('answers 404 for an unknown application or connection', async () => {
        const app = await createApp('reg');
        const connection = (await server.api('GET', '/connections')).body.connections[0].id;
        assertKindeError(await server.api('POST', `/applications/unknown/connections/${connection}`), 404);
        assertKindeError(await server.api('DELETE', `/applications/unknown/connections/${connection}`), 404);
        assertKindeError(await server.api('POST', `/applications/${app.id}/connections/conn_unknown`), 404);
      });
    });

    describe('APIs and scopes', () => {
      it('creates an API with scopes, authorizes an application and issues it a token for that audience', async () => {
        const created = await server.api('POST', '/apis', { name: 'Billing', audience: 'https://billing.example.test' });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        assert.equal(created.body.code, 'OK');
        const apiId = created.body.api.id;

        for (const key of ['read:invoices', 'write:invoices']) {
          const scope = await server.api('POST', `/apis/${apiId}/scopes`, { key, description: `Can ${key}` });
          assert.equal(scope.status, 200, JSON.stringify(scope.body));
          assert.equal(typeof scope.body.scope.id, 'string');
        }
        const scopes = await server.api('GET', `/apis/${apiId}/scopes`);
        assert.deepEqual(scopes.body.scopes.map((s: any) => [s.key, s.description]), [
          ['read:invoices', 'Can read:invoices'],
          ['write:invoices', 'Can write:invoices'],
        ]);

        const app = await createApp('m2m', 'Billing worker');
        const refused = await clientCredentialsToken(app.client_id, app.client_secret!, 'https://billing.example.test');
        assert.equal(refused.status, 400, 'not yet authorized');

        const authorized = await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id }] });
        assert.equal(authorized.status, 200, JSON.stringify(authorized.body));
        assert.deepEqual(authorized.body.applications_connected, [app.id]);

        const api = (await server.api('GET', `/apis/${apiId}`)).body.api;
        assert.equal(api.audience, 'https://billing.example.test');
        assert.equal(api.is_management_api, false);
        assert.deepEqual(api.scopes.map((s: any) => s.key), ['read:invoices', 'write:invoices']);
        assert.deepEqual(api.applications, [{ id: app.id, name: 'Billing worker', type: 'Machine to machine (M2M)', is_active: true, scopes: [] }]);

        const scopesNow = async () => {
          const token = await clientCredentialsToken(app.client_id, app.client_secret!, 'https://billing.example.test');
          assert.equal(token.status, 200, JSON.stringify(token.body));
          const claims = decodeJwt(token.body.access_token);
          assert.deepEqual(claims.aud, ['https://billing.example.test']);
          return [...(claims.scp as string[])].sort();
        };
        assert.deepEqual(await scopesNow(), [], 'a new authorization holds no scope');
        await giveScopes(apiId, app.id, ['read:invoices', 'write:invoices']);
        assert.deepEqual(await scopesNow(), ['read:invoices', 'write:invoices']);
        const listed = (await server.api('GET', `/apis/${apiId}`)).body.api.applications[0].scopes.map((s: { key: string }) => s.key);
        assert.deepEqual(listed, ['read:invoices', 'write:invoices'], 'GET /apis/{id} shows what each application holds');
        const write = scopes.body.scopes.find((s: any) => s.key === 'write:invoices');
        assert.equal((await server.api('DELETE', `/apis/${apiId}/applications/${app.id}/scopes/${write.id}`)).status, 200);
        assert.deepEqual(await scopesNow(), ['read:invoices']);

        const revoked = await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id, operation: 'delete' }] });
        assert.deepEqual(revoked.body.applications_disconnected, [app.id]);
        assert.deepEqual((await server.api('GET', `/apis/${apiId}`)).body.api.applications, []);
      });

      it('lists APIs, including the management API, with scopes on request', async () => {
        const { body } = await server.api('GET', '/apis?expand=scopes');
        const management = body.apis.find((api: any) => api.is_management_api);
        assert.equal(management.audience, `${server.services.config.issuer}/api`);
        assert.ok(management.scopes.some((s: any) => s.key === 'read:users'));
        assertKindeError(await server.api('GET', '/apis?expand=everything'), 400);
      });

      it('deletes scopes and APIs, but never the management API', async () => {
        const apiId = (await server.api('POST', '/apis', { name: 'Temp', audience: 'urn:temp' })).body.api.id;
        const scopeId = (await server.api('POST', `/apis/${apiId}/scopes`, { key: 'temp' })).body.scope.id;
        assert.equal((await server.api('GET', `/apis/${apiId}/scopes/${scopeId}`)).body.scope.key, 'temp');
        assert.equal((await server.api('DELETE', `/apis/${apiId}/scopes/${scopeId}`)).status, 200);
        assertKindeError(await server.api('DELETE', `/apis/${apiId}/scopes/${scopeId}`), 404);
        const deleted = await server.api('DELETE', `/apis/${apiId}`);
        assert.equal(deleted.status, 200);
        assert.equal(deleted.body.code, 'API_DELETED');
        assertKindeError(await server.api('GET', `/apis/${apiId}`), 404);

        const management = (await server.api('GET', '/apis')).body.apis.find((api: any) => api.is_management_api);
        assertKindeError(await server.api('DELETE', `/apis/${management.id}`), 400);
      });

      it('refuses bad API requests without writing a row', async () => {
        const apisBefore = (await all('/apis', 'apis')).length;
        assertKindeError(await server.api('POST', '/apis', { name: 'No audience' }), 400);
        assertKindeError(await server.api('POST', '/apis', { name: 'Spaced', audience: 'has space' }), 400);
        assertKindeError(await server.api('POST', '/apis', { name: 'Long', audience: 'a'.repeat(65) }), 400);
        await server.api('POST', '/apis', { name: 'Unique', audience: 'urn:unique' });
        assertKindeError(await server.api('POST', '/apis', { name: 'Again', audience: 'urn:unique' }), 409);
        assert.equal((await all('/apis', 'apis')).length, apisBefore + 1);

        const apiId = (await all('/apis', 'apis')).find((api: any) => api.audience === 'urn:unique').id;
        assertKindeError(await server.api('POST', `/apis/${apiId}/scopes`, { key: 'two words' }), 400);
        assertKindeError(await server.api('POST', `/apis/${apiId}/scopes`, { key: 7 }), 400);
        await server.api('POST', `/apis/${apiId}/scopes`, { key: 'once' });
        assertKindeError(await server.api('POST', `/apis/${apiId}/scopes`, { key: 'once' }), 409);
        assert.equal((await server.api('GET', `/apis/${apiId}/scopes`)).body.scopes.length, 1);
        assertKindeError(await server.api('GET', '/apis/unknown/scopes'), 404);
        assertKindeError(await server.api('POST', '/apis/unknown/scopes', { key: 'x' }), 404);
      });

      it('authorizes nothing when one application in the request is unknown', async () => {
        const apiId = (await server.api('POST', '/apis', { name: 'Atomic', audience: 'urn:atomic' })).body.api.id;
        const app = await createApp('m2m');
        const response = await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id }, { id: 'no-such-app' }] });
        assertKindeError(response, 404);
        assert.deepEqual((await server.api('GET', `/apis/${apiId}`)).body.api.applications, []);
        assertKindeError(await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id, operation: 'remove' }] }), 400);
        assertKindeError(await server.api('PATCH', '/apis/unknown/applications', { applications: [{ id: app.id }] }), 404);
      });

      it('gives a scope only to an authorized application, and only one of that API\'s scopes', async () => {
        const apiId = (await server.api('POST', '/apis', { name: 'Ledger', audience: 'urn:ledger' })).body.api.id;
        const otherApiId = (await server.api('POST', '/apis', { name: 'Other', audience: 'urn:other' })).body.api.id;
        const own = (await server.api('POST', `/apis/${apiId}/scopes`, { key: 'read:ledger' })).body.scope.id;
        const foreign = (await server.api('POST', `/apis/${otherApiId}/scopes`, { key: 'read:other' })).body.scope.id;
        const app = await createApp('m2m', 'Ledger reader');
        const path = (api: string, application: string, scope: string) => `/apis/${api}/applications/${application}/scopes/${scope}`;
        assertKindeError(await server.api('POST', path(apiId, app.id, own)), 404, 'APPLICATION_NOT_AUTHORIZED');
        await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id }] });
        assertKindeError(await server.api('POST', path(apiId, app.id, foreign)), 404, 'SCOPE_NOT_FOUND');
        assertKindeError(await server.api('POST', path('unknown', app.id, own)), 404, 'API_NOT_FOUND');
        const held = () => server.services.db.selectFrom('api_application_scopes').select('scope_id').where('application_id', '=', app.id).execute();
        assert.deepEqual(await held(), [], 'nothing was given');
        assert.equal((await server.api('POST', path(apiId, app.id, own))).status, 200);
        assert.equal((await server.api('POST', path(apiId, app.id, own))).status, 200, 'giving it twice is harmless');
        assert.deepEqual(await held(), [{ scope_id: own }]);
        await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id, operation: 'delete' }] });
        assert.deepEqual(await held(), [], 'revoking the authorization takes its scopes with it');
      });
    });

    describe('users', () => {
      it('creates a user with email, username and phone identities, in Kinde shapes', async () => {
        const created = await server.api('POST', '/user', {
          profile: { given_name: 'Ada', family_name: 'Lovelace', picture: 'https://img.example.test/ada.png' },
          provided_id: 'ext-ada',
          identities: [
            { type: 'email', is_verified: true, details: { email: 'Ada@Example.test' } },
            { type: 'username', details: { username: 'ada' } },
            { type: 'phone', details: { phone: '+447700900001', phone_country_id: 'gb' } },
          ],
        });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        assert.match(created.body.id, /^kp_[0-9a-f]{32}$/);
        assert.equal(created.body.created, true);
        assert.deepEqual(created.body.identities, [
          { type: 'email', result: { created: true } },
          { type: 'username', result: { created: true } },
          { type: 'phone', result: { created: true } },
        ]);

        const { status, body: user } = await server.api('GET', `/user?id=${created.body.id}`);
        assert.equal(status, 200);
        assert.equal(Date.parse(user.created_on) > Date.now() - 60_000, true);
        assert.deepEqual(user, {
          id: created.body.id,
          provided_id: 'ext-ada',
          preferred_email: 'Ada@Example.test',
          phone: '+447700900001',
          username: 'ada',
          first_name: 'Ada',
          last_name: 'Lovelace',
          is_suspended: false,
          picture: 'https://img.example.test/ada.png',
          is_password_reset_requested: false,
          accepts_marketing: false,
          total_sign_ins: 0,
          failed_sign_ins: 0,
          last_signed_in: null,
          created_on: user.created_on,
          organizations: [],
          identities: [
            { type: 'email', identity: 'Ada@Example.test' },
            { type: 'username', identity: 'ada' },
            { type: 'phone', identity: '+447700900001' },
          ],
        });
      });

      it('creates a user without a body, as the SDK sends createUser()', async () => {
        const response = await fetch(`${server.url}/api/v1/user`, { method: 'POST', headers: { authorization: `Bearer ${await server.managementToken()}` } });
        const body = (await response.json()) as any;
        assert.equal(response.status, 200);
        assert.deepEqual(body.identities, []);
        assert.equal((await server.api('DELETE', `/user?id=${body.id}`)).status, 200);
      });

      it('refuses a duplicate email in any case with 409, writing nothing', async () => {
        await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'grace@example.test' } }] });
        const before = (await all('/users', 'users')).length;
        const duplicate = await server.api('POST', '/user', {
          profile: { given_name: 'Copy' },
          identities: [
            { type: 'username', details: { username: 'fresh-name' } },
            { type: 'email', details: { email: 'GRACE@example.test' } },
          ],
        });
        assertKindeError(duplicate, 409, 'USER_IDENTITY_EXISTS');
        assert.equal((await all('/users', 'users')).length, before);
        // The username of the refused request was not kept either.
        const retry = await server.api('POST', '/user', { identities: [{ type: 'username', details: { username: 'fresh-name' } }] });
        assert.equal(retry.status, 200);
      });

      it('refuses invalid identities and wrong types without writing a row', async () => {
        const before = (await all('/users', 'users')).length;
        const bad = [
          { identities: [{ type: 'email', details: { email: 'not-an-email' } }] },
          { identities: [{ type: 'fax', details: { fax: '123' } }] },
          { identities: [{ type: 'phone', details: { phone: 'call me' } }] },
          { identities: [{ type: 'username', details: { username: 'has space' } }] },
          { identities: [{ type: 'email' }] },
          { identities: 'ada@example.test' },
          { profile: { given_name: 7 } },
          { profile: { picture: 'not a url' } },
          { organization_code: 7 },
        ];
        for (const body of bad) assertKindeError(await server.api('POST', '/user', body), 400, 'INVALID_REQUEST');
        assertKindeError(await rawRequest('POST', '/user', '{"identities": [', 'application/json'), 400, 'INVALID_JSON');
        const named = await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'nope' } }] });
        assert.match(named.body.errors[0].message, /identities\.0\.details\.email/);
        assert.equal((await all('/users', 'users')).length, before);
      });

      it('updates a user and answers with update_user_response', async () => {
        const id = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'alan@example.test' } }] })).body.id;
        const updated = await server.api('PATCH', `/user?id=${id}`, {
          given_name: 'Alan',
          family_name: 'Turing',
          picture: 'https://img.example.test/alan.png',
          is_suspended: true,
          provided_id: 'ext-alan',
        });
        assert.equal(updated.status, 200, JSON.stringify(updated.body));
        assert.deepEqual(updated.body, {
          id,
          given_name: 'Alan',
          family_name: 'Turing',
          email: 'alan@example.test',
          is_suspended: true,
          is_password_reset_requested: false,
          picture: 'https://img.example.test/alan.png',
        });
        const user = (await server.api('GET', `/user?id=${id}`)).body;
        assert.equal(user.is_suspended, true);
        assert.equal(user.provided_id, 'ext-alan');

        assertKindeError(await server.api('PATCH', `/user?id=${id}`, { is_suspended: 'yes' }), 400);
        assertKindeError(await server.api('PATCH', `/user?id=${id}`, { given_name: ['Al'] }), 400);
        assert.equal((await server.api('GET', `/user?id=${id}`)).body.first_name, 'Alan');
        assertKindeError(await server.api('PATCH', '/user', { given_name: 'No id' }), 400);
        assertKindeError(await server.api('PATCH', '/user?id=kp_00000000000000000000000000000000', { given_name: 'Ghost' }), 404);
      });

      it('lists users in pages with email and identities', async () => {
        for (const n of [1, 2, 3]) {
          await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: `lister${n}@example.test` } }] });
        }
        const everything = await all('/users', 'users');
        const first = await server.api('GET', '/users?page_size=2');
        assert.equal(first.body.code, 'OK');
        assert.equal(first.body.users.length, 2);
        const rest = [];
        let token: string | undefined = first.body.next_token;
        while (token) {
          const page = await server.api('GET', `/users?page_size=2&next_token=${token}`);
          rest.push(...page.body.users);
          token = page.body.next_token;
        }
        assert.deepEqual([...first.body.users, ...rest], everything);
        const lister = everything.find((u: any) => u.email === 'lister2@example.test');
        assert.deepEqual(lister.identities, [{ type: 'email', identity: 'lister2@example.test', connection_id: null }]);
        assert.ok(!('preferred_email' in lister));
        assertKindeError(await server.api('GET', '/users?next_token=garbage'), 400);
      });

      it("filters users by Kinde's email, username, phone, user_id, has_organization and active_since", async () => {
        const create = async (identities: object[]) => (await server.api('POST', '/user', { identities })).body.id as string;
        const ada = await create([{ type: 'email', details: { email: 'Ada@Filter.test' } }, { type: 'username', details: { username: 'ada_f' } }]);
        const bob = await create([{ type: 'email', details: { email: 'bob@filter.test' } }, { type: 'phone', details: { phone: '+14155550123' } }]);
        const cy = await create([{ type: 'email', details: { email: 'cy@filter.test' } }]);
        const ids = async (query: string) => {
          const { status, body } = await server.api('GET', `/users?page_size=500&${query}`);
          assert.equal(status, 200, JSON.stringify(body));
          return (body.users as Array<{ id: string }>).map((user) => user.id).sort();
        };
        assert.deepEqual(await ids('email=ada%40filter.test'), [ada]);
        assert.deepEqual(await ids(`email=${encodeURIComponent('ada@filter.test, BOB@filter.test')}`), [ada, bob].sort());
        assert.deepEqual(await ids('email=nobody%40filter.test'), []);
        assert.deepEqual(await ids('username=ADA_F'), [ada]);
        assert.deepEqual(await ids(`phone=${encodeURIComponent('+1 415-555 0123')}`), [bob]);
        assert.deepEqual(await ids(`user_id=${cy},${ada}`), [ada, cy].sort());
        assert.deepEqual(await ids(`user_id=${cy}&email=ada%40filter.test`), [], 'every filter must hold');

        const { body: orgBody } = await server.api('POST', '/organization', { name: 'Filter Org' });
        assert.equal((await server.api('POST', `/organizations/${orgBody.organization.code}/users`, { users: [{ id: bob }] })).status, 200);
        const filtered = [ada, bob, cy].sort();
        const within = async (query: string) => (await ids(query)).filter((id) => filtered.includes(id));
        assert.deepEqual(await within('has_organization=true'), [bob]);
        assert.deepEqual(await within('has_organization=false'), [ada, cy].sort());
        assert.deepEqual(await within(`active_since=${encodeURIComponent(new Date(Date.now() + 60_000).toISOString())}`), []);

        for (const bad of ['has_organization=maybe', 'active_since=yesterday', 'email=', `user_id=${Array.from({ length: 101 }, (_, n) => `kp_${n}`).join(',')}`]) {
          assertKindeError(await server.api('GET', `/users?${bad}`), 400);
        }
      });

      it('deletes a user, then answers 404 for it', async () => {
        const id = (await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'gone@example.test' } }] })).body.id;
        const deleted = await server.api('DELETE', `/user?id=${id}&is_delete_profile=true`);
        assert.equal(deleted.status, 200);
        assert.deepEqual(deleted.body, { code: 'OK', message: 'Success' });
        assertKindeError(await server.api('GET', `/user?id=${id}`), 404);
        assertKindeError(await server.api('DELETE', `/user?id=${id}`), 404);
        assertKindeError(await server.api('GET', '/user'), 400);
        // The email is free again once its user is gone.
        assert.equal((await server.api('POST', '/user', { identities: [{ type: 'email', details: { email: 'gone@example.test' } }] })).status, 200);
      });
    });

    describe('audit', () => {
      it('records who changed which resource with each write, in its transaction, and nothing for a refused write', async () => {
        const writes = () => server.services.db.selectFrom('audit_events').selectAll().where('type', '=', 'management_api.write').orderBy('created_at').orderBy('id').execute();
        const before = (await writes()).length;

        const created = await server.api('POST', '/apis', { name: 'Audited', audience: 'urn:audited' });
        assert.equal(created.status, 200, JSON.stringify(created.body));
        const apiId = created.body.api.id as string;
        const app = await createApp('m2m', 'Audited app');
        assertKindeError(await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: app.id }, { id: 'no-such-app' }] }), 404);
        assertKindeError(await server.api('PATCH', `/applications/${app.id}`, { name: 42 }), 400);
        assert.equal((await server.api('DELETE', `/apis/${apiId}`)).status, 200);

        const recorded = (await writes()).slice(before);
        assert.deepEqual(
          recorded.map((row) => [row.actor, row.subject, JSON.parse(row.data).method, JSON.parse(row.data).route]),
          [
            [BOOTSTRAP.id, apiId, 'POST', '/api/v1/apis'],
            [BOOTSTRAP.id, app.id, 'POST', '/api/v1/applications'],
            [BOOTSTRAP.id, apiId, 'DELETE', '/api/v1/apis/:api_id'],
          ],
          'the two refused writes left no event',
        );
      });
    });
  });
}
