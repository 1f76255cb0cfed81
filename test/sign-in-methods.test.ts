import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser, Page } from 'playwright-core';
import { browserSuite } from './support/browser-suite.ts';
import { pkceAuthorizationRequest } from './support/code-grant.ts';
import { testDatabases } from './support/databases.ts';
import { codeIn as smsCodeIn, FakeTwilio } from './support/fake-twilio.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

/**
 * Each built-in method end to end in Chromium, as a person uses it: phone + SMS code (through a fake
 * Twilio speaking its real API), username + password and username + code (codes by email).
 */
for (const database of testDatabases()) {
  describe(`every sign-in method in Chromium (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let twilio: FakeTwilio;
    let browser: Browser;
    let callback: string;

    browserSuite(
      database,
      (suite) => {
        ({ server, smtp, browser } = suite);
        twilio = suite.twilio!;
        callback = suite.app.callback;
      },
      { twilio: true, env: { DEFAULT_PHONE_COUNTRY: 'AU' } },
    );

    async function appWith(strategies: string[], options: { askForNames?: boolean } = {}) {
      const app = await server.createApplication({ type: 'spa', redirectUrls: [callback], askForNames: options.askForNames });
      await server.useSignInMethods(app.id, strategies);
      return app;
    }

    /** Starts sign-in; returns the page and a function that redeems the code the app receives. */
    async function start(clientId: string, extra: Record<string, string> = {}) {
      const { query: params, verifier } = pkceAuthorizationRequest({ client_id: clientId, redirect_uri: callback, scope: 'openid profile email phone', state: 'methods', ...extra });
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${server.url}/oauth2/auth?${params}`);
      const redeem = async () => {
        await page.waitForURL((url) => url.toString().startsWith(callback));
        const code = new URL(page.url()).searchParams.get('code')!;
        const response = await fetch(`${server.url}/oauth2/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'authorization_code', client_id: clientId, code, code_verifier: verifier, redirect_uri: callback }),
        });
        const tokens = (await response.json()) as { id_token: string };
        await context.close();
        return decodeJwt(tokens.id_token);
      };
      return { page, redeem };
    }

    const next = (page: Page, name = 'Continue') => page.getByRole('button', { name }).click();

    it('signs up and in with a phone number and an SMS code', async () => {
      const app = await appWith(['phone:otp']);
      const { page, redeem } = await start(app.id);
      const field = page.getByLabel('Mobile number');
      assert.equal(await field.getAttribute('type'), 'tel');
      assert.equal(await field.getAttribute('autocomplete'), 'tel');
      await field.fill('0466 043 123');
      const sms = twilio.nextMessageTo('+61466043123');
      await next(page);
      await page.getByRole('heading', { name: 'Check your phone' }).waitFor();
      const message = await sms;
      assert.match(message.body, /^\d{6} is your one-time code to sign in to Gatehouse/);
      assert.match(message.body, /@localhost #\d{6}$/, 'the origin-bound line lets the browser offer the code');
      await page.getByLabel('Code').fill(smsCodeIn(message.body));
      await next(page);
      const claims = await redeem();
      assert.equal(claims.phone, '+61466043123');
      assert.equal(claims.email, undefined);

      const again = await start(app.id, { login_hint: 'phone:61466043123:au' });
      assert.equal(await again.page.getByLabel('Mobile number').inputValue(), '+61466043123', 'the login hint prefills, with or without +');
      const secondSms = twilio.nextMessageTo('+61466043123');
      await next(again.page);
      await again.page.getByLabel('Code').fill(smsCodeIn((await secondSms).body));
      await next(again.page);
      assert.equal((await again.redeem()).sub, claims.sub, 'the same person signs in again');
    });

    it('signs up with a username, a password and a verified email, then signs in with the username in any case', async () => {
      const app = await appWith(['username:password']);
      const { page, redeem } = await start(app.id, { prompt: 'create' });
      await page.getByLabel('Username').fill('Bob_the_Dog');
      await next(page);
      await page.getByLabel('Email').fill('bob@example.test');
      await page.getByLabel('Password').fill('a long walk in the park');
      const mail = smtp.nextMessageTo('bob@example.test');
      await next(page);
      await page.getByLabel('Code').fill(codeIn(await mail));
      await next(page);
      const claims = await redeem();
      assert.equal(claims.preferred_username, 'Bob_the_Dog', 'the chosen case is kept for display');
      assert.equal(claims.email, 'bob@example.test');
      assert.equal(claims.email_verified, true);

      const signIn = await start(app.id);
      await signIn.page.getByLabel('Username').fill('bob_the_dog');
      await next(signIn.page);
      assert.equal(await signIn.page.getByLabel('Password').getAttribute('autocomplete'), 'current-password');
      await signIn.page.getByLabel('Password').fill('a long walk in the park');
      await next(signIn.page, 'Sign in');
      assert.equal((await signIn.redeem()).sub, claims.sub);
    });

    it('signs in with a username and a code sent to its email', async () => {
      const app = await appWith(['username:otp'], { askForNames: true });
      const { page, redeem } = await start(app.id, { login_hint: 'username:carol-c', start_page: 'registration' });
      assert.equal(await page.getByLabel('Username').inputValue(), 'carol-c');
      await next(page);
      await page.getByLabel('First name').fill('Carol');
      await page.getByLabel('Last name').fill('Cole');
      await page.getByLabel('Email').fill('carol@example.test');
      const signUpMail = smtp.nextMessageTo('carol@example.test');
      await next(page);
      await page.getByLabel('Code').fill(codeIn(await signUpMail));
      await next(page);
      const claims = await redeem();
      assert.equal(claims.name, 'Carol Cole');

      const signIn = await start(app.id);
      await signIn.page.getByLabel('Username').fill('Carol-C');
      const mail = smtp.nextMessageTo('carol@example.test');
      await next(signIn.page);
      await signIn.page.getByRole('heading', { name: 'Check your email' }).waitFor();
      await signIn.page.getByLabel('Code').fill(codeIn(await mail));
      await next(signIn.page);
      assert.equal((await signIn.redeem()).sub, claims.sub);
    });

    it('says on the page when Twilio refuses the message, and audits it', async () => {
      const app = await appWith(['phone:otp']);
      const { page } = await start(app.id);
      await page.getByLabel('Mobile number').fill('+61 466 043 999');
      twilio.failNext(400, 21614);
      await next(page);
      await page.getByText('We could not send the text message just now').waitFor();
      const audited = await server.services.db.selectFrom('audit_events').select('type').where('type', '=', 'sms.send_failed').execute();
      assert.equal(audited.length, 1);
      await page.context().close();
    });

    it('explains a number it cannot use', async () => {
      const app = await appWith(['phone:otp']);
      const { page } = await start(app.id);
      await page.getByLabel('Mobile number').fill('12');
      await next(page);
      await page.getByRole('alert').waitFor();
      assert.match((await page.getByRole('alert').textContent()) ?? '', /number/i);
      await page.context().close();
    });

    it('offers one field for every method the application has on', async () => {
      const app = await appWith(['email:otp', 'phone:otp', 'username:password']);
      const { page } = await start(app.id);
      const field = page.getByLabel('Email, mobile number or username');
      assert.equal(await field.getAttribute('autocomplete'), 'username');
      await field.fill('not an email@');
      await next(page);
      await page.getByText('Enter a valid email address').waitFor();
      await page.context().close();
    });
  });
}
