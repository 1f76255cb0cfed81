import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserSuite } from './support/browser-suite.ts';
import type { CallbackApp } from './support/callback-app.ts';
import { testDatabases } from './support/databases.ts';
import { encode, type FakeSamlIdp, newId, readPostRequest, readRedirectRequest, startFakeSamlIdp } from './support/fake-saml-idp.ts';
import type { TestServer } from './support/server.ts';

const escape = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * The IdP's sign-in page, on another site than Gatehouse (localhost, not 127.0.0.1): it reads the
 * AuthnRequest (Redirect or POST binding) and shows a "Sign in" button whose form posts the signed
 * answer cross-site to the ACS, as Okta's or Entra's page would.
 */
async function startIdpLoginPage(idp: FakeSamlIdp, acs: string, entityIdOf: () => string, email: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url!, 'http://localhost');
      const posted = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
      // Chromium asks for /favicon.ico too.
      if (!(req.method === 'POST' ? posted : url.searchParams).has('SAMLRequest')) return void res.writeHead(404).end();
      const request = req.method === 'POST' ? readPostRequest(posted.get('SAMLRequest')!) : readRedirectRequest(url.href);
      const relayState = (req.method === 'POST' ? posted : url.searchParams).get('RelayState') ?? '';
      const id = newId();
      const assertion = idp.sign(idp.assertion({ id, inResponseTo: request.id, recipient: acs, audience: entityIdOf(), nameId: email, attributes: { email, firstName: 'Rosa' } }), id);
      const samlResponse = encode(idp.response({ assertion, inResponseTo: request.id, destination: acs }));
      res.writeHead(200, { 'content-type': 'text/html' }).end(
        `<!doctype html><title>Fake IdP</title><h1>Fake IdP</h1><form method="post" action="${escape(acs)}">` +
          `<input type="hidden" name="SAMLResponse" value="${escape(samlResponse)}"><input type="hidden" name="RelayState" value="${escape(relayState)}">` +
          `<button type="submit">Sign in</button></form>`,
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://localhost:${(server.address() as AddressInfo).port}/sso`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

for (const database of testDatabases()) {
  describe(`enterprise SAML sign-in in Chromium (${database.name})`, () => {
    let server: TestServer;
    let browser: Browser;
    let app: CallbackApp;
    browserSuite(database, (suite) => {
      ({ server, browser, app } = suite);
    });

    let idp: FakeSamlIdp;
    let redirectPage: { url: string; close: () => Promise<void> };
    let postPage: { url: string; close: () => Promise<void> };
    let appId: string;
    const conn = { redirect: '', post: '' };

    before(async () => {
      idp = await startFakeSamlIdp();
      const acs = `${server.services.config.issuer}/saml/callback`;
      redirectPage = await startIdpLoginPage(idp, acs, () => 'urn:gatehouse:browser-redirect', 'rosa@hrd.example');
      postPage = await startIdpLoginPage(idp, acs, () => 'urn:gatehouse:browser-post', 'sam@post.example');
      appId = (await server.createApplication({ type: 'reg', redirectUrls: [app.callback] })).id;
      const create = async (body: Record<string, unknown>) => {
        const { status, body: answer } = await server.api('POST', '/connections', { strategy: 'saml:custom', enabled_applications: [appId], ...body });
        assert.equal(status, 201, JSON.stringify(answer));
        return answer.connection.id as string;
      };
      const options = { saml_idp_metadata_url: idp.metadataUrl, is_create_missing_user: true, is_trusted: true };
      conn.redirect = await create({ name: 'hrd', display_name: 'HRD SSO', options: { ...options, saml_entity_id: 'urn:gatehouse:browser-redirect', saml_sign_in_url: redirectPage.url, home_realm_domains: ['hrd.example'] } });
      conn.post = await create({ name: 'post', display_name: 'Post SSO', options: { ...options, saml_entity_id: 'urn:gatehouse:browser-post', saml_sign_in_url: postPage.url, protocol_binding: 'HTTP-POST' } });
    });
    after(async () => {
      await Promise.all([idp?.close(), redirectPage?.close(), postPage?.close()]);
    });

    const authorizeUrl = (extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: app.callback, scope: 'openid email profile', state: 'app-state', ...extra })}`;

    it('sends a work email to its IdP (home-realm discovery) and finishes the cross-site POST to the ACS through a same-site hop', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      const acsCookies: string[] = [];
      page.on('request', async (request) => {
        if (request.method() === 'POST' && request.url().endsWith('/saml/callback')) acsCookies.push((await request.allHeaders()).cookie ?? '');
      });
      await page.goto(authorizeUrl());
      await page.getByLabel('Email').fill('rosa@hrd.example');
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByRole('heading', { name: 'Fake IdP' }).waitFor();
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.toString().startsWith(app.callback));
      assert.ok(new URL(page.url()).searchParams.get('code'));
      assert.equal(acsCookies.length, 1, 'the IdP posted the answer');
      assert.doesNotMatch(acsCookies[0]!, /_interaction/, 'the cross-site POST carried no interaction cookie');
      await context.close();
    });

    it('posts the AuthnRequest with a "Continue" button (HTTP-POST binding, no script) from a button on the identify page', async () => {
      const context = await browser.newContext();
      const page = await context.newPage();
      await page.goto(authorizeUrl());
      await page.getByRole('button', { name: 'Continue with Post SSO', exact: true }).click();
      await page.getByRole('heading', { name: 'Continue to Post SSO' }).waitFor();
      await page.getByRole('button', { name: 'Continue', exact: true }).click();
      await page.getByRole('heading', { name: 'Fake IdP' }).waitFor();
      await page.getByRole('button', { name: 'Sign in' }).click();
      await page.waitForURL((url) => url.toString().startsWith(app.callback));
      assert.ok(new URL(page.url()).searchParams.get('code'));
      await context.close();
    });
  });
}
