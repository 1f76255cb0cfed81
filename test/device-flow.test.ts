import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import jsqr from 'jsqr';
import { PNG } from 'pngjs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { clock } from '../src/clock.ts';
import { scopesGrantedByRoles } from '../src/sign-in/after/device-consent.ts';
import { nextPace } from '../src/protocol/device-polling.ts';
import { networkOf } from '../src/http/networks.ts';
import { launchBrowser } from './support/browser.ts';
import { testDatabases } from './support/databases.ts';
import { DeviceClient, type TokenResponse } from './support/rfc8628-client.ts';
import { assertKindeError, startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

/**
 * The device authorization flow (RFC 8628) as Kinde documents it (sections 026–029): a device written
 * from the RFC polls while a person types its code in Chromium, signs in, and allows or denies it.
 *
 * Kinde's interval is 5 seconds and every `slow_down` adds 5 more. Instead of sleeping through them,
 * the device "waits" by moving the server's clock (src/clock.ts), which is what both the polling pace
 * and device-code expiry are judged by; so these tests wait for no interval in real time.
 */
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{8}$/;
const waitByMovingTheClock = async (seconds: number) => clock.advance(seconds * 1000);

function decodeQrCode(dataUrl: string): string | undefined {
  const png = PNG.sync.read(Buffer.from(dataUrl.replace(/^data:image\/png;base64,/, ''), 'base64'));
  // jsqr is CommonJS: its function is the module's `default`.
  return jsqr.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}

const sorted = (values: unknown) => [...(values as string[])].sort();

function errorOf(outcome: { error: string } | { tokens: TokenResponse }): string | undefined {
  return 'error' in outcome ? outcome.error : undefined;
}

describe('device flow rules', () => {
  it('paces polling as RFC 8628 §3.5 says: too soon is slow_down and 5 more seconds from then on', () => {
    const rows: Array<[string, { interval: number; lastPollAt: number }, number, boolean, number]> = [
      // name, pace, now, too fast?, interval after
      ['a poll a full interval later', { interval: 5, lastPollAt: 0 }, 5_000, false, 5],
      ['a poll a little early, within network jitter', { interval: 5, lastPollAt: 0 }, 4_600, false, 5],
      ['a poll a second early', { interval: 5, lastPollAt: 0 }, 4_000, true, 10],
      ['a poll at once', { interval: 10, lastPollAt: 1_000 }, 1_000, true, 15],
      ['a poll after a grown interval', { interval: 15, lastPollAt: 0 }, 15_000, false, 15],
    ];
    for (const [name, pace, now, tooFast, interval] of rows) {
      const decided = nextPace(pace, now);
      assert.equal(decided.tooFast, tooFast, name);
      assert.deepEqual(decided.pace, { interval, lastPollAt: now }, name);
    }
  });

  it('counts wrong user codes per IPv4 address and per IPv6 /64', () => {
    const rows: Array<[string, string]> = [
      ['203.0.113.7', '203.0.113.7'],
      ['::ffff:203.0.113.7', '203.0.113.7'],
      ['2001:db8:a:b:1:2:3:4', '2001:db8:a:b::/64'],
      ['2001:0db8:000a:000b::99', '2001:db8:a:b::/64'],
      ['2001:db8::1', '2001:db8:0:0::/64'],
      ['::1', '0:0:0:0::/64'],
      ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ];
    for (const [address, network] of rows) assert.equal(networkOf(address), network, address);
  });

  it('grants a device the audience scopes the person holds as permissions (section 027)', () => {
    const rows: Array<[string[], string[], string[]]> = [
      // audience scopes, person's permissions, granted
      [['read:recipes', 'write:recipes', 'delete:recipes'], ['read:recipes', 'write:recipes', 'invite:users'], ['read:recipes', 'write:recipes']],
      [['read:recipes'], [], []],
      [[], ['read:recipes'], []],
    ];
    for (const [audienceScopes, permissions, granted] of rows) assert.deepEqual(scopesGrantedByRoles(audienceScopes, permissions), granted);
  });
});

for (const database of testDatabases()) {
  describe(`device authorization flow (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let browser: Browser;
    let drop: () => Promise<void>;
    let issuer: string;
    let tv: { id: string };
    /** Ada's browser: signed in after the first approval, so later approvals reuse her SSO session. */
    let adaBrowser: BrowserContext;
    let ada: { sub: string; orgCode: string };

    before(async () => {
      [smtp, browser] = await Promise.all([new TestSmtp().start(), launchBrowser()]);
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      issuer = server.services.config.issuer;
      // Through the management API, as section 028 says: a "Device and IoT" application.
      const created = await server.api('POST', '/applications', { name: 'Living room TV', type: 'device' });
      assert.equal(created.status, 201);
      tv = { id: created.body.application.client_id };
      // Kinde's quick start turns on email + code, the default for new applications; names are not asked here.
      assert.equal((await server.api('PATCH', `/applications/${tv.id}`, { is_ask_for_names: false })).status, 200);
      adaBrowser = await browser.newContext();
    });

    after(async () => {
      clock.reset();
      await browser?.close();
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    afterEach(() => clock.reset());

    const next = (page: Page, name = 'Continue') => page.getByRole('button', { name }).click();

    /** The consent screen, reached from the code page (signing in first when the browser is not). */
    async function signInAsAda(page: Page): Promise<void> {
      await page.getByLabel('Email').fill('ada@example.test');
      const mail = smtp.nextMessageTo('ada@example.test');
      await next(page);
      await page.getByLabel('Code').fill(codeIn(await mail));
      await next(page);
    }

    it('answers a device authorization exactly as Kinde documents it, with a QR code of the complete URI', async () => {
      const { status, body } = await new DeviceClient(server.url, tv.id).authorize();
      assert.equal(status, 200);
      assert.deepEqual(Object.keys(body), ['device_code', 'user_code', 'verification_uri', 'verification_uri_complete', 'expires_in', 'interval', 'qr_code']);
      assert.match(body.user_code, USER_CODE, '8 characters from an alphabet without look-alikes');
      assert.equal(body.verification_uri, `${issuer}/device`);
      assert.equal(body.verification_uri_complete, `${issuer}/device?user_code=${body.user_code}`);
      assert.equal(body.expires_in, 600);
      assert.equal(body.interval, 5);
      assert.match(String(body.qr_code), /^data:image\/png;base64,/);
      assert.equal(decodeQrCode(String(body.qr_code)), body.verification_uri_complete);
    });

    it('gives the device Kinde’s tokens once the person types the code in Chromium, signs in and allows it', async () => {
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize({ scope: 'openid profile email offline' });
      assert.equal(errorOf((await device.poll(authorization.device_code)).outcome), 'authorization_pending');

      const page = await adaBrowser.newPage();
      await page.goto(authorization.verification_uri);
      const field = page.getByLabel('Code');
      assert.equal(await field.getAttribute('autocomplete'), 'off', 'a code read off a screen, not a one-time code from a message');
      assert.equal(await field.getAttribute('autocapitalize'), 'characters');
      assert.equal(await field.getAttribute('inputmode'), 'text');
      // Typed as people type it: lower case, with a dash in the middle.
      const code = authorization.user_code.toLowerCase();
      await field.fill(`${code.slice(0, 4)}-${code.slice(4)}`);
      await next(page);
      await signInAsAda(page);

      await page.getByRole('heading', { name: 'Allow Living room TV?' }).waitFor();
      assert.equal(await page.locator('#user-code').textContent(), authorization.user_code, 'the code to compare with the device');
      const listed = await page.locator('#requested-scopes li').evaluateAll((items) => items.map((li) => li.getAttribute('data-scope')));
      assert.deepEqual(listed, ['openid', 'profile', 'email', 'offline']);
      await next(page, 'Allow');
      await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();
      await page.close();

      const outcome = await device.pollUntilDone(authorization, waitByMovingTheClock);
      assert.ok('tokens' in outcome, JSON.stringify(outcome));
      assert.deepEqual(device.answers, ['authorization_pending'], 'one pending answer before the person decided, then tokens');
      const { tokens } = outcome;
      assert.equal(tokens.token_type.toLowerCase(), 'bearer');
      assert.ok(tokens.refresh_token, 'offline was asked for');
      assert.ok(tokens.id_token);
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims.iss, issuer);
      assert.equal(claims.azp, tv.id);
      assert.deepEqual(claims.aud, []);
      assert.match(String(claims.sub), /^kp_[0-9a-f]{32}$/);
      assert.deepEqual(sorted(claims.scp), ['email', 'offline', 'openid', 'profile']);
      assert.deepEqual(sorted(String(claims.scope).split(' ')), ['email', 'offline', 'openid', 'profile']);
      assert.equal(typeof claims.org_code, 'string');
      assert.equal(decodeJwt(tokens.id_token).email, 'ada@example.test');
      ada = { sub: String(claims.sub), orgCode: String(claims.org_code) };

      // Section 026: the device checks its token with the user profile endpoint.
      const profile = await fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(profile.status, 200);
      const body = (await profile.json()) as { id: string; email: string };
      assert.equal(body.id, ada.sub);
      assert.equal(body.email, 'ada@example.test');

      const refresh = (token: string) =>
        fetch(`${server.url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token', client_id: tv.id, refresh_token: token }) });
      const refreshed = await refresh(tokens.refresh_token!);
      assert.equal(refreshed.status, 200, 'the device stays signed in with its refresh token');
      const { refresh_token: rotated } = (await refreshed.json()) as TokenResponse;

      const again = await device.poll(authorization.device_code);
      assert.equal(again.status, 400);
      assert.equal(errorOf(again.outcome), 'invalid_grant', 'a device code is redeemed once');
      // As for a replayed authorization code (RFC 6749 §4.1.2), what the code issued is revoked.
      assert.equal((await refresh(rotated!)).status, 400);
    });

    it('answers access_denied when the person denies the device from the link, already signed in', async () => {
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize();
      const page = await adaBrowser.newPage();
      await page.goto(authorization.verification_uri_complete!);
      assert.equal(await page.getByLabel('Code').inputValue(), authorization.user_code, 'the link fills the code in; the person still confirms it');
      await next(page);
      // Her SSO session signs her in; a device still needs her consent.
      await page.getByRole('heading', { name: 'Allow Living room TV?' }).waitFor();
      await next(page, 'Deny');
      await page.getByRole('heading', { name: 'Access denied' }).waitFor();
      await page.close();

      const outcome = await device.pollUntilDone(authorization, waitByMovingTheClock);
      assert.equal(errorOf(outcome), 'access_denied');
      assert.deepEqual(device.answers, ['access_denied'], 'a decided code is answered at once');
    });

    it('redeems an approved device code once when polls race, and revokes what it issued', async () => {
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize({ scope: 'openid offline' });
      const page = await adaBrowser.newPage();
      await page.goto(authorization.verification_uri_complete!);
      await next(page);
      await page.getByRole('heading', { name: 'Allow Living room TV?' }).waitFor();
      await next(page, 'Allow');
      await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();
      await page.close();

      const polls = await Promise.all(Array.from({ length: 8 }, () => device.poll(authorization.device_code)));
      const winners = polls.flatMap(({ outcome }) => ('tokens' in outcome ? [outcome.tokens] : []));
      assert.equal(winners.length, 1, `exactly one poll gets tokens: ${JSON.stringify(polls.map((p) => p.status))}`);
      for (const { status, outcome } of polls.filter(({ outcome }) => !('tokens' in outcome))) {
        assert.equal(status, 400);
        assert.equal(errorOf(outcome), 'invalid_grant');
      }
      const refreshed = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'refresh_token', client_id: tv.id, refresh_token: winners[0]!.refresh_token! }),
      });
      assert.equal(refreshed.status, 400, 'what the raced code issued is revoked');
    });

    it('answers slow_down to a device polling faster than its interval, adding 5 seconds each time', async () => {
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize();
      const poll = async () => errorOf((await device.poll(authorization.device_code)).outcome);

      assert.equal(await poll(), 'authorization_pending');
      assert.equal(await poll(), 'slow_down', 'at once: too fast');
      assert.equal(device.interval, 10);
      await waitByMovingTheClock(9);
      assert.equal(await poll(), 'slow_down', '9 s is too fast for an interval of 10');
      assert.equal(device.interval, 15);
      await waitByMovingTheClock(15);
      assert.equal(await poll(), 'authorization_pending');
      await waitByMovingTheClock(15);
      assert.equal(await poll(), 'authorization_pending', 'the interval stays grown');
      await waitByMovingTheClock(10);
      assert.equal(await poll(), 'slow_down', '10 s is now too fast');
      assert.equal(device.interval, 20);
    });

    it('answers expired_token once the code has expired, and the page says so', async () => {
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize();
      assert.equal(errorOf((await device.poll(authorization.device_code)).outcome), 'authorization_pending');
      await waitByMovingTheClock(601);
      const expired = await device.poll(authorization.device_code);
      assert.equal(expired.status, 400);
      assert.equal(errorOf(expired.outcome), 'expired_token');

      const page = await adaBrowser.newPage();
      await page.goto(authorization.verification_uri_complete!);
      await next(page);
      await page.getByText('That code has expired').waitFor();
      await page.close();
    });

    it('uses the environment’s default device application when client_id is omitted', async () => {
      const anonymous = new DeviceClient(server.url);
      const none = await anonymous.authorize();
      assert.equal(none.status, 400);
      assert.equal(none.body.error, 'invalid_request');

      const web = await server.createApplication({ type: 'reg', redirectUrls: ['http://127.0.0.1:1/callback'] });
      assertKindeError(await server.api('PATCH', `/applications/${web.id}`, { is_default_device_app: true }), 400, 'INVALID_APPLICATION_TYPE');
      assert.equal((await server.api('PATCH', `/applications/${tv.id}`, { is_default_device_app: true })).status, 200);
      assert.equal((await server.api('GET', `/applications/${tv.id}`)).body.application.is_default_device_app, true);

      const { status, body: authorization } = await anonymous.authorize();
      assert.equal(status, 200);
      assert.equal(errorOf((await anonymous.poll(authorization.device_code, tv.id)).outcome), 'authorization_pending', 'the code belongs to the default application');

      const kiosk = await server.api('POST', '/applications', { name: 'Kiosk', type: 'device' });
      const kioskId = kiosk.body.application.client_id as string;
      assert.equal((await server.api('PATCH', `/applications/${kioskId}`, { is_default_device_app: true })).status, 200);
      assert.equal((await server.api('GET', `/applications/${tv.id}`)).body.application.is_default_device_app, false, 'one default at a time');
      assert.equal((await server.api('DELETE', `/applications/${kioskId}`)).status, 200);
      assert.equal((await anonymous.authorize()).status, 400, 'deleting the default leaves none');
    });

    it('shows and grants the audience’s scopes that the person’s roles give, and puts the audience in aud', async () => {
      const audience = 'https://recipes.example.test';
      const api = await server.api('POST', '/apis', { name: 'Recipes API', audience });
      const apiId = api.body.api.id as string;
      for (const key of ['read:recipes', 'write:recipes', 'delete:recipes']) assert.equal((await server.api('POST', `/apis/${apiId}/scopes`, { key })).status, 200);
      assert.equal((await server.api('PATCH', `/apis/${apiId}/applications`, { applications: [{ id: tv.id }] })).status, 200);
      const permissionIds: string[] = [];
      for (const key of ['read:recipes', 'write:recipes']) permissionIds.push((await server.api('POST', '/permissions', { key, name: key })).body.permission.id);
      const role = await server.api('POST', '/roles', { key: 'chef', name: 'Chef' });
      const roleId = role.body.role.id as string;
      await server.api('PATCH', `/roles/${roleId}/permissions`, { permissions: permissionIds.map((id) => ({ id })) });
      assert.equal((await server.api('POST', `/organizations/${ada.orgCode}/users/${ada.sub}/roles`, { role_id: roleId })).status, 200);

      const device = new DeviceClient(server.url, tv.id);
      const { status, body: authorization } = await device.authorize({ audience });
      assert.equal(status, 200, JSON.stringify(authorization));
      const page = await adaBrowser.newPage();
      await page.goto(authorization.verification_uri_complete!);
      await next(page);
      await page.getByRole('heading', { name: 'Allow Living room TV?' }).waitFor();
      const section = page.locator(`section[data-audience="${audience}"]`);
      assert.match((await section.textContent()) ?? '', /Recipes API/);
      const shown = await section.locator('li').evaluateAll((items) => items.map((li) => li.getAttribute('data-scope')));
      assert.deepEqual(shown, ['read:recipes', 'write:recipes'], 'not delete:recipes, which no role of hers gives');
      await next(page, 'Allow');
      await page.getByRole('heading', { name: 'Your device is connected' }).waitFor();
      await page.close();

      const outcome = await device.pollUntilDone(authorization, waitByMovingTheClock);
      assert.ok('tokens' in outcome, JSON.stringify(outcome));
      const claims = decodeJwt(outcome.tokens.access_token);
      assert.deepEqual(claims.aud, [audience]);
      assert.deepEqual(sorted(claims.scp), ['email', 'openid', 'profile', 'read:recipes', 'write:recipes']);
      assert.deepEqual(sorted(String(claims.scope).split(' ')), ['email', 'openid', 'profile', 'read:recipes', 'write:recipes']);
      assert.deepEqual(claims.permissions, ['read:recipes', 'write:recipes']);
      assert.equal(outcome.tokens.refresh_token, undefined, 'no refresh token without offline');
    });

    it('refuses the device grant to applications of other types (unauthorized_client)', async () => {
      const web = await server.createApplication({ type: 'reg', redirectUrls: ['http://127.0.0.1:1/callback'] });
      const asWeb = await fetch(`${server.url}/oauth2/device/auth`, { method: 'POST', body: new URLSearchParams({ client_id: web.id, client_secret: web.secret! }) });
      assert.equal(asWeb.status, 400);
      assert.equal(((await asWeb.json()) as { error: string }).error, 'unauthorized_client');

      const { body: authorization } = await new DeviceClient(server.url, tv.id).authorize();
      const polled = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:device_code', client_id: web.id, client_secret: web.secret!, device_code: authorization.device_code }),
      });
      assert.equal(polled.status, 400);
      assert.equal(((await polled.json()) as { error: string }).error, 'unauthorized_client');
    });

    it('limits wrong codes to 5 in 10 minutes per network, then refuses every code alike', async () => {
      // Earlier tests' wrong entries (the expired code) are out of the window.
      clock.advance(60 * 60_000);
      const device = new DeviceClient(server.url, tv.id);
      const { body: authorization } = await device.authorize();
      const page = await adaBrowser.newPage();
      const enter = async (code: string) => {
        await page.goto(`${server.url}/device`);
        await page.getByLabel('Code').fill(code);
        await next(page);
      };
      const wrong = authorization.user_code === 'BBBBBBBB' ? 'CCCCCCCC' : 'BBBBBBBB';
      for (let attempt = 1; attempt <= 5; attempt++) {
        await enter(wrong);
        await page.getByText('That code is not right').waitFor();
      }
      await enter(authorization.user_code);
      await page.getByRole('heading', { name: 'Too many wrong codes' }).waitFor();
      assert.equal(await page.getByText('Allow Living room TV?').count(), 0, 'even the right code is not looked at: no oracle');

      clock.advance(10 * 60_000 + 1_000);
      const { body: fresh } = await device.authorize();
      await enter(fresh.user_code);
      await page.getByRole('heading', { name: 'Allow Living room TV?' }).waitFor();
      await page.close();
      await adaBrowser.close();
    });
  });
}
