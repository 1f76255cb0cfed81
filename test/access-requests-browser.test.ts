import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { updateApplication } from '../src/domain/applications.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import { type FakeOidcProvider, startFakeOidcProvider } from './support/fake-providers.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

/** Asking for access in Chromium, as a person whom self sign-up turns away sees it (issue 14). */
for (const database of testDatabases()) {
  describe(`asking for access in Chromium (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let callback: string;
    let homepage: string;

    browserSuite(database, (suite) => {
      ({ server, smtp, browser } = suite);
      ({ callback, homepage } = suite.app);
    });

    const PROVIDER_SECRET = 'provider-secret-0123456789';
    /** A provider that signs `account` in at once, with Gatehouse registered as its client `clientId`. */
    const fakeProvider = (clientId: string, account: Parameters<typeof startFakeOidcProvider>[0]['account']) =>
      startFakeOidcProvider({ client: { client_id: clientId, client_secret: PROVIDER_SECRET, redirect_uris: [`${server.services.config.issuer}/login/callback`] }, account });

    it('turns the dead end into a request: email, names, the code, then a confirmation with a way back', async () => {
      const app = await server.createApplication({ type: 'reg', name: 'Invite Only', redirectUrls: [callback] });
      await server.useSignInMethods(app.id, ['email:otp']);
      await updateApplication(server.services.db, app.id, { homepageUri: homepage });
      await updateEnvironmentPolicy(server.services.db, { allowSelfSignUp: false });
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        const params = new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: callback, scope: 'openid email', state: 'ask' });
        await page.goto(`${server.url}/oauth2/auth?${params}`);
        await page.getByLabel('Email').fill('browser.asker@example.test');
        await page.getByRole('button', { name: 'Continue' }).click();

        await page.getByRole('heading', { name: 'Ask your administrator for access' }).waitFor();
        assert.equal(await page.getByLabel('Email').inputValue(), 'browser.asker@example.test', 'what was typed is kept');
        await page.getByRole('button', { name: 'Request access' }).click();
        assert.equal(await page.getByLabel('First name').evaluate((input: HTMLInputElement) => input.validity.valueMissing), true, 'the browser asks for the names first');

        await page.getByLabel('First name').fill('Bea');
        await page.getByLabel('Last name').fill('Browser');
        const mail = smtp.nextMessageTo('browser.asker@example.test');
        await page.getByRole('button', { name: 'Request access' }).click();
        await page.getByRole('heading', { name: 'Check your email' }).waitFor();
        await page.getByLabel('Code').fill(codeIn(await mail));
        await page.getByRole('button', { name: 'Continue' }).click();

        await page.getByRole('heading', { name: 'Request sent' }).waitFor();
        assert.match(await page.locator('main, body').first().innerText(), /administrators of Invite Only/);
        assert.ok(!page.url().startsWith(callback), 'the application receives nothing');
        const back = page.getByRole('link', { name: 'Return to Invite Only' });
        assert.equal(await back.getAttribute('href'), homepage);

        const requests = (await server.api('GET', '/access_requests?status=pending')).body.access_requests;
        assert.deepEqual(
          requests.map((r: any) => [r.email, r.first_name, r.last_name]),
          [['browser.asker@example.test', 'Bea', 'Browser']],
        );
      } finally {
        await context.close();
        await updateEnvironmentPolicy(server.services.db, { allowSelfSignUp: true });
      }
    });

    it('turns a new Google person’s dead end into a request: the verified email shown, the names filled in, no code', async () => {
      const app = await server.createApplication({ type: 'reg', name: 'Google Guild', redirectUrls: [callback] });
      const google: FakeOidcProvider = await fakeProvider('ask-google', { sub: 'g-browser-ask', email: 'gwen@gmail.example', email_verified: true, given_name: 'Gwen', family_name: 'Google' });
      const created = await server.api('POST', '/connections', {
        strategy: 'oauth2:google',
        enabled_applications: [app.id],
        options: {
          client_id: 'ask-google',
          client_secret: PROVIDER_SECRET,
          is_trusted: true,
          endpoints: { issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, token_endpoint: `${google.issuer}/token`, jwks_uri: `${google.issuer}/jwks` },
        },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      await updateEnvironmentPolicy(server.services.db, { allowSelfSignUp: false });
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        const params = new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: callback, scope: 'openid email', state: 'ask-google' });
        await page.goto(`${server.url}/oauth2/auth?${params}`);
        await page.getByRole('button', { name: 'Continue with Google', exact: true }).click();

        await page.getByRole('heading', { name: 'Ask your administrator for access' }).waitFor();
        assert.match(await page.locator('main, body').first().innerText(), /The request will be sent as gwen@gmail.example/);
        assert.equal(await page.getByLabel('Email').count(), 0, 'the proven email is not asked for again');
        assert.equal(await page.getByLabel('First name').inputValue(), 'Gwen');
        await page.getByLabel('Last name').fill('Gee');
        await page.getByRole('button', { name: 'Request access' }).click();

        await page.getByRole('heading', { name: 'Request sent' }).waitFor();
        assert.ok(!page.url().startsWith(callback), 'the application receives nothing');
        const requests = (await server.api('GET', '/access_requests?status=pending')).body.access_requests;
        assert.deepEqual(
          requests.filter((r: any) => r.email === 'gwen@gmail.example').map((r: any) => [r.first_name, r.last_name, r.connection_id]),
          [['Gwen', 'Gee', created.body.connection.id]],
        );
      } finally {
        await context.close();
        await google.close();
        await updateEnvironmentPolicy(server.services.db, { allowSelfSignUp: true });
      }
    });

    it('turns an enterprise IdP person’s dead end into a request (no just-in-time provisioning): the IdP’s email and names, no code', async () => {
      const app = await server.createApplication({ type: 'reg', name: 'Corp Portal', redirectUrls: [callback] });
      const idp: FakeOidcProvider = await fakeProvider('ask-corp-idp', { sub: 'corp-browser-ask', email: 'kai@corp.example', email_verified: true, given_name: 'Kai', family_name: 'Corp' });
      const created = await server.api('POST', '/connections', {
        name: 'corp-idp-ask',
        strategy: 'oidc:custom',
        enabled_applications: [app.id],
        options: { issuer: idp.issuer, client_id: 'ask-corp-idp', client_secret: PROVIDER_SECRET, scopes: ['email', 'profile'], is_trusted: true, is_create_missing_user: false },
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const context = await browser.newContext();
      const page = await context.newPage();
      try {
        const params = new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: callback, scope: 'openid email', state: 'ask-corp', connection_id: created.body.connection.id });
        await page.goto(`${server.url}/oauth2/auth?${params}`);

        await page.getByRole('heading', { name: 'Ask your administrator for access' }).waitFor();
        assert.match(await page.locator('main, body').first().innerText(), /The request will be sent as kai@corp.example/);
        assert.equal(await page.getByLabel('Email').count(), 0, 'the IdP’s email is not asked for again');
        assert.equal(await page.getByLabel('First name').inputValue(), 'Kai');
        assert.equal(await page.getByLabel('Last name').inputValue(), 'Corp');
        await page.getByRole('button', { name: 'Request access' }).click();

        await page.getByRole('heading', { name: 'Request sent' }).waitFor();
        assert.ok(!page.url().startsWith(callback), 'the application receives nothing');
        const requests = (await server.api('GET', '/access_requests?status=pending')).body.access_requests;
        assert.deepEqual(
          requests.filter((r: any) => r.email === 'kai@corp.example').map((r: any) => [r.first_name, r.last_name, r.connection_id, r.user_id]),
          [['Kai', 'Corp', created.body.connection.id, null]],
          'filed with the connection, and no account yet',
        );
      } finally {
        await context.close();
        await idp.close();
      }
    });
  });
}
