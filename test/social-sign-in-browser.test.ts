import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { findUser } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import type { CallbackApp } from './support/callback-app.ts';
import { testDatabases } from './support/databases.ts';
import { approving, type FakeApi, type FakeOidcProvider, startFakeApi, startFakeApple, startFakeOidcProvider } from './support/fake-providers.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';
import type { TestServer } from './support/server.ts';

for (const database of testDatabases()) {
  describe(`social sign-in in Chromium (${database.name})`, () => {
    let server: TestServer;
    let browser: Browser;
    let smtp: TestSmtp;
    let app: CallbackApp;
    browserSuite(database, (suite) => {
      ({ server, browser, app, smtp } = suite);
    });

    let appId: string;
    let google: FakeOidcProvider;
    let apple: FakeApi;
    let x: FakeApi;
    let discord: FakeApi;
    const conn = { google: '', apple: '', x: '', discord: '' };

    before(async () => {
      const callbackUrl = `${server.services.config.issuer}/login/callback`;
      appId = (await server.createApplication({ type: 'reg', redirectUrls: [app.callback] })).id;
      google = await startFakeOidcProvider({
        client: { client_id: 'at-google', client_secret: 'provider-secret-0123456789', redirect_uris: [callbackUrl] },
        account: { sub: 'g-browser', email: 'browser.person@gmail.example', email_verified: true, given_name: 'Browser', family_name: 'Person' },
      });
      apple = await startFakeApple({ clientId: 'com.example.web', subject: '001234.browser', formPost: { user: { name: { firstName: 'Tim', lastName: 'Apple' }, email: 'tim@privaterelay.example' } } });
      x = await startFakeApi({
        'GET /i/oauth2/authorize': approving(new Map()),
        'POST /2/oauth2/token': () => [200, { token_type: 'bearer', access_token: 'x-token', expires_in: 7200, scope: 'users.read' }],
        'GET /2/users/me': () => [200, { data: { id: 'x-browser', name: 'Xavier Person', username: 'xavier' } }],
      });
      // A provider where the person presses "Cancel": back to the callback with error=access_denied.
      discord = await startFakeApi({
        'GET /oauth2/authorize': ({ url }) => {
          const back = new URL(url.searchParams.get('redirect_uri')!);
          back.searchParams.set('error', 'access_denied');
          back.searchParams.set('state', url.searchParams.get('state')!);
          return { redirect: back.href };
        },
      });
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
      conn.x = await create({
        strategy: 'oauth2:twitter',
        options: {
          client_id: 'x-client',
          client_secret: 'x-secret',
          endpoints: { authorization_endpoint: `${x.origin}/i/oauth2/authorize`, token_endpoint: `${x.origin}/2/oauth2/token`, userinfo_endpoint: `${x.origin}/2/users/me` },
        },
      });
      conn.discord = await create({
        strategy: 'oauth2:discord',
        options: { client_id: 'discord-client', client_secret: 'discord-secret', endpoints: { authorization_endpoint: `${discord.origin}/oauth2/authorize`, token_endpoint: `${discord.origin}/api/oauth2/token`, userinfo_endpoint: `${discord.origin}/api/users/@me` } },
      });
    });
    after(async () => {
      await Promise.all([google?.close(), apple?.close(), x?.close(), discord?.close()]);
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

    it('asks once for an email when X gives none, and proves it with a code', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl());
      await page.getByRole('button', { name: 'Continue with X', exact: true }).click();
      await page.getByRole('heading', { name: 'What is your email?' }).waitFor();
      await page.getByLabel('Email').fill('xavier@example.test');
      const mail = smtp.nextMessageTo('xavier@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('heading', { name: 'Check your email' }).waitFor();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((url) => url.toString().startsWith(app.callback));

      // Next time X is enough: the email was remembered with the identity.
      const again = await context.newPage();
      await context.clearCookies();
      await again.goto(authorizeUrl());
      await again.getByRole('button', { name: 'Continue with X', exact: true }).click();
      await again.waitForURL((url) => url.toString().startsWith(app.callback));
      await context.close();
    });

    it('shows a cancelled sign-in on a page whose link starts again', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl());
      await page.getByRole('button', { name: 'Continue with Discord', exact: true }).click();
      await page.getByRole('heading', { name: 'Sign-in was cancelled' }).waitFor();
      assert.match(await page.textContent('main') ?? '', /You did not allow Discord to sign you in/);
      await page.getByRole('link', { name: 'Back to sign-in' }).click();
      await page.getByRole('button', { name: 'Continue with Discord', exact: true }).waitFor();
      await context.close();
    });
  });
}
