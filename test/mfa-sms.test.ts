import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import { codeIn as smsCodeIn, FakeTwilio } from './support/fake-twilio.ts';
import type { Browser } from 'playwright-core';
import type { TestServer } from './support/server.ts';


for (const database of testDatabases()) {
  describe(`an SMS second step through Twilio (${database.name})`, () => {
    let server: TestServer;
    let twilio: FakeTwilio;
    let browser: Browser;
    let CALLBACK: string;

    browserSuite(
      database,
      (suite) => {
        ({ server, browser } = suite);
        twilio = suite.twilio!;
        CALLBACK = suite.app.callback;
      },
      { twilio: true },
    );

    it('enrols the phone as a second step after a password, then remembers it for the SSO session', async () => {
      const db = server.services.db;
      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(app.id, ['email:password']);
      const user = await createUser(db, {
        identities: [
          { type: 'email', value: 'sms.factor@example.test', isVerified: true },
          { type: 'phone', value: '+61466043124', isVerified: true },
        ],
      });
      await setPassword(db, user.id, 'password before the sms');
      await updateEnvironmentPolicy(db, { mfa: { mode: 'required', factors: ['sms'] } });
      try {
        const context = await browser.newContext();
        const page = await context.newPage();
        const authorize = `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'sms' })}`;
        await page.goto(authorize);
        await page.getByLabel('Email').fill('sms.factor@example.test');
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.getByLabel('Password').fill('password before the sms');
        await page.getByRole('button', { name: 'Sign in' }).click();
        const sms = twilio.nextMessageTo('+61466043124');
        await page.getByRole('button', { name: 'Text message code' }).click();
        await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
        await page.getByLabel('Code').fill(smsCodeIn((await sms).body));
        await page.getByRole('button', { name: 'Verify' }).click();
        await page.getByRole('button', { name: 'I have saved them' }).click();
        await page.waitForURL((url) => url.toString().startsWith(CALLBACK));

        const seen: string[] = [];
        page.on('response', (response) => seen.push(new URL(response.url()).pathname));
        await page.goto(authorize);
        await page.waitForURL((url) => url.toString().startsWith(CALLBACK));
        assert.ok(!seen.some((path) => path.startsWith('/interaction/')), 'the SSO session remembers the second step: no page');
        await context.close();
      } finally {
        await updateEnvironmentPolicy(db, { mfa: { mode: 'off' } });
      }
    });
  });
}
