import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { disableConnection, enableConnection, listConnections } from '../src/domain/connections.ts';
import { updateApplication } from '../src/domain/applications.ts';
import type { CallbackApp } from './support/callback-app.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

for (const database of testDatabases()) {
  describe(`hosted sign-in in Chromium (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let app: CallbackApp;

    browserSuite(database, (suite) => {
      ({ server, smtp, browser, app } = suite);
    });

    let lastVerifier = '';

    function authorizeUrl(clientId: string, state: string, extra: Record<string, string> = {}): string {
      const { challenge, verifier } = pkcePair();
      lastVerifier = verifier;
      const params = new URLSearchParams({
        client_id: clientId,
        response_type: 'code',
        redirect_uri: app.callback,
        scope: 'openid profile email offline',
        state,
        code_challenge: challenge,
        code_challenge_method: 'S256',
        ...extra,
      });
      return `${server.url}/oauth2/auth?${params}`;
    }

    async function landedOnCallback(page: Page, state: string): Promise<URL> {
      await page.waitForURL((url) => url.toString().startsWith(app.callback));
      const url = new URL(page.url());
      assert.ok(url.searchParams.get('code'), 'an authorization code arrives');
      assert.equal(url.searchParams.get('state'), state, 'state comes back byte for byte');
      return url;
    }

    it('signs a new user up with an emailed code, then signs them in again through the SSO session', async () => {
      const spa = await server.createApplication({ type: 'spa', redirectUrls: [app.callback] });
      await updateApplication(server.services.db, spa.id, { askForNames: true });
      const context = await browser.newContext();
      const page = await context.newPage();
      // State as the PKCE SDK makes it: base64url JSON, with characters that must survive untouched.
      const state = Buffer.from(JSON.stringify({ kinde: 'state', r: '~+/=' })).toString('base64url') + '.~-_';

      await page.goto(authorizeUrl(spa.id, state));
      await page.getByLabel('Email').fill('new.person@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();

      await page.getByLabel('First name').fill('New');
      await page.getByLabel('Last name').fill('Person');
      assert.equal(await page.getByLabel('Email').inputValue(), 'new.person@example.test');
      const mail = smtp.nextMessageTo('new.person@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();

      await page.getByRole('heading', { name: 'Check your email' }).waitFor();
      assert.equal(await page.getByLabel('Code').getAttribute('autocomplete'), 'one-time-code');
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      const callback = await landedOnCallback(page, state);

      const tokens = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', client_id: spa.id, code: callback.searchParams.get('code')!, code_verifier: lastVerifier, redirect_uri: app.callback }),
      }).then((r) => r.json() as Promise<{ id_token: string }>);
      const idToken = decodeJwt(tokens.id_token);
      assert.equal(idToken.given_name, 'New');
      assert.equal(idToken.family_name, 'Person');
      assert.equal(idToken.name, 'New Person');
      assert.equal(idToken.email, 'new.person@example.test');
      assert.equal(idToken.email_verified, true);

      const second = await context.newPage();
      const responses: string[] = [];
      second.on('response', (response) => responses.push(new URL(response.url()).pathname));
      await second.goto(authorizeUrl(spa.id, 'again'));
      await landedOnCallback(second, 'again');
      assert.ok(!responses.some((path) => path.startsWith('/interaction/')), 'no sign-in page was shown the second time');
      await context.close();
    });

    it('signs in with email and password: a wrong password is refused, the right one lets them in', async () => {
      const web = await server.createApplication({ type: 'reg', redirectUrls: [app.callback] });
      const connections = await listConnections(server.services.db);
      const byStrategy = (strategy: string) => connections.find((c) => c.strategy === strategy)!.id;
      await disableConnection(server.services.db, web.id, byStrategy('email:otp'));
      await enableConnection(server.services.db, web.id, byStrategy('email:password'));

      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl(web.id, 'register', { prompt: 'create' }));
      await page.getByRole('heading', { name: 'Create your account' }).waitFor();
      await page.getByLabel('Email').fill('pat@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();
      assert.equal(await page.getByLabel('Password').getAttribute('autocomplete'), 'new-password');
      await page.getByLabel('Password').fill('password123');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByText('This password is too common').waitFor();
      await page.getByLabel('Password').fill('short');
      assert.equal(await page.getByLabel('Password').evaluate((input: HTMLInputElement) => input.checkValidity()), false, 'the browser asks for 8 characters before sending');
      await page.getByLabel('Password').fill('correct horse battery staple');
      const mail = smtp.nextMessageTo('pat@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      await landedOnCallback(page, 'register');
      await context.close();

      const fresh = await browser.newContext();
      const signIn = await fresh.newPage();
      await signIn.goto(authorizeUrl(web.id, 'sign-in', { login_hint: 'pat@example.test' }));
      assert.equal(await signIn.getByLabel('Email').inputValue(), 'pat@example.test', 'login_hint prefills the email');
      await signIn.getByRole('button', { name: 'Continue' }).click();
      assert.equal(await signIn.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
      await signIn.getByLabel('Password').fill('wrong horse battery staple');
      await signIn.getByRole('button', { name: 'Sign in' }).click();
      await signIn.getByText('That password is not right').waitFor();
      await signIn.getByLabel('Password').fill('correct horse battery staple');
      await signIn.getByRole('button', { name: 'Sign in' }).click();
      await landedOnCallback(signIn, 'sign-in');

      const failed = await server.services.db.selectFrom('users').select('failed_sign_ins').execute();
      assert.ok(failed.some((row) => row.failed_sign_ins === 1), 'the wrong password was counted');
      await fresh.close();
    });

    it('shows a friendly page with a way back for a bad redirect URI', async () => {
      const web = await server.createApplication({ type: 'reg', redirectUrls: [app.callback] });
      await updateApplication(server.services.db, web.id, { homepageUri: 'http://127.0.0.1:9/home' });
      const page = await browser.newPage();
      const response = await page.goto(`${server.url}/oauth2/auth?${new URLSearchParams({ client_id: web.id, response_type: 'code', redirect_uri: 'https://evil.example/cb', scope: 'openid' })}`);
      assert.equal(response?.status(), 400);
      await page.getByRole('heading', { name: 'We could not start sign-in' }).waitFor();
      assert.equal(await page.getByRole('link', { name: 'Return to the application' }).getAttribute('href'), 'http://127.0.0.1:9/home');
      assert.ok(!(await page.content()).includes(' at '), 'no stack trace');
      await page.close();
    });
  });
}
