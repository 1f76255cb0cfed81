import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { findUser } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import type { CallbackApp } from './support/callback-app.ts';
import { testDatabases } from './support/databases.ts';
import { type FakeApi, type FakeOidcProvider, startFakeApple, startFakeOidcProvider } from './support/fake-providers.ts';
import type { TestServer } from './support/server.ts';

for (const database of testDatabases()) {
  describe(`social sign-in in Chromium (${database.name})`, () => {
    let server: TestServer;
    let browser: Browser;
    let app: CallbackApp;
    browserSuite(database, (suite) => {
      ({ server, browser, app } = suite);
    });

    let appId: string;
    let google: FakeOidcProvider;
    let apple: FakeApi;
    const conn = { google: '', apple: '' };

    before(async () => {
      const callbackUrl = `${server.services.config.issuer}/login/callback`;
      appId = (await server.createApplication({ type: 'reg', redirectUrls: [app.callback] })).id;
      google = await startFakeOidcProvider({
        client: { client_id: 'at-google', client_secret: 'provider-secret-0123456789', redirect_uris: [callbackUrl] },
        account: { sub: 'g-browser', email: 'browser.person@gmail.example', email_verified: true, given_name: 'Browser', family_name: 'Person' },
      });
      apple = await startFakeApple({ clientId: 'com.example.web', subject: '001234.browser', formPost: { user: { name: { firstName: 'Tim', lastName: 'Apple' }, email: 'tim@privaterelay.example' } } });
      const create = async (body: Record<string, unknown>) => {
        const { status, body: answer } = await server.api('POST', '/connections', { enabled_applications: [appId], ...body });
        assert.equal(status, 201, JSON.stringify(answer));
        return answer.connection.id as string;
      };
      conn.google = await create({
        strategy: 'oauth2:google',
        options: {
          client_id: 'at-google',
          client_secret: 'provider-secret-0123456789',
          is_trusted: true,
          endpoints: { issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, token_endpoint: `${google.issuer}/token`, jwks_uri: `${google.issuer}/jwks` },
        },
      });
      // Apple's page on another site than Gatehouse's (localhost, not 127.0.0.1): its POST to the
      // callback is cross-site, so the browser sends no SameSite=Lax cookie with it.
      const applePage = apple.origin.replace('127.0.0.1', 'localhost');
      conn.apple = await create({
        strategy: 'oauth2:apple',
        options: {
          client_id: 'com.example.web',
          client_secret: 'hand-made-client-secret',
          is_trusted: true,
          endpoints: { issuer: apple.origin, authorization_endpoint: `${applePage}/auth/authorize`, token_endpoint: `${apple.origin}/auth/token`, jwks_uri: `${apple.origin}/auth/keys` },
        },
      });
    });
    after(async () => {
      await Promise.all([google?.close(), apple?.close()]);
    });

    const authorizeUrl = () =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: app.callback, scope: 'openid email profile', state: 'app-state' })}`;

    it('signs a person up with the "Continue with Google" button and lands on the application', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl());
      await page.getByRole('button', { name: 'Continue with Google', exact: true }).click();
      await page.waitForURL((url) => url.toString().startsWith(app.callback));
      assert.ok(new URL(page.url()).searchParams.get('code'));
      await context.close();
    });

    it('finishes Apple\'s cross-site form_post through a same-site hop, keeping the first sign-in\'s name', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const callbackCookies: string[] = [];
      page.on('request', async (request) => {
        if (request.method() === 'POST' && request.url().endsWith('/login/callback')) callbackCookies.push((await request.allHeaders()).cookie ?? '');
      });
      await page.goto(authorizeUrl());
      await page.getByRole('button', { name: 'Continue with Apple', exact: true }).click();
      await page.waitForURL((url) => url.toString().startsWith(app.callback));
      assert.equal(callbackCookies.length, 1, 'Apple POSTed the answer');
      assert.doesNotMatch(callbackCookies[0]!, /_interaction/, 'the cross-site POST carried no interaction cookie');
      const row = await server.services.db.selectFrom('identities').select('user_id').where('type', '=', 'oauth2:apple').executeTakeFirst();
      const user = (await findUser(server.services.db, row!.user_id))!;
      assert.equal(user.firstName, 'Tim');
      assert.equal(user.lastName, 'Apple');
      await context.close();
    });
  });
}
