import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { BOOTSTRAP, startTestServer, type TestServer } from './support/server.ts';
import { selfSignedCertificate } from './support/tls.ts';

// The management SDK always talks https (contract: "Management API"), so Gatehouse serves TLS here
// with a certificate made for this run. NODE_EXTRA_CA_CERTS is only read when Node starts, and the
// SDK calls the global fetch with no way to pass a CA, so this test process alone skips certificate
// verification. Nothing else shares this process (node:test runs each file in its own).
process.env.NODE_TLS_REJECT_UNAUTHORIZED = '0';
// The SDK prefers KINDE_* variables over init() arguments; make sure none leak in from the shell.
delete process.env.KINDE_DOMAIN;

/**
 * The SDK's own declarations use extensionless relative imports, which NodeNext resolution cannot
 * follow (everything but `init` reads as missing), so the calls used here are declared locally.
 */
type SdkCall = (data?: object) => Promise<any>;
interface ManagementSdk {
  init(config: { kindeDomain: string; clientId: string; clientSecret: string }): void;
  getToken(): Promise<string>;
  checkAudience(token: string, audience: string): boolean;
  ApiError: abstract new (...args: never[]) => Error & { status: number; body: any };
  Applications: { createApplication: SdkCall; getApplications: SdkCall; getApplication: SdkCall };
  Callbacks: { addRedirectCallbackUrls: SdkCall; deleteCallbackUrls: SdkCall; getCallbackUrls: SdkCall };
  Connections: { getConnections: SdkCall; createConnection: SdkCall; getConnection: SdkCall; updateConnection: SdkCall; replaceConnection: SdkCall; deleteConnection: SdkCall };
  Mfa: { replaceMfa: SdkCall };
  Organizations: { createOrganization: SdkCall; replaceOrganizationMfa: SdkCall; addOrganizationUsers: SdkCall; getOrgUserMfa: SdkCall; resetOrgUserMfaAll: SdkCall; updateOrganization: SdkCall };
  Users: { createUser: SdkCall; getUserData: SdkCall; deleteUser: SdkCall; getUsersMfa: SdkCall; resetUsersMfa: SdkCall; resetUsersMfaAll: SdkCall };
}
const { ApiError, Applications, Callbacks, checkAudience, Connections, getToken, init, Mfa, Organizations, Users } = (await import(
  '@kinde/management-api-js'
)) as unknown as ManagementSdk;

for (const database of testDatabases()) {
  describe(`@kinde/management-api-js against Gatehouse over TLS (${database.name})`, () => {
    let server: TestServer;
    let drop: () => Promise<void>;

    before(async () => {
      const tls = selfSignedCertificate(['localhost']);
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { TLS_CERT_FILE: tls.certFile, TLS_KEY_FILE: tls.keyFile } });
      init({ kindeDomain: server.url, clientId: BOOTSTRAP.id, clientSecret: BOOTSTRAP.secret });
    });

    after(async () => {
      await server?.close();
      await drop?.();
    });

    it('serves https with the issuer the SDK derives its audience from', async () => {
      assert.match(server.url, /^https:\/\/localhost:\d+$/);
      assert.equal(server.services.config.issuer, server.url);
    });

    it('creates an application and finds it in the application list', async () => {
      const created = await Applications.createApplication({ requestBody: { name: 'Made by the SDK', type: 'reg' } });
      assert.equal(created.code, 'OK');
      const id = created.application?.id;
      assert.ok(id);
      assert.equal(created.application?.client_id, id);
      assert.match(created.application?.client_secret ?? '', /^[A-Za-z0-9]{40,60}$/);

      const listed = await Applications.getApplications({ pageSize: 500 });
      assert.equal(listed.code, 'OK');
      assert.deepEqual(
        listed.applications?.find((app: { id: string }) => app.id === id),
        { id, name: 'Made by the SDK', type: 'reg' },
      );
      const fetched = await Applications.getApplication({ applicationId: id });
      assert.equal(fetched.application?.name, 'Made by the SDK');
    });

    it('reuses one management token, since its audience matches what the SDK expects', async () => {
      const token = await getToken();
      assert.equal(checkAudience(token, `${server.url}/api`), true);
      assert.equal(await getToken(), token);
    });

    it('edits redirect URLs with the comma-separated delete the SDK sends', async () => {
      const { application } = await Applications.createApplication({ requestBody: { name: 'Callbacks', type: 'spa' } });
      const appId = application!.id!;
      await Callbacks.addRedirectCallbackUrls({ appId, requestBody: { urls: ['https://a.test/cb', 'https://b.test/cb', 'https://c.test/cb'] } });
      await Callbacks.deleteCallbackUrls({ appId, urls: 'https://a.test/cb,https://c.test/cb' });
      assert.deepEqual((await Callbacks.getCallbackUrls({ appId })).redirect_urls, ['https://b.test/cb']);
    });

    it('lists connections and manages users', async () => {
      const connections = await Connections.getConnections({ pageSize: 10 });
      assert.equal(connections.connections?.length, 5);
      assert.equal(connections.has_more, false);

      const created = await Users.createUser({
        requestBody: { profile: { given_name: 'Sdk', family_name: 'User' }, identities: [{ type: 'email', details: { email: 'sdk@example.test' } }] },
      });
      assert.equal(created.created, true);
      const user = await Users.getUserData({ id: created.id! });
      assert.equal(user.preferred_email, 'sdk@example.test');
      assert.equal(user.first_name, 'Sdk');
      await Users.deleteUser({ id: created.id!, isDeleteProfile: true });
    });

    it('sets MFA policies and reads and resets a person’s factors', async () => {
      assert.equal((await Mfa.replaceMfa({ requestBody: { policy: 'optional', enabled_factors: ['mfa:authenticator_app', 'mfa:sms'], is_recovery_codes_enabled: true } })).code, 'OK');
      const { organization } = await Organizations.createOrganization({ requestBody: { name: 'MFA by the SDK' } });
      const orgCode = organization!.code!;
      assert.equal((await Organizations.replaceOrganizationMfa({ orgCode, requestBody: { enabled_factors: ['mfa:email'] } })).code, 'OK');
      assert.equal((await Organizations.updateOrganization({ orgCode, requestBody: { is_enforce_mfa: true } })).code, 'OK');

      const created = await Users.createUser({ requestBody: { identities: [{ type: 'email', details: { email: 'mfa-sdk@example.test' } }] } });
      const userId = created.id!;
      await Organizations.addOrganizationUsers({ orgCode, requestBody: { users: [{ id: userId }] } });
      const { enrolCodeFactor } = await import('../src/domain/mfa.ts');
      const factor = await enrolCodeFactor(server.services.db, userId, 'email', 'mfa-sdk@example.test');

      const mfa = await Users.getUsersMfa({ userId });
      assert.equal(mfa.mfa?.id, factor.id);
      assert.equal(mfa.mfa?.type, 'email');
      assert.equal(mfa.mfa?.name, 'mfa-sdk@example.test');
      assert.equal((await Organizations.getOrgUserMfa({ orgCode, userId })).mfa?.id, factor.id);
      assert.equal((await Users.resetUsersMfa({ userId, factorId: factor.id })).code, 'OK');
      assert.equal((await Users.getUsersMfa({ userId })).mfa, undefined);
      assert.equal((await Users.resetUsersMfaAll({ userId })).code, 'OK');
      assert.equal((await Organizations.resetOrgUserMfaAll({ orgCode, userId })).code, 'OK');
    });

    it('creates, reads, updates, replaces and deletes a social connection', async () => {
      const app = await Applications.createApplication({ requestBody: { name: 'Signs in with GitHub', type: 'reg' } });
      const created = await Connections.createConnection({
        requestBody: { name: 'github-sdk', display_name: 'GitHub', strategy: 'oauth2:github', enabled_applications: [app.application.id], options: { client_id: 'gh-id', client_secret: 'gh-secret', is_trusted: false } },
      });
      assert.equal(created.code, 'OK');
      const connectionId = created.connection.id;
      const shown = await Connections.getConnection({ connectionId });
      assert.equal(shown.connection.strategy, 'oauth2:github');
      assert.equal(shown.connection.options.client_id, 'gh-id');
      assert.equal(shown.connection.options.client_secret, undefined);
      assert.equal((await Connections.updateConnection({ connectionId, requestBody: { options: { is_trusted: true } } })).code, 'OK');
      assert.equal((await Connections.getConnection({ connectionId })).connection.options.is_trusted, true);
      assert.equal((await Connections.replaceConnection({ connectionId, requestBody: { display_name: 'GitHub', options: { client_id: 'gh-id-2', client_secret: 'gh-secret-2' } } })).code, 'OK');
      assert.equal((await Connections.getConnection({ connectionId })).connection.options.client_id, 'gh-id-2');
      const refused = await Connections.createConnection({ requestBody: { strategy: 'oauth2:google', options: { client_id: 'no-secret' } } }).catch((error: unknown) => error);
      assert.ok(refused instanceof ApiError);
      assert.equal(refused.status, 400);
      assert.equal((await Connections.deleteConnection({ connectionId })).code, 'OK');
    });

    it('surfaces Kinde error bodies as ApiError', async () => {
      await assert.rejects(Applications.getApplication({ applicationId: 'no-such-application' }), (error: unknown) => {
        assert.ok(error instanceof ApiError);
        assert.equal(error.status, 404);
        assert.equal(error.body.errors[0].code, 'APPLICATION_INVALID');
        return true;
      });
    });
  });
}
