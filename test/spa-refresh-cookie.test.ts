import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchBrowser } from './support/browser.ts';
import { type BrowserAppServer, bundleBrowserApp, serveBrowserApp } from './support/browser-app.ts';
import { testDatabases } from './support/databases.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

/**
 * A single-page application built on Kinde's own `@kinde/js-utils`, bundled for the browser. On a
 * custom domain js-utils exchanges the code with credentials and refreshes with only the HttpOnly
 * refresh cookie, once the readable `_kbrte` marker tells it one exists.
 */
const SPA_SOURCE = `
import { setActiveStorage, LocalStorage, generateAuthUrl, exchangeAuthCode, refreshToken, getUserProfile,
  frameworkSettings, IssuerRouteTypes, RefreshType } from '@kinde/js-utils';
const { domain, clientId } = window.GATEHOUSE;
frameworkSettings.framework = 'gatehouse-test';
frameworkSettings.frameworkVersion = '1.0.0';
setActiveStorage(new LocalStorage());
const redirectURL = location.origin + '/callback';
if (location.pathname === '/') {
  const { url } = await generateAuthUrl(domain, IssuerRouteTypes.login, { clientId, redirectURL, scope: ['openid', 'profile', 'email', 'offline'], audience: '' });
  location.href = url.toString();
} else {
  const exchange = await exchangeAuthCode({ urlParams: new URLSearchParams(location.search), domain, clientId, redirectURL, autoRefresh: false });
  const profile = exchange.success ? await getUserProfile() : null;
  window.refreshWithCookie = () => refreshToken({ domain, clientId, refreshType: RefreshType.cookie });
  document.body.dataset.exchange = JSON.stringify({ success: exchange.success, error: exchange.error ?? null, gotRefreshToken: Boolean(exchange.refreshToken), email: profile?.email ?? null });
}
`;

for (const database of testDatabases()) {
  describe(`browser application refresh through the _kbrte cookie with @kinde/js-utils (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let spaServer: BrowserAppServer;
    let spaOrigin: string;
    let clientId: string;
    let drop: () => Promise<void>;

    before(async () => {
      const [bundle, started, launched] = await Promise.all([bundleBrowserApp(SPA_SOURCE), new TestSmtp().start(), launchBrowser()]);
      smtp = started;
      browser = launched;
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      spaServer = await serveBrowserApp(bundle, () => ({ domain: server.url, clientId }));
      // Same host as Gatehouse (localhost, another port): cookies ignore ports, so the application
      // reads Gatehouse's host-only `_kbrte` marker, as one on a sibling subdomain would with
      // GATEHOUSE_COOKIE_DOMAIN (test/react-sdk.test.ts).
      spaOrigin = `http://localhost:${spaServer.port}`;
      clientId = (await server.createApplication({ type: 'spa', redirectUrls: [`${spaOrigin}/callback`] })).id;
    });

    after(async () => {
      await browser?.close();
      await server?.close();
      await smtp?.stop();
      spaServer?.close();
      await drop?.();
    });

    /** Signs in through the application and waits for its code exchange; returns what the application saw. */
    async function signIn(page: Page, email: string): Promise<unknown> {
      await page.goto(`${spaOrigin}/`);
      await page.getByLabel('Email').fill(email);
      const mail = smtp.nextMessageTo(email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForFunction(() => document.body?.dataset.exchange);
      return JSON.parse((await page.evaluate(() => document.body.dataset.exchange))!);
    }

    const refreshCookieIn = async (context: BrowserContext) =>
      (await context.cookies(`${server.url}/oauth2/token`)).find((c) => c.name === '_gatehouse_refresh');

    const refreshWithCookie = (page: Page) =>
      page.evaluate(async () => {
        const result = await (window as unknown as { refreshWithCookie: () => Promise<{ success: boolean; accessToken?: string }> }).refreshWithCookie();
        return { success: result.success, hasAccessToken: Boolean(result.accessToken) };
      });

    it('exchanges the code with credentials, keeps the refresh token in an HttpOnly cookie behind a readable _kbrte marker, and refreshes with the cookie alone', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const exchange = await signIn(page, 'spa.user@example.test');
      assert.deepEqual(exchange, { success: true, error: null, gotRefreshToken: true, email: 'spa.user@example.test' });

      const refreshCookieNow = () => refreshCookieIn(context);
      const refreshCookie = await refreshCookieNow();
      assert.ok(refreshCookie, 'the token endpoint set the refresh cookie');
      assert.equal(refreshCookie.httpOnly, true);
      const readable = await page.evaluate(() => document.cookie);
      assert.doesNotMatch(readable, /_gatehouse_refresh/, 'JavaScript cannot read the refresh token');
      // js-utils' checkAuth refreshes after a reload only when it finds `_kbrte` in document.cookie.
      assert.match(readable, /(^|; )_kbrte=1(;|$)/, 'JavaScript sees the marker, which carries no secret');

      assert.deepEqual(await refreshWithCookie(page), { success: true, hasAccessToken: true });
      const rotated = await refreshCookieNow();
      assert.ok(rotated && rotated.value !== refreshCookie.value, 'the cookie carries the rotated refresh token');

      await page.goto(`${server.url}/logout`);
      const left = (await context.cookies()).map((c) => c.name);
      assert.ok(!left.includes('_gatehouse_refresh') && !left.includes('_kbrte'), `/logout clears both cookies (left: ${left.join(', ')})`);
      await context.close();
    });

    it('refreshes from the cookie only for a registered application origin, so a forged cross-site post cannot rotate it', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await signIn(page, 'forged.user@example.test');
      const cookie = await refreshCookieIn(context);
      assert.ok(cookie);
      // A form on another site posts to the token endpoint; the browser attaches the cookie
      // (SameSite=None over https) and sends that site's Origin (RFC 6454 §7). The engine refuses
      // origins no browser application registered (clientBasedCORS, protocol/provider.ts) before it
      // touches the token: a rotation the application did not ask for would look like reuse later.
      const forged = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        headers: { origin: 'https://attacker.example', cookie: `_gatehouse_refresh=${cookie.value}` },
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: clientId }),
      });
      assert.equal(forged.status, 400);
      assert.match(((await forged.json()) as { error_description: string }).error_description, /origin https:\/\/attacker\.example not allowed/);
      assert.equal(forged.headers.get('set-cookie'), null);
      assert.deepEqual(await refreshWithCookie(page), { success: true, hasAccessToken: true }, 'the token in the cookie was not rotated away');
      await context.close();
    });

    it('answers CORS only for the exact registered origin, with credentials and the Kinde-SDK header allowed', async () => {
      const preflight = (origin: string) =>
        fetch(`${server.url}/oauth2/token`, {
          method: 'OPTIONS',
          headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,kinde-sdk' },
        });
      const allowed = await preflight(spaOrigin);
      assert.equal(allowed.status, 204);
      assert.equal(allowed.headers.get('access-control-allow-origin'), spaOrigin);
      assert.equal(allowed.headers.get('access-control-allow-credentials'), 'true');
      assert.match(allowed.headers.get('access-control-allow-headers') ?? '', /Kinde-SDK/i);

      const foreign = await preflight('http://localhost:1');
      assert.notEqual(foreign.headers.get('access-control-allow-origin'), 'http://localhost:1');
      assert.equal(foreign.headers.get('access-control-allow-credentials'), null);
    });
  });
}
