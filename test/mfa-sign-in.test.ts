import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import * as OTPAuth from 'otpauth';
import type { Browser, Page } from 'playwright-core';
import { clock } from '../src/clock.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { addMember, createOrganization, updateOrganizationMfaPolicy } from '../src/domain/organizations.ts';
import { createRole } from '../src/domain/roles.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const totpFor = (secret: string, at = clock.now()) =>
  new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: at });

for (const database of testDatabases()) {
  describe(`two-step verification at sign-in (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let callback: string;
    let app: { id: string; secret?: string };

    browserSuite(database, async (suite) => {
      ({ server, smtp, browser } = suite);
      callback = suite.app.callback;
      app = await server.createApplication({ type: 'reg', redirectUrls: [callback] });
    });

    const db = () => server.services.db;
    const authorizeUrl = (extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: callback, scope: 'openid email', state: 'mfa', ...extra })}`;

    async function withPolicy(mfa: { mode: 'off' | 'optional' | 'required'; factors?: Array<'totp' | 'email' | 'sms'> }, run: () => Promise<void>) {
      await updateEnvironmentPolicy(db(), { mfa: { mode: mfa.mode, factors: mfa.factors ?? ['totp', 'email', 'sms'] } });
      try {
        await run();
      } finally {
        clock.reset();
        await updateEnvironmentPolicy(db(), { mfa: { mode: 'off' } });
      }
    }

    /** The first factor in Chromium: email and the emailed code. */
    async function firstFactor(email: string): Promise<Page> {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl());
      await page.getByLabel('Email').fill(email);
      const mail = smtp.nextMessageTo(email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      return page;
    }

    async function idTokenAt(page: Page) {
      await page.waitForURL((url) => url.toString().startsWith(callback));
      const code = new URL(page.url()).searchParams.get('code')!;
      const tokens = (await (
        await fetch(`${server.url}/oauth2/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback, client_id: app.id, client_secret: app.secret! }),
        })
      ).json()) as { id_token: string };
      await page.context().close();
      return decodeJwt(tokens.id_token);
    }

    it('enrols an authenticator app, then signs in with its codes and once with each recovery code', async () => {
      await withPolicy({ mode: 'required', factors: ['totp'] }, async () => {
        const enrol = await firstFactor('totp.user@example.test');
        await enrol.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
        assert.equal(await enrol.getByRole('button', { name: 'Skip for now' }).count(), 0, 'required: no skipping');
        await enrol.getByRole('button', { name: 'Authenticator app' }).click();
        assert.match((await enrol.getByRole('img').getAttribute('src')) ?? '', /^data:image\/png;base64,/);
        const secret = (await enrol.locator('#totp-secret').textContent())!.trim();
        await enrol.getByLabel('Code from the app').fill('000000' === totpFor(secret) ? '111111' : '000000');
        await enrol.getByRole('button', { name: 'Verify' }).click();
        await enrol.getByText('That code is not right').waitFor();
        assert.equal((await enrol.locator('#totp-secret').textContent())?.trim(), secret, 'the same key is shown again');
        const flows = await server.services.db.selectFrom('oidc_models').select('flow_state').where('model', '=', 'Interaction').where('flow_state', 'is not', null).execute();
        assert.ok(flows.length > 0 && flows.every((flow) => !flow.flow_state!.includes(secret)), 'the key is kept sealed on the factor only, not in the flow');
        await enrol.getByLabel('Code from the app').fill(totpFor(secret));
        await enrol.getByRole('button', { name: 'Verify' }).click();
        await enrol.getByRole('heading', { name: 'Save your recovery codes' }).waitFor();
        const recoveryCodes = (await enrol.locator('#recovery-codes code').allTextContents()).map((c) => c.trim());
        assert.equal(recoveryCodes.length, 10);
        await enrol.getByRole('button', { name: 'I have saved them' }).click();
        const first = await idTokenAt(enrol);
        assert.ok((first.amr as string[]).includes('mfa'), 'the ID token says a second step was done');

        clock.advance(60_000);
        const again = await firstFactor('totp.user@example.test');
        await again.getByRole('heading', { name: 'Two-step verification' }).waitFor();
        await again.getByLabel('Code').fill(totpFor(secret));
        await again.getByRole('button', { name: 'Verify' }).click();
        assert.equal((await idTokenAt(again)).sub, first.sub);

        const withRecovery = await firstFactor('totp.user@example.test');
        await withRecovery.getByRole('button', { name: 'Use a recovery code' }).click();
        await withRecovery.getByLabel('Recovery code').fill(recoveryCodes[0]!);
        await withRecovery.getByRole('button', { name: 'Verify' }).click();
        assert.equal((await idTokenAt(withRecovery)).sub, first.sub);

        const reused = await firstFactor('totp.user@example.test');
        await reused.getByRole('button', { name: 'Use a recovery code' }).click();
        await reused.getByLabel('Recovery code').fill(recoveryCodes[0]!);
        await reused.getByRole('button', { name: 'Verify' }).click();
        await reused.getByText('That code is not right').waitFor();
        await reused.context().close();
      });
    });

    it('lets a person who passed two-step verification create new recovery codes, and the old ones stop working', async () => {
      await withPolicy({ mode: 'required', factors: ['totp'] }, async () => {
        const page = await firstFactor('regenerate@example.test');
        await page.getByRole('button', { name: 'Authenticator app' }).click();
        const secret = (await page.locator('#totp-secret').textContent())!.trim();
        await page.getByLabel('Code from the app').fill(totpFor(secret));
        await page.getByRole('button', { name: 'Verify' }).click();
        const oldCodes = (await page.locator('#recovery-codes code').allTextContents()).map((c) => c.trim());
        await page.getByRole('button', { name: 'I have saved them' }).click();
        await page.waitForURL((url) => url.toString().startsWith(callback));

        await page.goto(`${server.url}/account/recovery-codes`);
        await page.getByRole('button', { name: 'Create new recovery codes' }).click();
        const newCodes = (await page.locator('#recovery-codes code').allTextContents()).map((c) => c.trim());
        assert.equal(newCodes.length, 10);
        assert.ok(newCodes.every((code) => !oldCodes.includes(code)));
        await page.context().close();

        const stranger = await browser.newContext();
        const refused = await stranger.newPage();
        assert.equal((await refused.goto(`${server.url}/account/recovery-codes`))?.status(), 403, 'only a session that passed two-step verification');
        await stranger.close();

        for (const [code, works] of [[oldCodes[0]!, false], [newCodes[0]!, true]] as const) {
          const attempt = await firstFactor('regenerate@example.test');
          await attempt.getByRole('button', { name: 'Use a recovery code' }).click();
          await attempt.getByLabel('Recovery code').fill(code);
          await attempt.getByRole('button', { name: 'Verify' }).click();
          if (works) await idTokenAt(attempt);
          else {
            await attempt.getByText('That code is not right').waitFor();
            await attempt.context().close();
          }
        }
      });
    });

    it('enrols an email factor with a code from the test mailbox, after a password sign-in', async () => {
      const passwordApp = await server.createApplication({ type: 'reg', redirectUrls: [callback] });
      await server.useSignInMethods(passwordApp.id, ['email:password']);
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'email.factor@example.test', isVerified: true }] });
      await setPassword(db(), user.id, 'password for the factor test');
      await withPolicy({ mode: 'required', factors: ['email', 'totp'] }, async () => {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(authorizeUrl().replace(`client_id=${app.id}`, `client_id=${passwordApp.id}`));
        await page.getByLabel('Email').fill('email.factor@example.test');
        await page.getByRole('button', { name: 'Continue' }).click();
        await page.getByLabel('Password').fill('password for the factor test');
        await page.getByRole('button', { name: 'Sign in' }).click();
        const mail = smtp.nextMessageTo('email.factor@example.test');
        await page.getByRole('button', { name: 'Email code' }).click();
        await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
        await page.getByLabel('Code').fill(codeIn(await mail));
        await page.getByRole('button', { name: 'Verify' }).click();
        await page.getByRole('button', { name: 'I have saved them' }).click();
        await page.waitForURL((url) => url.toString().startsWith(callback));
        await context.close();
      });
    });

    it('does not offer the email factor after an email-code sign-in (section 052)', async () => {
      await withPolicy({ mode: 'required', factors: ['email', 'totp'] }, async () => {
        const page = await firstFactor('no.email.factor@example.test');
        await page.getByRole('heading', { name: 'Set up two-step verification' }).waitFor();
        assert.equal(await page.getByRole('button', { name: 'Email code' }).count(), 0);
        assert.equal(await page.getByRole('button', { name: 'Authenticator app' }).count(), 1);
        await page.context().close();
      });
    });

    it('offers enrolment when MFA is optional, and lets people skip it', async () => {
      await withPolicy({ mode: 'optional' }, async () => {
        const page = await firstFactor('optional@example.test');
        await page.getByRole('button', { name: 'Skip for now' }).click();
        assert.ok(!((await idTokenAt(page)).amr as string[]).includes('mfa'));
      });
    });

    it('locks after five wrong authenticator codes', async () => {
      await withPolicy({ mode: 'required', factors: ['totp'] }, async () => {
        const enrol = await firstFactor('brute@example.test');
        await enrol.getByRole('button', { name: 'Authenticator app' }).click();
        const secret = (await enrol.locator('#totp-secret').textContent())!.trim();
        await enrol.getByLabel('Code from the app').fill(totpFor(secret));
        await enrol.getByRole('button', { name: 'Verify' }).click();
        await enrol.getByRole('button', { name: 'I have saved them' }).click();
        await idTokenAt(enrol);

        const guess = await firstFactor('brute@example.test');
        const right = totpFor(secret);
        const wrong = right === '123456' ? '654321' : '123456';
        for (let attempt = 0; attempt < 5; attempt++) {
          await guess.getByLabel('Code').fill(wrong);
          await guess.getByRole('button', { name: 'Verify' }).click();
          await guess.getByRole('alert').waitFor();
        }
        await guess.getByLabel('Code').fill(right);
        await guess.getByRole('button', { name: 'Verify' }).click();
        await guess.getByText(/locked until/).waitFor();
        await guess.context().close();
      });
    });

    it('enforces MFA for an organization, exempting people whose roles are all exempt but not a mixed-role person', async () => {
      const org = await createOrganization(db(), { name: 'Strict MFA org' });
      const support = await createRole(db(), { key: 'support-bot', name: 'Support bot' });
      const staff = await createRole(db(), { key: 'staff', name: 'Staff' });
      await updateOrganizationMfaPolicy(db(), org.code, { enforced: true, factors: ['totp'], exemptRoleKeys: [support.key] });
      const exempt = await createUser(db(), { identities: [{ type: 'email', value: 'exempt@example.test', isVerified: true }] });
      const mixed = await createUser(db(), { identities: [{ type: 'email', value: 'mixed@example.test', isVerified: true }] });
      await addMember(db(), org.code, exempt.id, { roleKeys: [support.key] });
      await addMember(db(), org.code, mixed.id, { roleKeys: [support.key, staff.key] });

      const signIn = async (email: string) => {
        const driver = new FormDriver(server.url);
        await driver.go(authorizeUrl({ org_code: org.code }).replace(server.url, ''));
        const mail = smtp.nextMessageTo(email);
        await driver.submit({ identifier: email });
        return { driver, landed: await driver.submit({ code: codeIn(await mail) }) };
      };
      assert.ok((await signIn('exempt@example.test')).landed?.searchParams.get('code'), 'all roles exempt: no second step');
      const mixedResult = await signIn('mixed@example.test');
      assert.equal(mixedResult.landed, undefined);
      assert.match(mixedResult.driver.lastPage, /Set up two-step verification/);
    });
  });
}
