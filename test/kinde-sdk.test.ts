import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createKindeServerClient, GrantType, type SessionManager } from '@kinde-oss/kinde-typescript-sdk';
import { validateToken } from '@kinde/jwt-validator';
import { decodeJwt } from 'jose';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { BOOTSTRAP, startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:8000/api/auth/kinde_callback';
const SIGNED_OUT = 'http://127.0.0.1:8000';

/** The SDK's session storage contract, in memory (what an Express app keeps per browser). */
class MemorySession implements SessionManager {
  private items = new Map<string, unknown>();
  async getSessionItem(key: string) {
    return this.items.get(key) ?? null;
  }
  async setSessionItem(key: string, value: unknown) {
    this.items.set(key, value);
  }
  async removeSessionItem(key: string) {
    this.items.delete(key);
  }
  async destroySession() {
    this.items.clear();
  }
}

for (const database of testDatabases()) {
  describe(`Kinde's TypeScript SDK against Gatehouse (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
    });

    after(async () => {
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    async function signInThroughPages(loginUrl: URL, email: string): Promise<URL> {
      const driver = new FormDriver(server.url);
      await driver.go(loginUrl.toString());
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ identifier: email });
      const callback = await driver.submit({ code: codeIn(await mail) });
      assert.ok(callback?.toString().startsWith(CALLBACK));
      return callback!;
    }

    it('gets a management API token with the client-credentials client', async () => {
      const client = createKindeServerClient(GrantType.CLIENT_CREDENTIALS, {
        authDomain: server.url,
        clientId: BOOTSTRAP.id,
        clientSecret: BOOTSTRAP.secret,
        audience: `${server.services.config.issuer}/api`,
        logoutRedirectURL: SIGNED_OUT,
      });
      const session = new MemorySession();
      const token = await client.getToken(session);
      const claims = decodeJwt(token);
      assert.deepEqual(claims.aud, [`${server.services.config.issuer}/api`]);
      assert.equal(claims.azp, BOOTSTRAP.id);
      assert.deepEqual(claims.gty, ['client_credentials']);
      assert.ok((claims.scp as string[]).includes('read:applications'));
      const applications = await fetch(`${server.url}/api/v1/applications`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(applications.status, 200);
      assert.deepEqual(await validateToken({ token, domain: server.url }), { valid: true, message: 'Token is valid' });
    });

    for (const flow of ['PKCE', 'confidential'] as const) {
      it(`signs in with the ${flow} authorization-code client and reads the user profile`, async () => {
        const app = await server.createApplication({ type: flow === 'PKCE' ? 'spa' : 'reg', redirectUrls: [CALLBACK], logoutUrls: [SIGNED_OUT] });
        const options = { authDomain: server.url, clientId: app.id, redirectURL: CALLBACK, logoutRedirectURL: SIGNED_OUT };
        const client =
          flow === 'PKCE'
            ? createKindeServerClient(GrantType.PKCE, options)
            : createKindeServerClient(GrantType.AUTHORIZATION_CODE, { ...options, clientSecret: app.secret! });
        const session = new MemorySession();
        const email = `${flow.toLowerCase()}@example.test`;

        const loginUrl = await client.login(session);
        assert.equal(loginUrl.pathname, '/oauth2/auth');
        await client.handleRedirectToApp(session, await signInThroughPages(loginUrl, email));
        assert.equal(await client.isAuthenticated(session), true);

        const profile = await client.getUserProfile(session);
        assert.equal(profile.email, email);
        assert.match(profile.id, /^kp_[0-9a-f]{32}$/);

        const accessToken = await client.getToken(session);
        assert.deepEqual(await validateToken({ token: accessToken, domain: server.url }), { valid: true, message: 'Token is valid' });
        const claims = decodeJwt(accessToken);
        assert.equal(claims.iss, server.services.config.issuer, 'our own check: the SDK does not verify iss');
        assert.equal(claims.azp, app.id);
        const { defaultOrganization } = await import('../src/domain/organizations.ts');
        const defaultOrg = await defaultOrganization(server.services.db);
        assert.deepEqual(await client.getPermissions(session), { permissions: [], orgCode: defaultOrg.code }, 'new people join the default organization');
        assert.deepEqual(await client.getUserOrganizations(session), { orgCodes: [defaultOrg.code] });

        const refreshed = await client.refreshTokens(session);
        assert.ok(refreshed.access_token);
        assert.notEqual(refreshed.access_token, accessToken);

        const logoutUrl = await client.logout(session);
        assert.equal(logoutUrl.pathname, '/logout');
        const signedOut = await fetch(logoutUrl, { redirect: 'manual' });
        assert.equal(signedOut.status, 302);
        assert.equal(signedOut.headers.get('location'), SIGNED_OUT);
      });
    }
  });
}
