import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Browser } from 'playwright-core';
import { clock } from '../src/clock.ts';
import { updateApplication } from '../src/domain/applications.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { addMember, createOrganization, organizationsOf, updateOrganizationSessionPolicy } from '../src/domain/organizations.ts';
import { createUser, findUserByIdentity } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

for (const database of testDatabases()) {
  describe(`SSO sessions (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let callback: string;
    let first: { id: string; secret?: string };
    let second: { id: string; secret?: string };

    browserSuite(database, async (suite) => {
      ({ server, smtp, browser } = suite);
      callback = suite.app.callback;
      first = await server.createApplication({ type: 'reg', name: 'First app', redirectUrls: [callback] });
      second = await server.createApplication({ type: 'reg', name: 'Second app', redirectUrls: [callback] });
    });

    const db = () => server.services.db;
    const authorizeUrl = (clientId: string, extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: callback, scope: 'openid email', state: 'sso', ...extra })}`;

    async function signInWithDriver(email: string, clientId = first.id, driver = new FormDriver(server.url)): Promise<FormDriver> {
      await driver.go(authorizeUrl(clientId));
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ identifier: email });
      const landed = await driver.submit({ code: codeIn(await mail) });
      assert.ok(landed?.searchParams.get('code'));
      return driver;
    }

    /** True when the authorization went straight to the application, without a sign-in page. */
    const silent = async (driver: FormDriver, clientId = first.id, extra: Record<string, string> = {}) => Boolean((await driver.go(authorizeUrl(clientId, extra)))?.searchParams.get('code'));

    async function signInInBrowser(email: string) {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl(first.id));
      await page.getByLabel('Email').fill(email);
      const mail = smtp.nextMessageTo(email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((url) => url.toString().startsWith(callback));
      return { context, page };
    }

    /** A browser restart: cookies without an expiry (browser-session cookies) are gone. */
    async function restart(context: Awaited<ReturnType<typeof signInInBrowser>>['context']) {
      const state = await context.storageState();
      await context.close();
      return browser.newContext({ storageState: { ...state, cookies: state.cookies.filter((cookie) => cookie.expires !== -1) } });
    }

    it('signs a second application in without pages while the session lives', async () => {
      const { context, page } = await signInInBrowser('two.apps@example.test');
      const seen: string[] = [];
      page.on('response', (response) => seen.push(new URL(response.url()).pathname));
      await page.goto(authorizeUrl(second.id));
      await page.waitForURL((url) => url.toString().startsWith(callback));
      assert.ok(!seen.some((path) => path.startsWith('/interaction/')), 'no sign-in page for the second application');
      await context.close();
    });

    it('keeps a persistent session across a browser restart, and loses a non-persistent one', async () => {
      const persistent = await signInInBrowser('persistent@example.test');
      const sessionCookie = (await persistent.context.cookies(server.url)).find((c) => c.name === '_session');
      assert.ok(sessionCookie && sessionCookie.expires > 0, 'a persistent cookie has an expiry');
      const afterRestart = await restart(persistent.context);
      const page = await afterRestart.newPage();
      await page.goto(authorizeUrl(first.id));
      await page.waitForURL((url) => url.toString().startsWith(callback));
      await afterRestart.close();

      await updateEnvironmentPolicy(db(), { sessions: { persistent: false } });
      try {
        const browserSession = await signInInBrowser('browser.session@example.test');
        const cookie = (await browserSession.context.cookies(server.url)).find((c) => c.name === '_session');
        assert.equal(cookie?.expires, -1, 'a non-persistent session is a browser-session cookie');
        const code = new URL(browserSession.page.url()).searchParams.get('code')!;
        const tokens = await fetch(`${server.url}/oauth2/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback, client_id: first.id, client_secret: first.secret! }),
        }).then((r) => r.json() as Promise<{ access_token: string }>);
        assert.deepEqual(decodeJwt(tokens.access_token).ksp, { persistent: false }, 'ksp.persistent mirrors the policy');
        const restarted = await restart(browserSession.context);
        const again = await restarted.newPage();
        await again.goto(authorizeUrl(first.id));
        await again.getByLabel('Email').waitFor();
        await restarted.close();
      } finally {
        await updateEnvironmentPolicy(db(), { sessions: { persistent: true } });
      }
    });

    it("lets an organization's own policy make its sessions non-persistent", async () => {
      const strict = await createOrganization(db(), { name: 'Strict org' });
      await updateOrganizationSessionPolicy(db(), strict.code, { useOrgPolicy: true, persistence: 'non_persistent' });
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'strict@example.test', isVerified: true }] });
      await addMember(db(), strict.code, user.id);
      const driver = new FormDriver(server.url);
      await driver.go(authorizeUrl(first.id, { org_code: strict.code }));
      const mail = smtp.nextMessageTo('strict@example.test');
      await driver.submit({ identifier: 'strict@example.test' });
      const landed = await driver.submit({ code: codeIn(await mail) });
      const tokens = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code: landed!.searchParams.get('code')!, redirect_uri: callback, client_id: first.id, client_secret: first.secret! }),
      }).then((r) => r.json() as Promise<{ access_token: string }>);
      assert.deepEqual(decodeJwt(tokens.access_token).ksp, { persistent: false });
    });

    it('writes a session again when it changes, and when only its expiry slides, once an hour', async () => {
      const driver = await signInWithDriver('sliding@example.test');
      const { id: userId } = (await findUserByIdentity(db(), 'email', 'sliding@example.test'))!;
      const stored = () =>
        db().selectFrom('oidc_models').select(['payload', 'expires_at']).where('model', '=', 'Session').where('account_id', '=', userId).executeTakeFirstOrThrow();
      const signedIn = await stored();
      try {
        assert.ok(await silent(driver));
        assert.deepEqual(await stored(), signedIn, 'a moment later, the same session slides by seconds: not written');
        assert.ok(await silent(driver, second.id));
        const withSecond = await stored();
        assert.ok(JSON.parse(withSecond.payload).authorizations[second.id], 'the authorization of another application is written at once');
        clock.advance(61 * 60 * 1000);
        assert.ok(await silent(driver, second.id));
        assert.ok((await stored()).expires_at! >= withSecond.expires_at! + 60 * 60 * 1000, 'an hour on, its expiry slides');
      } finally {
        clock.reset();
      }
    });

    it('asks for sign-in again after the inactivity timeout', async () => {
      await updateEnvironmentPolicy(db(), { sessions: { inactivityTimeoutSeconds: 3600 } });
      try {
        const driver = await signInWithDriver('idle@example.test');
        clock.advance(30 * 60 * 1000);
        assert.ok(await silent(driver), 'half an hour idle is fine');
        clock.advance(61 * 60 * 1000);
        assert.equal(await silent(driver, first.id, { prompt: 'none' }), false);
        const refused = await driver.go(authorizeUrl(first.id, { prompt: 'none' }));
        assert.equal(refused?.searchParams.get('error'), 'login_required');
        assert.equal(await driver.go(authorizeUrl(first.id)), undefined, 'the sign-in page is shown');
      } finally {
        clock.reset();
        await updateEnvironmentPolicy(db(), { sessions: { inactivityTimeoutSeconds: null } });
      }
    });

    it('stops signing a suspended or deleted person in through their session, and a reinstated one again', async () => {
      const driver = await signInWithDriver('standing@example.test');
      const { id } = (await findUserByIdentity(db(), 'email', 'standing@example.test'))!;
      assert.ok(await silent(driver, second.id), 'the session signs them in to another application');
      assert.equal((await server.api('PATCH', `/user?id=${id}`, { is_suspended: true })).status, 200);
      const refused = await driver.go(authorizeUrl(second.id, { prompt: 'none' }));
      assert.equal(refused?.searchParams.get('error'), 'login_required', 'suspended: no code from the session');
      assert.equal(await driver.go(authorizeUrl(second.id)), undefined, 'suspended: the sign-in page is shown');
      assert.equal((await server.api('PATCH', `/user?id=${id}`, { is_suspended: false })).status, 200);
      assert.ok(await silent(driver, second.id), 'reinstated: the session works again');
      assert.equal((await server.api('DELETE', `/user?id=${id}`)).status, 200);
      const gone = await driver.go(authorizeUrl(first.id, { prompt: 'none' }));
      assert.equal(gone?.searchParams.get('error'), 'login_required', 'deleted: no code from the session');
    });

    it("honours each application's authenticated-session lifetime", async () => {
      await updateApplication(db(), second.id, { authenticatedSessionLifetime: 600 });
      try {
        const driver = await signInWithDriver('lifetime@example.test');
        clock.advance(15 * 60 * 1000);
        assert.equal(await silent(driver, second.id), false, 'the second application wants a sign-in newer than 10 minutes');
        assert.ok(await silent(driver, first.id), 'the first still accepts the session');
      } finally {
        clock.reset();
        await updateApplication(db(), second.id, { authenticatedSessionLifetime: 2_592_000 });
      }
    });

    it('lists and ends a person’s sessions through the management API, and /logout?all_sessions=true ends them everywhere', async () => {
      const laptop = await signInWithDriver('many@example.test');
      const phone = await signInWithDriver('many@example.test');
      const user = (await findUserByIdentity(db(), 'email', 'many@example.test'))!;
      const listed = await server.api<{ sessions: Array<{ user_id: string; session_id: string; started_on: string; client_id: string | null; org_code: string | null }> }>(
        'GET',
        `/users/${user.id}/sessions`,
      );
      assert.equal(listed.status, 200);
      assert.equal(listed.body.sessions.length, 2);
      assert.ok(listed.body.sessions.every((s) => s.user_id === user.id && s.started_on));
      const [organization] = await organizationsOf(db(), user.id);
      assert.deepEqual(
        listed.body.sessions.map((s) => [s.client_id, s.org_code]),
        [
          [first.id, organization!.code],
          [first.id, organization!.code],
        ],
      );

      assert.equal((await server.api('DELETE', `/users/${user.id}/sessions`)).status, 200);
      assert.equal(await silent(laptop), false);
      assert.equal(await silent(phone), false);

      const desk = await signInWithDriver('many@example.test');
      const tablet = await signInWithDriver('many@example.test');
      await desk.go(`/logout?all_sessions=true`);
      assert.equal(await silent(tablet), false, 'signing out of all sessions ends the other browser’s too');
    });
  });
}
