import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { BOOTSTRAP, startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

interface Case {
  name: string;
  request: () => Promise<Response>;
  status: number;
  /** RFC 6749 `error` for JSON answers, a redirect's `error` parameter, or a phrase on the HTML page. */
  error?: string;
  redirectError?: string;
  page?: RegExp;
}

const TABLES = ['users', 'identities', 'credentials', 'applications', 'oidc_models', 'otp_challenges', 'sign_in_flows', 'application_connections', 'apis'] as const;

for (const database of testDatabases()) {
  describe(`bad input is refused clearly and writes nothing (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;
    let spa: { id: string };
    let web: { id: string; secret?: string };
    let m2m: { id: string; secret?: string };

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      spa = await server.createApplication({ type: 'spa', redirectUrls: [CALLBACK] });
      web = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      m2m = await server.createApplication({ type: 'm2m' });
    });

    after(async () => {
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    async function rowCounts(): Promise<Record<string, number>> {
      const counts: Record<string, number> = {};
      for (const table of TABLES) {
        const row = await server.services.db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
        counts[table] = Number(row.n);
      }
      return counts;
    }

    const auth = (params: () => Record<string, string>, raw = '') => () => fetch(`${server.url}/oauth2/auth?${new URLSearchParams(params())}${raw}`, { redirect: 'manual' });
    const form = (path: string, body: string, headers: Record<string, string> = {}) => () =>
      fetch(`${server.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    const challenge = createHash('sha256').update(randomBytes(32).toString('base64url')).digest('base64url');
    const goodAuth = () => ({ client_id: spa.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 's', code_challenge: challenge, code_challenge_method: 'S256' });

    const cases: Case[] = [
      { name: 'authorize without client_id', request: auth(() => ({ response_type: 'code', redirect_uri: CALLBACK })), status: 400, page: /We could not start sign-in/ },
      { name: 'authorize with an unknown client', request: auth(() => ({ ...goodAuth(), client_id: 'nope' })), status: 400, page: /client is invalid|could not start/i },
      { name: 'authorize with an unregistered redirect_uri', request: auth(() => ({ ...goodAuth(), redirect_uri: 'https://evil.example/cb' })), status: 400, page: /redirect_uri/ },
      { name: 'authorize with a duplicated parameter', request: auth(() => (goodAuth()), '&state=again'), status: 303, redirectError: 'invalid_request' },
      { name: 'authorize asking for the implicit flow', request: auth(() => ({ ...goodAuth(), response_type: 'token' })), status: 303, redirectError: 'unsupported_response_type' },
      { name: 'authorize from a public client without PKCE', request: auth(() => ({ ...goodAuth(), code_challenge: '', code_challenge_method: '' })), status: 303, redirectError: 'invalid_request' },
      { name: 'authorize with PKCE plain', request: auth(() => ({ ...goodAuth(), code_challenge_method: 'plain' })), status: 303, redirectError: 'invalid_request' },
      { name: 'authorize with an oversized parameter', request: auth(() => ({ ...goodAuth(), login_hint: 'x'.repeat(70_000) })), status: 431 },
      { name: 'token without grant_type', request: form('/oauth2/token', `client_id=${'x'}`), status: 401, error: 'invalid_client' },
      { name: 'token with an unknown grant', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'password', client_id: web.id, client_secret: web.secret!, username: 'a', password: 'b' }).toString())(), status: 400, error: 'unsupported_grant_type' },
      { name: 'token with a wrong client secret', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.id, client_secret: 'A'.repeat(50) }).toString())(), status: 401, error: 'invalid_client' },
      { name: 'token for an unknown client', request: form('/oauth2/token', 'grant_type=client_credentials&client_id=ghost&client_secret=' + 'A'.repeat(50)), status: 401, error: 'invalid_client' },
      { name: 'token with a JSON body', request: () => fetch(`${server.url}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials' }) }), status: 400, error: 'invalid_request' },
      { name: 'token with an oversized body', request: form('/oauth2/token', `grant_type=client_credentials&pad=${'x'.repeat(60 * 1024)}`), status: 413, error: 'invalid_request' },
      { name: 'token with grant_type twice', request: () => form('/oauth2/token', new URLSearchParams([['grant_type', 'client_credentials'], ['grant_type', 'client_credentials'], ['client_id', m2m.id], ['client_secret', m2m.secret!]]).toString())(), status: 400, error: 'invalid_request' },
      { name: 'token with a made-up code', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'authorization_code', client_id: web.id, client_secret: web.secret!, code: 'made-up', redirect_uri: CALLBACK }).toString())(), status: 400, error: 'invalid_grant' },
      { name: 'token with a made-up refresh token', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'refresh_token', client_id: spa.id, refresh_token: 'made-up' }).toString())(), status: 400, error: 'invalid_grant' },
      { name: 'client credentials for an audience the app may not call', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: m2m.id, client_secret: m2m.secret!, audience: `${server.services.config.issuer}/api` }).toString())(), status: 400, error: 'invalid_target' },
      { name: 'client credentials from a browser application', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: spa.id }).toString())(), status: 400, error: 'unauthorized_client' },
      { name: 'client secret both in a Basic header and the body', request: () => form('/oauth2/token', new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret }).toString(), { authorization: `Basic ${Buffer.from(`${BOOTSTRAP.id}:${BOOTSTRAP.secret}`).toString('base64')}` })(), status: 400, error: 'invalid_request' },
      { name: 'introspection without client authentication', request: form('/oauth2/introspect', 'token=abc'), status: 400, error: 'invalid_request' },
      { name: 'revocation without a token', request: () => form('/oauth2/revoke', new URLSearchParams({ client_id: web.id, client_secret: web.secret! }).toString())(), status: 400, error: 'invalid_request' },
      { name: 'user profile without a token', request: () => fetch(`${server.url}/oauth2/v2/user_profile`), status: 401, error: 'invalid_token' },
      { name: 'user profile with a token from elsewhere', request: () => fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: 'Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJrcF94In0.' } }), status: 401, error: 'invalid_token' },
      { name: 'sign-out to an unregistered URL', request: () => fetch(`${server.url}/logout?redirect=https://evil.example/`, { redirect: 'manual' }), status: 400, page: /not recognised/ },
      { name: 'a sign-in page for an unknown interaction', request: () => fetch(`${server.url}/interaction/unknown-uid`), status: 400, page: /expired/ },
      { name: 'a device code form post without its session cookie', request: form('/device', 'user_code=BCDFGHJK&xsrf=forged&confirm=yes'), status: 403, page: /not sent from the device page/ },
      { name: 'a sign-in form post without its interaction cookie', request: form('/interaction/unknown-uid/identify', 'email=a%40b.test&csrf=x'), status: 400, page: /expired/ },
    ];

    for (const testCase of cases) {
      it(`refuses ${testCase.name}`, async () => {
        const before = await rowCounts();
        const response = await testCase.request();
        const text = await response.text();
        assert.notEqual(response.status, 500, text.slice(0, 300));
        assert.equal(response.status, testCase.status, text.slice(0, 300));
        if (testCase.error) assert.equal(JSON.parse(text).error, testCase.error, text);
        if (testCase.redirectError) {
          const location = new URL(response.headers.get('location')!);
          assert.equal(`${location.origin}${location.pathname}`, CALLBACK);
          // The implicit flow's error goes in the fragment (its default response mode), others in the query.
          const params = location.hash ? new URLSearchParams(location.hash.slice(1)) : location.searchParams;
          assert.equal(params.get('error'), testCase.redirectError);
        }
        if (testCase.page) {
          assert.match(response.headers.get('content-type') ?? '', /text\/html/);
          assert.match(text, testCase.page);
        }
        assert.doesNotMatch(text, /\n\s+at .+:\d+:\d+/, 'no stack trace');
        assert.deepEqual(await rowCounts(), before, 'nothing was written');
      });
    }

    for (const [path, contentType] of [
      ['/oauth2/token', 'application/x-www-form-urlencoded'],
      ['/api/v1/user', 'application/json'],
    ] as const) {
      it(`answers a 200 KB body at ${path} with 413, and the connection still serves the next request`, async () => {
        const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
        const authorization = path.startsWith('/api/') ? { authorization: `Bearer ${await server.managementToken()}` } : {};
        const send = (method: string, target: string, body?: Buffer) =>
          new Promise<{ status: number; connection: string | undefined }>((resolve, reject) => {
            const request = http.request(`${server.url}${target}`, { method, agent, headers: body ? { ...authorization, 'content-type': contentType, 'content-length': body.length } : {} }, (response) => {
              response.resume();
              response.on('end', () => resolve({ status: response.statusCode!, connection: response.headers.connection }));
            });
            request.on('error', reject);
            request.end(body);
          });
        try {
          const oversized = await send('POST', path, Buffer.alloc(200 * 1024, 'a'));
          assert.equal(oversized.status, 413);
          const next = await send('GET', '/health');
          assert.equal(next.status, 200, 'the next request on the connection is answered, not reset');
        } finally {
          agent.destroy();
        }
      });
    }

    describe('on the hosted pages', () => {
      async function interaction(): Promise<FormDriver> {
        const driver = new FormDriver(server.url);
        await driver.go(`/oauth2/auth?${new URLSearchParams(goodAuth())}`);
        return driver;
      }

      it('refuses a form with a forged CSRF token and does nothing', async () => {
        const driver = await interaction();
        const before = await rowCounts();
        await assert.rejects(driver.submit({ identifier: 'csrf@example.test', csrf: 'forged' }), (error: unknown) => error instanceof PageError && error.status === 403);
        assert.deepEqual(await rowCounts(), before);
        assert.equal(smtp.messages.filter((m) => m.to.includes('csrf@example.test')).length, 0, 'no email was sent');
      });

      it('asks again for a malformed email without writing anything', async () => {
        const driver = await interaction();
        const before = await rowCounts();
        await driver.submit({ identifier: 'not-an-email' });
        assert.match(driver.lastPage, /Enter a valid email address/);
        const after = await rowCounts();
        assert.deepEqual(after, before, 'no row is added: the page state rides in the interaction row');
      });

      it('creates no account after five wrong codes', async () => {
        const driver = await interaction();
        const mail = smtp.nextMessageTo('guesser@example.test');
        await driver.submit({ identifier: 'guesser@example.test' });
        const code = codeIn(await mail);
        const wrong = code === '000000' ? '111111' : '000000';
        for (let attempt = 1; attempt <= 4; attempt++) {
          await driver.submit({ code: wrong });
          assert.match(driver.lastPage, /That code is not right/);
        }
        await driver.submit({ code: wrong });
        assert.match(driver.lastPage, /Too many wrong codes/);
        const users = await server.services.db.selectFrom('identities').select('id').where('normalized_value', '=', 'guesser@example.test').execute();
        assert.equal(users.length, 0);
      });
    });
  });
}
