import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { build } from 'esbuild';
import type { Browser } from 'playwright-core';
import { launchBrowser } from './support/browser.ts';
import { testDatabases } from './support/databases.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

/**
 * A single-page application built on Kinde's own `@kinde/js-utils`, bundled for the browser. On a
 * custom domain js-utils never sees the refresh token: it exchanges the code with credentials and
 * refreshes with only the `_kbrte` cookie.
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

async function bundleSpa(): Promise<string> {
  const result = await build({
    stdin: { contents: SPA_SOURCE, resolveDir: fileURLToPath(new URL('.', import.meta.url)), loader: 'js' },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'chrome120',
    write: false,
    logLevel: 'silent',
  });
  return result.outputFiles[0]!.text;
}

for (const database of testDatabases()) {
  describe(`browser application refresh through the _kbrte cookie with @kinde/js-utils (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let spaServer: Server;
    let spaOrigin: string;
    let clientId: string;
    let drop: () => Promise<void>;

    before(async () => {
      const [bundle, started, launched] = await Promise.all([bundleSpa(), new TestSmtp().start(), launchBrowser()]);
      smtp = started;
      browser = launched;
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      spaServer = createServer((req, res) => {
        if (req.url === '/app.js') {
          res.setHeader('content-type', 'text/javascript');
          return res.end(bundle);
        }
        res.setHeader('content-type', 'text/html');
        res.end(`<!doctype html><title>SPA</title><script>window.GATEHOUSE=${JSON.stringify({ domain: server.url, clientId })}</script><script type="module" src="/app.js"></script>`);
      });
      await new Promise<void>((resolve) => spaServer.listen(0, '127.0.0.1', resolve));
      // Same site as Gatehouse (localhost), as a browser app on a subdomain of the auth domain would be.
      spaOrigin = `http://localhost:${(spaServer.address() as AddressInfo).port}`;
      clientId = (await server.createApplication({ type: 'spa', redirectUrls: [`${spaOrigin}/callback`] })).id;
    });

    after(async () => {
      await browser?.close();
      await server?.close();
      await smtp?.stop();
      spaServer?.close();
      await drop?.();
    });

    it('exchanges the code with credentials, keeps the refresh token in an HttpOnly cookie, and refreshes with the cookie alone', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(`${spaOrigin}/`);
      await page.getByLabel('Email').fill('spa.user@example.test');
      const mail = smtp.nextMessageTo('spa.user@example.test');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();

      await page.waitForFunction(() => document.body?.dataset.exchange);
      const exchange = JSON.parse((await page.evaluate(() => document.body.dataset.exchange))!);
      assert.deepEqual(exchange, { success: true, error: null, gotRefreshToken: true, email: 'spa.user@example.test' });

      const cookies = await context.cookies(server.url);
      const refreshCookie = cookies.find((c) => c.name === '_kbrte');
      assert.ok(refreshCookie, 'the token endpoint set _kbrte');
      assert.equal(refreshCookie.httpOnly, true);
      assert.equal(await page.evaluate(() => document.cookie.includes('_kbrte')), false, 'JavaScript cannot read it');

      const refreshed = await page.evaluate(async () => {
        const result = await (window as unknown as { refreshWithCookie: () => Promise<{ success: boolean; accessToken?: string }> }).refreshWithCookie();
        return { success: result.success, hasAccessToken: Boolean(result.accessToken) };
      });
      assert.deepEqual(refreshed, { success: true, hasAccessToken: true });
      const rotated = (await context.cookies(server.url)).find((c) => c.name === '_kbrte');
      assert.ok(rotated && rotated.value !== refreshCookie.value, 'the cookie carries the rotated refresh token');

      await page.goto(`${server.url}/logout`);
      assert.equal((await context.cookies(server.url)).find((c) => c.name === '_kbrte'), undefined, '/logout clears _kbrte');
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
