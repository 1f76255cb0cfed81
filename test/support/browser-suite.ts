import { after, before } from 'node:test';
import type { Browser } from 'playwright-core';
import { clock } from '../../src/clock.ts';
import { launchBrowser } from './browser.ts';
import { type CallbackApp, startCallbackApp } from './callback-app.ts';
import type { DatabaseKind } from './databases.ts';
import { FakeTwilio } from './fake-twilio.ts';
import { freePort } from './ports.ts';
import { startTestServer, type TestServer } from './server.ts';
import { TestSmtp } from './smtp.ts';

export interface BrowserSuite {
  server: TestServer;
  smtp: TestSmtp;
  browser: Browser;
  /** The application's side: its callback (and home) page. */
  app: CallbackApp;
  /** Only with `twilio: true`: the fake Twilio the server sends SMS to. */
  twilio: FakeTwilio | undefined;
}

/**
 * A site of its own for a test: Chromium resolves every `*.<domain>` host to loopback, and Gatehouse
 * serves at `auth.<domain>` on a free port (https when given TLS_CERT_FILE), so an application on a
 * sibling subdomain (`app.<domain>`) is set up as in a real deployment (one registrable domain, two
 * hosts). Over plain http those hosts are not secure contexts, where browsers hide `crypto.subtle`
 * (which PKCE needs), so Chromium is told to treat them as secure, as it does localhost.
 */
async function siteOnLoopback(domain: string, env: Record<string, string>): Promise<{ browserArgs: string[]; env: Record<string, string> }> {
  const port = await freePort();
  const scheme = env.TLS_CERT_FILE ? 'https' : 'http';
  return {
    browserArgs: [`--host-resolver-rules=MAP *.${domain} 127.0.0.1`, `--unsafely-treat-insecure-origin-as-secure=*.${domain}`],
    env: { PORT: String(port), ISSUER_URL: `${scheme}://auth.${domain}:${port}` },
  };
}

/**
 * What a browser test of the hosted pages needs, registered in the current `describe`: an SMTP server
 * (and, when asked, a fake Twilio) the server sends to, Chromium, the application's callback page,
 * and a server on a fresh database of this kind; all of it closed and dropped afterwards, with the
 * clock put back. `ready` receives it once started.
 */
export function browserSuite(
  database: DatabaseKind,
  ready: (suite: BrowserSuite) => void | Promise<void>,
  options: { twilio?: boolean; env?: Record<string, string>; siteDomain?: string } = {},
): void {
  let suite: Partial<BrowserSuite> = {};
  let drop: (() => Promise<void>) | undefined;
  before(async () => {
    const site = options.siteDomain ? await siteOnLoopback(options.siteDomain, options.env ?? {}) : { browserArgs: [], env: {} };
    const [smtp, browser, app, twilio] = await Promise.all([
      new TestSmtp().start(),
      launchBrowser(site.browserArgs),
      startCallbackApp(),
      options.twilio ? new FakeTwilio().start() : undefined,
    ]);
    suite = { smtp, browser, app, twilio };
    const db = await database.create();
    drop = db.drop;
    const sms: Record<string, string> = twilio
      ? { TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken, TWILIO_FROM_NUMBER: '+15005550006', TWILIO_API_BASE_URL: twilio.baseUrl }
      : {};
    suite.server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url, ...sms, ...site.env, ...options.env } });
    await ready(suite as BrowserSuite);
  });
  after(async () => {
    clock.reset();
    await suite.browser?.close();
    await suite.server?.close();
    await suite.smtp?.stop();
    await suite.twilio?.stop();
    suite.app?.close();
    await drop?.();
  });
}
