import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { decodeJwt } from 'jose';
import pg from 'pg';
import pino from 'pino';
import { createApi, grantEveryScope, setApplicationAuthorization } from '../src/domain/apis.ts';
import { ConfigError, loadConfig } from '../src/config.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { freePort } from './support/ports.ts';
import { BOOTSTRAP, startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const run = promisify(execFile);
const CALLBACK = 'http://127.0.0.1:5173/callback';

describe('configuration', () => {
  const cases: Array<[Record<string, string>, string]> = [
    [{ PORT: 'eighty' }, 'PORT'],
    [{ ISSUER_URL: 'http://auth.example.com/' }, 'ISSUER_URL'],
    [{ DATABASE_URL: 'mysql://localhost/db' }, 'DATABASE_URL'],
    [{ SMTP_URL: 'http://mail.example.com' }, 'SMTP_URL'],
    [{ GATEHOUSE_BOOTSTRAP_CLIENT_ID: 'admin-client' }, 'GATEHOUSE_BOOTSTRAP_CLIENT_SECRET'],
    [{ GATEHOUSE_BOOTSTRAP_CLIENT_ID: 'admin-client', GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: 'too-short' }, 'GATEHOUSE_BOOTSTRAP_CLIENT_SECRET'],
    [{ TLS_CERT_FILE: '/tmp/cert.pem' }, 'TLS_KEY_FILE'],
    [{ GATEHOUSE_MASTER_KEY: 'not-a-key' }, 'GATEHOUSE_MASTER_KEY'],
    [{ GATEHOUSE_HASHING_THREADS: '0' }, 'GATEHOUSE_HASHING_THREADS'],
    [{ GATEHOUSE_HASHING_THREADS: '1.5' }, 'GATEHOUSE_HASHING_THREADS'],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_COOKIE_DOMAIN: 'https://example.com' }, 'GATEHOUSE_COOKIE_DOMAIN'],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_COOKIE_DOMAIN: 'com' }, 'GATEHOUSE_COOKIE_DOMAIN'],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_COOKIE_DOMAIN: 'example.org' }, 'GATEHOUSE_COOKIE_DOMAIN'],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_COOKIE_DOMAIN: 'xample.com' }, 'GATEHOUSE_COOKIE_DOMAIN'],
    [{ GATEHOUSE_ALLOW_PRIVATE_NETWORK: 'yes' }, 'GATEHOUSE_ALLOW_PRIVATE_NETWORK'],
  ];
  for (const [env, variable] of cases) {
    it(`names ${variable} when ${Object.keys(env).join(' and ')} is wrong`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && error.variable === variable);
    });
  }

  it('defaults to SQLite under ./data on port 3000 with a matching issuer', () => {
    const config = loadConfig({});
    assert.equal(config.port, 3000);
    assert.equal(config.issuer, 'http://localhost:3000');
    assert.equal(config.databaseUrl, 'sqlite:./data/gatehouse.sqlite');
    assert.equal(config.devMailbox, true);
    assert.equal(config.hashingThreads, Math.max(1, availableParallelism() - 1));
    assert.equal(loadConfig({ GATEHOUSE_HASHING_THREADS: '3' }).hashingThreads, 3);
  });

  it("takes the issuer's host or a parent domain of it as the cookie domain, a leading dot ignored", () => {
    const cookieDomain = (domain: string) => loadConfig({ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_COOKIE_DOMAIN: domain }).cookieDomain;
    assert.equal(cookieDomain('example.com'), 'example.com');
    assert.equal(cookieDomain('.Example.com'), 'example.com');
    assert.equal(cookieDomain('auth.example.com'), 'auth.example.com');
    assert.equal(loadConfig({}).cookieDomain, undefined);
  });

  it('stops start-up with one line naming the variable', async () => {
    const failure = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { env: { ...process.env, PORT: 'eighty' } }).catch((error) => error);
    assert.equal(failure.code, 1);
    const lines = String(failure.stderr)
      .split('\n')
      .filter((line) => line.startsWith('gatehouse:'));
    assert.deepEqual(lines, ['gatehouse: invalid configuration: PORT: Invalid input: expected number, received NaN']);
  });

  it('migrates a database from the command line', async () => {
    const url = `sqlite:${join(mkdtempSync(join(tmpdir(), 'gatehouse-migrate-')), 'db.sqlite')}`;
    const first = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { env: { ...process.env, DATABASE_URL: url } });
    assert.match(first.stdout, /applied: 0001_foundation/);
    const second = await run(process.execPath, ['--import', 'tsx', 'src/main.ts', 'migrate'], { env: { ...process.env, DATABASE_URL: url } });
    assert.match(second.stdout, /database is up to date/);
  });
});

for (const database of testDatabases()) {
  describe(`operations (${database.name})`, () => {
    let server: TestServer;
    let devServer: TestServer;
    let smtp: TestSmtp;
    const logLines: string[] = [];
    const drops: Array<() => Promise<void>> = [];

    before(async () => {
      smtp = await new TestSmtp().start();
      const [db, devDb] = await Promise.all([database.create(), database.create()]);
      drops.push(db.drop, devDb.drop);
      const capture = new Writable({
        write(chunk, _encoding, done) {
          logLines.push(String(chunk));
          done();
        },
      });
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url }, logger: pino({ level: 'trace' }, capture) });
      devServer = await startTestServer({ databaseUrl: devDb.url, logger: pino({ level: 'silent' }) });
    });

    after(async () => {
      await server?.close();
      await devServer?.close();
      await smtp?.stop();
      for (const drop of drops) await drop();
    });

    async function signIn(target: TestServer, email: string, code: () => Promise<string>) {
      const app = await target.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      const driver = new FormDriver(target.url);
      await driver.go(`/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid offline', state: 'ops' })}`);
      await driver.submit({ identifier: email });
      const callback = await driver.submit({ code: await code() });
      const tokens = await fetch(`${target.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback!.searchParams.get('code')!, redirect_uri: CALLBACK, client_id: app.id, client_secret: app.secret! }),
      }).then((r) => r.json() as Promise<Record<string, string>>);
      return { app, tokens };
    }

    it('opens its port only once it can serve: a client knocking during start-up is refused, never answered 503', async () => {
      const port = await freePort();
      const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-ready-'));
      const db = await database.create();
      drops.push(db.drop);
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
        env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', GATEHOUSE_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent' },
        stdio: 'ignore',
      });
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      try {
        const answers: number[] = [];
        // Knock as a load balancer without health checks would, until the server answers (bounded).
        for (let knock = 0; knock < 3000 && !answers.includes(200); knock++) {
          const status = await fetch(`http://127.0.0.1:${port}/health`).then((response) => response.status, () => undefined);
          if (status === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
          else answers.push(status);
        }
        assert.deepEqual(answers, [200], 'the first answer the port gives is a healthy one');
      } finally {
        child.kill('SIGTERM');
        await exited;
      }
    });

    it('reports ready while the database answers, and alive', async () => {
      const response = await fetch(`${server.url}/health`);
      assert.equal(response.status, 200);
      assert.deepEqual(await response.json(), { status: 'ok' });
      const live = await fetch(`${server.url}/health/live`);
      assert.equal(live.status, 200);
      assert.deepEqual(await live.json(), { status: 'ok' });
    });

    it('never writes codes, secrets or tokens to the logs, and tags every request with an id', async () => {
      let sentCode = '';
      const mail = smtp.nextMessageTo('logs@example.test');
      const { app, tokens } = await signIn(server, 'logs@example.test', async () => (sentCode = codeIn(await mail)));
      assert.ok(tokens.access_token && tokens.refresh_token && tokens.id_token);
      const logs = logLines.join('');
      for (const secret of [sentCode, app.secret!, tokens.access_token, tokens.refresh_token, tokens.id_token, BOOTSTRAP.secret]) {
        assert.ok(!logs.includes(secret!), 'a secret reached the logs');
      }
      const requests = logLines.map((line) => JSON.parse(line)).filter((entry) => entry.msg === 'request');
      assert.ok(requests.length > 3);
      assert.ok(requests.every((entry) => typeof entry.requestId === 'string' && entry.requestId.length > 0));
      assert.ok(requests.every((entry) => !String(entry.path).includes('?')), 'query strings are not logged');
    });

    it('keeps emails in the dev mailbox when no SMTP server is configured', async () => {
      const { tokens } = await signIn(devServer, 'dev@example.test', async () => {
        const page = await (await fetch(`${devServer.url}/dev/mailbox`)).text();
        assert.match(page, /dev@example\.test/);
        return /^(\d{6})$/m.exec(page)![1]!;
      });
      assert.ok(tokens.access_token);
      assert.equal((await fetch(`${server.url}/dev/mailbox`)).status, 404, 'not served when SMTP is configured');
      const db = await database.create();
      drops.push(db.drop);
      const proxied = await startTestServer({ databaseUrl: db.url, env: { ISSUER_URL: 'https://auth.example.test' }, logger: pino({ level: 'silent' }) });
      try {
        assert.equal((await fetch(`${proxied.url}/dev/mailbox`)).status, 404, 'not served when the issuer is not this machine (e.g. behind a proxy)');
      } finally {
        await proxied.close();
      }
    });

    it('says plainly on the page when an email cannot be sent, and audits it', async () => {
      const closedPort = await freePort();
      const db = await database.create();
      drops.push(db.drop);
      const broken = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: `smtp://127.0.0.1:${closedPort}` } });
      try {
        const app = await broken.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
        const driver = new FormDriver(broken.url);
        await driver.go(`/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 's' })}`);
        await driver.submit({ identifier: 'unreachable@example.test' });
        assert.match(driver.lastPage, /We could not send the email just now/);
        assert.match(driver.lastPage, /autocomplete="email"/, 'still on the email step, with a way forward');
        const audited = await broken.services.db.selectFrom('audit_events').select('type').where('type', '=', 'email.send_failed').execute();
        assert.equal(audited.length, 1);
      } finally {
        await broken.close();
      }
    });

    it('accepts the audience parameter repeated, space-joined or empty', async () => {
      const { db } = server.services;
      const orders = await createApi(db, { name: 'Orders', audience: 'https://orders.example.test', scopes: ['read:orders'] });
      const billing = await createApi(db, { name: 'Billing', audience: 'https://billing.example.test', scopes: ['read:invoices'] });
      const machine = await server.createApplication({ type: 'm2m' });
      for (const api of [orders, billing]) {
        await setApplicationAuthorization(db, api.id, machine.id, true);
        await grantEveryScope(db, api.id, machine.id);
      }
      const token = async (audience: string[]) => {
        const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: machine.id, client_secret: machine.secret! });
        for (const value of audience) body.append('audience', value);
        const response = await fetch(`${server.url}/oauth2/token`, { method: 'POST', body });
        const json = (await response.json()) as Record<string, string>;
        assert.equal(response.status, 200, JSON.stringify(json));
        return decodeJwt(json.access_token!);
      };
      const both = ['https://billing.example.test', 'https://orders.example.test'];
      assert.deepEqual(((await token(['https://orders.example.test', 'https://billing.example.test'])).aud as string[]).sort(), both);
      const joined = await token(['https://orders.example.test https://billing.example.test']);
      assert.deepEqual((joined.aud as string[]).sort(), both);
      assert.deepEqual((joined.scp as string[]).sort(), ['read:invoices', 'read:orders']);
      const empty = await token(['']);
      assert.deepEqual(empty.aud, []);
      assert.deepEqual(empty.gty, ['client_credentials']);
    });

    it("gives every engine request's context one shared `oidc` accessor, not one made for it", async () => {
      // A getter made per request kept each request's objects alive through young-generation
      // collections (src/protocol/engine-context.ts).
      const machine = await server.createApplication({ type: 'm2m' });
      const contexts: object[] = [];
      const engine = server.services.provider();
      const seen = (ctx: object) => void contexts.push(ctx);
      engine.on('grant.success', seen);
      try {
        for (let i = 0; i < 2; i++) {
          const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: machine.id, client_secret: machine.secret! });
          const response = await fetch(`${server.url}/oauth2/token`, { method: 'POST', body });
          assert.equal(response.status, 200, await response.text());
        }
      } finally {
        engine.off('grant.success', seen);
      }
      assert.equal(contexts.length, 2);
      const [first, second] = contexts.map((ctx) => Object.getOwnPropertyDescriptor(ctx, 'oidc'));
      assert.equal(typeof first?.get, 'function', 'the engine defines `oidc` as an accessor');
      assert.equal(first?.get, second?.get, 'both contexts share one getter');
      assert.match(Function.prototype.toString.call(Object.defineProperty), /\[native code\]/, 'Object.defineProperty is the built-in again');
      for (const ctx of contexts) assert.equal((ctx as { oidc: { client?: { clientId: string } } }).oidc.client?.clientId, machine.id);
    });
  });
}

const postgres = testDatabases().find((kind) => kind.name === 'postgres');

// An outage of an embedded SQLite file is a disk failure, not something to recover from by waiting;
// the outage that replicas must ride out is PostgreSQL going away.
describe('a database outage (postgres)', { skip: postgres ? false : 'needs TEST_DATABASE_URL' }, () => {
  let server: TestServer;
  let drop: () => Promise<void>;
  let databaseName: string;
  let admin: pg.Client;

  before(async () => {
    const db = await postgres!.create();
    drop = db.drop;
    databaseName = new URL(db.url).pathname.slice(1);
    admin = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
    server = await startTestServer({ databaseUrl: db.url });
  });

  after(async () => {
    await admin?.query(`ALTER DATABASE ${databaseName} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await server?.close();
    await drop?.();
  });

  /** Only this test's database goes away: new connections are refused and open ones are ended. */
  async function takeDatabaseAway(): Promise<void> {
    await admin.query(`ALTER DATABASE ${databaseName} WITH ALLOW_CONNECTIONS false`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [databaseName]);
  }

  it('answers 503 with Retry-After in each caller’s shape while the database is away, and recovers by itself', async () => {
    const token = await server.managementToken();
    const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
    await takeDatabaseAway();

    const health = await fetch(`${server.url}/health`);
    assert.equal(health.status, 503);
    assert.ok(health.headers.get('retry-after'));
    assert.deepEqual(await health.json(), { status: 'unavailable' });
    assert.equal((await fetch(`${server.url}/health/live`)).status, 200, 'alive all the same: no restart needed');

    const users = await fetch(`${server.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(users.status, 503);
    assert.ok(users.headers.get('retry-after'));
    assert.equal(((await users.json()) as { errors: Array<{ code: string }> }).errors[0]!.code, 'SERVICE_UNAVAILABLE');

    const page = await fetch(`${server.url}/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'outage' })}`, { redirect: 'manual' });
    assert.equal(page.status, 503);
    assert.ok(page.headers.get('retry-after'));
    assert.match(await page.text(), /Please try again in a moment/);

    await admin.query(`ALTER DATABASE ${databaseName} WITH ALLOW_CONNECTIONS true`);
    assert.equal((await fetch(`${server.url}/health`)).status, 200, 'ready again as soon as the database is back');
    assert.equal((await fetch(`${server.url}/api/v1/users`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
  });
});
