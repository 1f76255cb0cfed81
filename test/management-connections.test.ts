import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer } from './support/server.ts';

const APPLE_KEY = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();

for (const database of testDatabases()) {
  describe(`social connections through the management API (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));

    const count = async () => (await server.services.db.selectFrom('connections').select('id').execute()).length;

    it('creates a Google connection in Kinde\'s shape, enabled for an application, and shows it without its secret', async () => {
      const app = await server.createApplication({ type: 'reg' });
      const created = await server.api('POST', '/connections', {
        name: 'google-main',
        display_name: 'Google',
        strategy: 'oauth2:google',
        enabled_applications: [app.id],
        options: { client_id: 'google-client', client_secret: 'google-secret-value', is_trusted: true, upstream_params: { prompt: { value: 'select_account' } } },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal(created.body.code, 'OK');
      const id = created.body.connection.id;
      assert.match(id, /^conn_[0-9a-f]{32}$/);

      const listed = (await server.api('GET', '/connections?page_size=50')).body.connections;
      assert.deepEqual(listed.find((c: any) => c.id === id), { id, name: 'google-main', display_name: 'Google', strategy: 'oauth2:google' });

      const shown = await server.api('GET', `/connections/${id}`);
      assert.equal(shown.status, 200);
      assert.deepEqual(shown.body.connection, {
        id,
        name: 'google-main',
        display_name: 'Google',
        strategy: 'oauth2:google',
        options: { client_id: 'google-client', is_trusted: true, upstream_params: { prompt: { value: 'select_account' } } },
        organization_code: null,
        enabled_applications: [app.id],
        callback_url: `${server.services.config.issuer}/login/callback`,
      });
      assert.ok(!JSON.stringify(shown.body).includes('google-secret-value'));
      const row = await server.services.db.selectFrom('connections').select('options_sealed').where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(!row.options_sealed?.includes('google-secret-value'), 'sealed at rest');
      const onApp = (await server.api('GET', `/applications/${app.id}/connections`)).body.connections.map((c: any) => c.id);
      assert.ok(onApp.includes(id));
    });

    it('merges options on PATCH (a secret left out stays), replaces them on PUT, and deletes', async () => {
      const { body } = await server.api('POST', '/connections', { strategy: 'oauth2:github', options: { client_id: 'gh', client_secret: 'gh-secret' } });
      const id = body.connection.id;
      const patched = await server.api('PATCH', `/connections/${id}`, { display_name: 'GitHub (staff)', options: { client_id: 'gh-2', endpoints: { issuer: 'https://github.example.com' } } });
      assert.equal(patched.status, 200, JSON.stringify(patched.body));
      const { findSocialConnection } = await import('../src/domain/social/connections.ts');
      const opened = await findSocialConnection(server.services.db, server.services.masterKey, id);
      assert.equal(opened?.options.client_secret, 'gh-secret', 'the secret stayed');
      assert.equal(opened?.options.client_id, 'gh-2');
      assert.equal((await server.api('GET', `/connections/${id}`)).body.connection.display_name, 'GitHub (staff)');

      assertKindeError(await server.api('PUT', `/connections/${id}`, { options: { client_id: 'gh-3' } }), 400, 'INVALID_REQUEST');
      assert.equal((await findSocialConnection(server.services.db, server.services.masterKey, id))?.options.client_id, 'gh-2', 'a refused PUT wrote nothing');
      assert.equal((await server.api('PUT', `/connections/${id}`, { options: { client_id: 'gh-3', client_secret: 'gh-secret-3' } })).status, 200);
      const replaced = (await server.api('GET', `/connections/${id}`)).body.connection;
      assert.deepEqual(replaced.options, { client_id: 'gh-3', is_trusted: false });

      assert.equal((await server.api('DELETE', `/connections/${id}`)).status, 200);
      assertKindeError(await server.api('GET', `/connections/${id}`), 404, 'CONNECTION_NOT_FOUND');
    });

    it('takes Apple\'s team id, key id and private key instead of a client secret, and never shows the key', async () => {
      const created = await server.api('POST', '/connections', { strategy: 'oauth2:apple', options: { client_id: 'com.example.web', team_id: 'TEAM123456', key_id: 'KEY1234567', private_key: APPLE_KEY } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const shown = (await server.api('GET', `/connections/${created.body.connection.id}`)).body.connection;
      assert.deepEqual(shown.options, { client_id: 'com.example.web', team_id: 'TEAM123456', key_id: 'KEY1234567', is_trusted: false });
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:apple', options: { client_id: 'x', team_id: 'T', key_id: 'K', private_key: 'not a key' } }), 400, 'INVALID_REQUEST');
    });

    it('records the organization that manages a connection', async () => {
      const organization = await server.api('POST', '/organization', { name: 'Acme' });
      assert.equal(organization.status, 200, JSON.stringify(organization.body));
      const code = organization.body.organization.code;
      const created = await server.api('POST', '/connections', { strategy: 'oauth2:slack', organization_code: code, options: { client_id: 'slack', client_secret: 'slack-secret' } });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      assert.equal((await server.api('GET', `/connections/${created.body.connection.id}`)).body.connection.organization_code, code);
    });

    it('refuses bad input with Kinde errors and writes nothing', async () => {
      const app = await server.createApplication({ type: 'reg' });
      const before = await count();
      const good = { client_id: 'id', client_secret: 'secret' };
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:myspace', options: good }), 400, 'INVALID_STRATEGY');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'wsfed:azure_ad', options: good }), 400, 'STRATEGY_NOT_SUPPORTED');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', options: { client_id: 'id' } }), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', options: { ...good, endpoints: { token_endpoint: 'ftp://example.com/token' } } }), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', options: { ...good, endpoints: { token_endpoint: 'http://example.com/token' } } }), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', options: { ...good, upstream_params: { state: { value: 'fixed' } } } }), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', options: { ...good, upstream_params: { username: { alias: 'password' } } } }), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', enabled_applications: [app.id, 'no-such-app'], options: good }), 400, 'APPLICATION_NOT_FOUND');
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:google', organization_code: 'org_nope', options: good }), 400, 'ORGANIZATION_NOT_FOUND');
      assert.equal(await count(), before);
      const onApp = (await server.api('GET', `/applications/${app.id}/connections`)).body.connections.map((c: any) => c.strategy);
      assert.deepEqual(onApp, ['email:otp'], 'no half-enabled connection');
    });

    it('keeps the built-in methods: they cannot be edited or deleted here', async () => {
      const builtIn = (await server.api('GET', '/connections?page_size=50')).body.connections.find((c: any) => c.strategy === 'email:otp');
      assertKindeError(await server.api('DELETE', `/connections/${builtIn.id}`), 400, 'CONNECTION_NOT_DELETABLE');
      assertKindeError(await server.api('PATCH', `/connections/${builtIn.id}`, { display_name: 'Mine' }), 400, 'CONNECTION_NOT_EDITABLE');
      assertKindeError(await server.api('DELETE', '/connections/conn_00000000000000000000000000000000'), 404, 'CONNECTION_NOT_FOUND');
    });
  });
}
