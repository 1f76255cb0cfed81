import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import type { Page, Request } from 'playwright-core';
import { endSessionsOf } from '../src/protocol/adapter.ts';
import { type BrowserAppServer, bundleBrowserApp, serveBrowserApp } from './support/browser-app.ts';
import { type BrowserSuite, browserSuite } from './support/browser-suite.ts';
import { testDatabases } from './support/databases.ts';
import { codeIn } from './support/smtp.ts';
import { selfSignedCertificate } from './support/tls.ts';

/**
 * A React application on `@kinde-oss/kinde-auth-react`, unchanged, as a team would build it. The SDK
 * keeps tokens in memory only, so after a reload it is signed in only if js-utils' `checkAuth` finds
 * the `_kbrte` cookie in `document.cookie` and refreshes with the HttpOnly refresh cookie alone.
 */
const REACT_APP_SOURCE = `
import { createElement as h, useEffect, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { KindeProvider, useKindeAuth } from '@kinde-oss/kinde-auth-react';

const { domain, clientId, redirectUri, logoutUri } = window.GATEHOUSE;

function Session() {
  const { isLoading, isAuthenticated, user, login, logout, getAccessToken } = useKindeAuth();
  const [accessToken, setAccessToken] = useState('');
  useEffect(() => {
    if (isAuthenticated) getAccessToken().then((token) => setAccessToken(token ?? ''));
  }, [isAuthenticated, getAccessToken]);
  const state = isLoading ? 'loading' : isAuthenticated ? 'signed-in' : 'signed-out';
  const content =
    state === 'signed-in'
      ? [
          h('p', { key: 'who' }, 'Signed in as ' + (user?.email ?? '')),
          h('code', { key: 'token', 'data-testid': 'access-token' }, accessToken),
          h('button', { key: 'out', onClick: () => logout() }, 'Sign out'),
        ]
      : state === 'signed-out'
        ? h('button', { onClick: () => login() }, 'Sign in')
        : h('p', null, 'Loading');
  return h('main', { 'data-state': state }, content);
}

createRoot(document.getElementById('root')).render(h(KindeProvider, { domain, clientId, redirectUri, logoutUri }, h(Session)));
`;

/** The site the test deploys on: Gatehouse at auth.<site>, the application at app.<site>. */
const SITE = 'gatehouse.test';

/**
 * Production runs on https; development on plain http, where browsers drop `SameSite=None` cookies,
 * so the refresh cookie is `Lax` there (enough for an application on the same site).
 */
const TRANSPORTS = [
  { scheme: 'http', certificate: undefined, secure: false, refreshSameSite: 'Lax' },
  { scheme: 'https', certificate: selfSignedCertificate([`*.${SITE}`]), secure: true, refreshSameSite: 'None' },
] as const;

const isTokenRequest = (request: Request) => request.method() === 'POST' && new URL(request.url()).pathname === '/oauth2/token';

/** Waits for the SDK to finish starting (its `checkAuth` and any code exchange) and says what it concluded. */
async function settledState(page: Page): Promise<string | null> {
  const main = page.locator('main[data-state="signed-in"], main[data-state="signed-out"]');
  await main.waitFor();
  return main.getAttribute('data-state');
}

/** Reloads the page and waits for the SDK to settle; returns the token requests it made meanwhile. */
async function reloadAndSettle(page: Page): Promise<{ state: string | null; tokenRequests: Request[] }> {
  const tokenRequests: Request[] = [];
  const record = (request: Request) => {
    if (isTokenRequest(request)) tokenRequests.push(request);
  };
  page.on('request', record);
  try {
    await page.reload();
    return { state: await settledState(page), tokenRequests };
  } finally {
    page.off('request', record);
  }
}

async function shownAccessToken(page: Page): Promise<string> {
  await page.waitForFunction(() => document.querySelector('[data-testid="access-token"]')?.textContent);
  return (await page.getByTestId('access-token').textContent())!;
}

for (const [database, transport] of testDatabases().flatMap((database) => TRANSPORTS.map((transport) => [database, transport] as const))) {
  describe(`@kinde-oss/kinde-auth-react keeps a session across reloads (${transport.scheme}, ${database.name})`, () => {
    let suite: BrowserSuite;
    let appServer: BrowserAppServer;
    let appOrigin: string;
    let clientId: string;

    browserSuite(
      database,
      async (started) => {
        suite = started;
        const bundle = await bundleBrowserApp(REACT_APP_SOURCE);
        appServer = await serveBrowserApp(bundle, () => ({
          domain: suite.server.services.config.issuer,
          clientId,
          redirectUri: `${appOrigin}/callback`,
          logoutUri: `${appOrigin}/signed-out`,
        }), transport.certificate);
        appOrigin = `${transport.scheme}://app.${SITE}:${appServer.port}`;
        clientId = (await suite.server.createApplication({ type: 'spa', redirectUrls: [`${appOrigin}/callback`], logoutUrls: [`${appOrigin}/signed-out`] })).id;
      },
      {
        siteDomain: SITE,
        env: { GATEHOUSE_COOKIE_DOMAIN: SITE, ...(transport.certificate ? { TLS_CERT_FILE: transport.certificate.certFile, TLS_KEY_FILE: transport.certificate.keyFile } : {}) },
      },
    );
    after(() => appServer?.close());

    /** Through the application's "Sign in" button and Gatehouse's email + code pages, back to the application. */
    async function signIn(page: Page, email: string): Promise<void> {
      await page.goto(`${appOrigin}/`);
      assert.equal(await settledState(page), 'signed-out');
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.getByLabel('Email').fill(email);
      const mail = suite.smtp.nextMessageTo(email);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByLabel('Code').fill(codeIn(await mail));
      await page.getByRole('button', { name: 'Continue' }).click();
      assert.equal(await settledState(page), 'signed-in');
    }

    it('signs in, stays signed in with a fresh access token after a reload, and stays signed out after signing out', async () => {
      const issuer = suite.server.services.config.issuer;
      const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, 'react.user@example.test');
      await page.getByText('Signed in as react.user@example.test').waitFor();
      const signInToken = await shownAccessToken(page);

      const reload = await reloadAndSettle(page);
      assert.equal(reload.state, 'signed-in', 'a reload keeps the person signed in');
      assert.equal(reload.tokenRequests.length, 1, 'one refresh');
      const refreshBody = new URLSearchParams(reload.tokenRequests[0]!.postData() ?? '');
      assert.equal(refreshBody.get('grant_type'), 'refresh_token');
      assert.equal(refreshBody.has('refresh_token'), false, 'the refresh token travels only in the HttpOnly cookie');
      await page.getByText('Signed in as react.user@example.test').waitFor();
      const reloadToken = await shownAccessToken(page);
      assert.notEqual(reloadToken, signInToken, 'a fresh access token after the reload');
      const [before, afterReload] = [decodeJwt(signInToken), decodeJwt(reloadToken)];
      assert.equal(afterReload.iss, issuer);
      assert.equal(afterReload.azp, clientId);
      assert.equal(afterReload.sub, before.sub);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${appOrigin}/signed-out`);
      assert.equal(await settledState(page), 'signed-out');
      const afterSignOut = await reloadAndSettle(page);
      assert.equal(afterSignOut.state, 'signed-out', 'signed out after a reload too');
      assert.deepEqual(afterSignOut.tokenRequests, [], 'nothing left to refresh with');
      await context.close();
    });

    it('shows the application only a _kbrte marker for the site, and keeps the refresh token in an HttpOnly cookie for the token endpoint', async () => {
      const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, 'cookie.user@example.test');
      const cookies = await context.cookies();
      const marker = cookies.find((cookie) => cookie.name === '_kbrte');
      const refresh = cookies.find((cookie) => cookie.name === '_gatehouse_refresh');
      assert.ok(marker && refresh, `both cookies set: ${cookies.map((cookie) => cookie.name).join(', ')}`);
      const attributes = ({ domain, path, httpOnly, secure, sameSite }: (typeof cookies)[number]) => ({ domain, path, httpOnly, secure, sameSite });
      assert.deepEqual(
        attributes(marker),
        { domain: `.${SITE}`, path: '/', httpOnly: false, secure: transport.secure, sameSite: 'Lax' },
        'GATEHOUSE_COOKIE_DOMAIN: readable on every host of the site',
      );
      assert.deepEqual(
        attributes(refresh),
        { domain: new URL(suite.server.services.config.issuer).hostname, path: '/oauth2/token', httpOnly: true, secure: transport.secure, sameSite: transport.refreshSameSite },
        "host-only on Gatehouse's host, sent to the token endpoint alone",
      );
      assert.ok(!marker.value.includes(refresh.value) && marker.value.length < 8, 'the marker carries no secret');
      assert.ok(Math.abs(marker.expires - refresh.expires) < 5, 'both last as long as the refresh token');
      const seenByApplication = await page.evaluate(() => document.cookie);
      assert.match(seenByApplication, /(^|; )_kbrte=/);
      assert.doesNotMatch(seenByApplication, /_gatehouse_refresh/);

      await page.getByRole('button', { name: 'Sign out' }).click();
      await page.waitForURL(`${appOrigin}/signed-out`);
      assert.deepEqual((await context.cookies()).filter((cookie) => ['_kbrte', '_gatehouse_refresh'].includes(cookie.name)), [], '/logout clears both');
      await context.close();
    });

    it('signs out at the next reload once the session was ended elsewhere, and drops the cookies that pointed at it', async () => {
      const context = await suite.browser.newContext({ ignoreHTTPSErrors: true });
      const page = await context.newPage();
      await signIn(page, 'ended.user@example.test');
      const { sub } = decodeJwt(await shownAccessToken(page));
      // What `DELETE /api/v1/users/{id}/sessions` or a sign-out in another browser with all_sessions does.
      await endSessionsOf(suite.server.services.db, sub!);

      const refused = await reloadAndSettle(page);
      assert.equal(refused.state, 'signed-out');
      assert.equal(refused.tokenRequests.length, 1, 'one cookie refresh, refused');
      const names = (await context.cookies()).map((cookie) => cookie.name);
      assert.ok(!names.includes('_kbrte') && !names.includes('_gatehouse_refresh'), `a refused refresh token takes its cookies along (left: ${names.join(', ')})`);
      const next = await reloadAndSettle(page);
      assert.equal(next.state, 'signed-out');
      assert.deepEqual(next.tokenRequests, [], 'js-utils stops trying');
      await context.close();
    });
  });
}
