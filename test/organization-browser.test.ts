import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeJwt, type JWTPayload } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { clock } from '../src/clock.ts';
import { updateApplication } from '../src/domain/applications.ts';
import { listConnections } from '../src/domain/connections.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { addMember, createOrganization, findOrganization, isMember, organizationsOf, setOrganizationConnection } from '../src/domain/organizations.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import type { TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

/**
 * Organization sign-in in Chromium, as a person sees it (issue 4): the organization switcher, an
 * organization's own sign-in methods, allowed-domain auto-join and the refusal page, creating an
 * organization at sign-up, and the inactivity timeout on a controllable clock.
 */
for (const database of testDatabases()) {
  describe(`organization sign-in in Chromium (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let callback: string;
    let homepage: string;

    browserSuite(database, (suite) => {
      ({ server, smtp, browser } = suite);
      ({ callback, homepage } = suite.app);
    });

    const db = () => server.services.db;

    type App = { id: string; secret?: string; name: string };

    /** A regular (server-side) application whose only sign-in method is email + code. */
    async function newApp(name: string): Promise<App> {
      const app = await server.createApplication({ type: 'reg', name, redirectUrls: [callback] });
      await server.useSignInMethods(app.id, ['email:otp']);
      return { ...app, name };
    }

    const authorizeUrl = (app: App, extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: callback, scope: 'openid profile email offline', state: 'org-browser', ...extra })}`;

    /** A fresh browser (its own cookies) on the authorization URL. */
    async function open(app: App, extra: Record<string, string> = {}): Promise<{ context: BrowserContext; page: Page }> {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl(app, extra));
      return { context, page };
    }

    const next = (page: Page, name = 'Continue') => page.getByRole('button', { name }).click();

    /** Types the email, then the code that arrives by email. */
    async function emailAndCode(page: Page, email: string): Promise<void> {
      await page.getByLabel('Email').fill(email);
      const mail = smtp.nextMessageTo(email);
      await next(page);
      await page.getByLabel('Code').fill(codeIn(await mail));
      await next(page);
    }

    const atCallback = (page: Page) => page.waitForURL((url) => url.toString().startsWith(callback));

    /** Waits for the application's callback, then redeems its code as the application's back end. */
    async function accessTokenAt(page: Page, app: App): Promise<JWTPayload> {
      await atCallback(page);
      const landed = new URL(page.url());
      assert.equal(landed.searchParams.get('state'), 'org-browser');
      const code = landed.searchParams.get('code');
      assert.ok(code, `expected a code at ${landed}`);
      const response = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: callback, client_id: app.id, client_secret: app.secret! }),
      });
      const tokens = (await response.json()) as { access_token?: string };
      assert.equal(response.status, 200, JSON.stringify(tokens));
      return decodeJwt(tokens.access_token!);
    }

    async function member(email: string, ...orgCodes: string[]) {
      const user = await createUser(db(), { firstName: 'Member', identities: [{ type: 'email', value: email, isVerified: true }] });
      for (const code of orgCodes) await addMember(db(), code, user.id);
      return user;
    }

    it('lets a member of two organizations choose one, and signs them in to it', async () => {
      const app = await newApp('Switcher app');
      const first = await createOrganization(db(), { name: 'First Co' });
      const second = await createOrganization(db(), { name: 'Second Co' });
      await member('two.orgs.browser@example.test', first.code, second.code);

      const { context, page } = await open(app);
      try {
        await emailAndCode(page, 'two.orgs.browser@example.test');
        await page.getByRole('heading', { name: 'Choose an organization' }).waitFor();
        assert.ok(await page.getByRole('button', { name: 'First Co' }).isVisible());
        assert.ok(await page.getByRole('button', { name: 'Second Co' }).isVisible());
        assert.ok(!page.url().startsWith(callback), 'the application waits for the choice');
        await page.getByRole('button', { name: 'Second Co' }).click();
        const access = await accessTokenAt(page, app);
        assert.equal(access.org_code, second.code);
      } finally {
        await context.close();
      }
    });

    it("asks for a password when org_code names an organization with its own email + password method", async () => {
      const app = await newApp('Org methods app');
      const secure = await createOrganization(db(), { name: 'Secure Ltd' });
      const emailPassword = (await listConnections(db())).find((c) => c.strategy === 'email:password');
      assert.ok(emailPassword, 'the environment has an email + password connection');
      await setOrganizationConnection(db(), secure.code, emailPassword.id, true);
      const user = await member('secure.browser@example.test', secure.code);
      await setPassword(db(), user.id, 'secure org password');

      // Without org_code the application's own method applies: a code by email.
      const plain = await open(app);
      try {
        await plain.page.getByLabel('Email').fill('secure.browser@example.test');
        await next(plain.page);
        await plain.page.getByLabel('Code').waitFor();
        assert.equal(await plain.page.getByLabel('Password').count(), 0);
      } finally {
        await plain.context.close();
      }

      const { context, page } = await open(app, { org_code: secure.code });
      try {
        const sentBefore = smtp.messages.length;
        await page.getByLabel('Email').fill('secure.browser@example.test');
        await next(page);
        await page.getByRole('heading', { name: 'Enter your password' }).waitFor();
        const password = page.getByLabel('Password');
        assert.equal(await password.getAttribute('type'), 'password');
        assert.equal(await password.getAttribute('autocomplete'), 'current-password');
        assert.equal(smtp.messages.length, sentBefore, 'no code is emailed: the organization replaced email + code');
        await password.fill('secure org password');
        await next(page, 'Sign in');
        const access = await accessTokenAt(page, app);
        assert.equal(access.org_code, secure.code);
        assert.equal(access.sub, user.id);
      } finally {
        await context.close();
      }
    });

    it('adds a new person from an allowed domain automatically, and shows a refusal page to others', async () => {
      const app = await newApp('Partner portal');
      await updateApplication(db(), app.id, { homepageUri: homepage });
      const partner = await createOrganization(db(), { name: 'Partner', allowedDomains: ['partner.example'], autoJoinFromAllowedDomains: true });

      const joining = await open(app, { org_code: partner.code });
      try {
        await emailAndCode(joining.page, 'new.hire.browser@partner.example');
        const access = await accessTokenAt(joining.page, app);
        assert.equal(access.org_code, partner.code);
        assert.ok(await isMember(db(), partner.code, access.sub!), 'the new person joined the organization');
      } finally {
        await joining.context.close();
      }

      const outsider = await member('outsider.browser@elsewhere.example');
      const { context, page } = await open(app, { org_code: partner.code });
      try {
        await page.getByLabel('Email').fill('outsider.browser@elsewhere.example');
        const mail = smtp.nextMessageTo('outsider.browser@elsewhere.example');
        await next(page);
        await page.getByLabel('Code').fill(codeIn(await mail));
        const answer = page.waitForResponse((response) => response.request().method() === 'POST' && new URL(response.url()).pathname.endsWith('/code'));
        await next(page);
        assert.equal((await answer).status(), 403);
        await page.getByRole('heading', { name: "We can't find your account" }).waitFor();
        assert.ok(!page.url().startsWith(callback), 'the application receives nothing');
        assert.equal(await isMember(db(), partner.code, outsider.id), false);
        const back = page.getByRole('link', { name: 'Return to Partner portal' });
        assert.equal(await back.getAttribute('href'), homepage);
        await back.click();
        await page.waitForURL(homepage);
        await page.getByRole('heading', { name: 'Welcome to the app' }).waitFor();
      } finally {
        await context.close();
      }
    });

    it('creates an organization at sign-up with is_create_org and org_name', async () => {
      const app = await newApp('Founders app');
      const existing = await createOrganization(db(), { name: 'Acme' });
      const { context, page } = await open(app, { is_create_org: 'true', org_name: 'Acme', prompt: 'create' });
      try {
        await page.getByRole('heading', { name: 'Create your account' }).waitFor();
        await emailAndCode(page, 'founder.browser@example.test');
        const access = await accessTokenAt(page, app);
        assert.equal(typeof access.org_code, 'string');
        assert.notEqual(access.org_code, existing.code, 'a new organization, not the Acme that already existed');
        const created = await findOrganization(db(), access.org_code as string);
        assert.equal(created?.name, 'Acme');
        assert.deepEqual(await organizationsOf(db(), access.sub!), [{ code: created.code, name: 'Acme' }], 'the person is its (only) member of record');
      } finally {
        await context.close();
      }
    });

    it('asks for sign-in again after the inactivity timeout, and not before', async () => {
      const app = await newApp('Idle app');
      await updateEnvironmentPolicy(db(), { sessions: { inactivityTimeoutSeconds: 3600 } });
      const { context, page } = await open(app);
      try {
        await emailAndCode(page, 'idle.browser@example.test');
        await atCallback(page);

        const seen: string[] = [];
        page.on('response', (response) => seen.push(new URL(response.url()).pathname));
        clock.advance(30 * 60 * 1000);
        await page.goto(authorizeUrl(app));
        await atCallback(page);
        assert.ok(!seen.some((path) => path.startsWith('/interaction/')), 'half an hour idle: straight back to the application');

        clock.advance(61 * 60 * 1000);
        await page.goto(authorizeUrl(app));
        await page.getByLabel('Email').waitFor();
        assert.ok(new URL(page.url()).pathname.startsWith('/interaction/'), `the sign-in page, not ${page.url()}`);
        await page.getByRole('heading', { name: 'Sign in' }).waitFor();
      } finally {
        await context.close();
        clock.reset();
        await updateEnvironmentPolicy(db(), { sessions: { inactivityTimeoutSeconds: null } });
      }
    });
  });
}
