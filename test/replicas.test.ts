import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { BOOTSTRAP } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A real Gatehouse process (`npm start`'s entry point); resolves once it logs that it is listening. */
async function startReplica(env: Record<string, string>, port: number): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'info', GATEHOUSE_DATA_DIR: mkdtempSync(join(tmpdir(), 'gatehouse-replica-')) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  await new Promise<void>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      if (line.includes('Gatehouse is listening')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`replica exited with ${code}: ${stderr}`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

const postgres = testDatabases().find((kind) => kind.name === 'postgres');

describe('two Gatehouse processes sharing one PostgreSQL database', { skip: postgres ? false : 'needs TEST_DATABASE_URL' }, () => {
  let replicas: Array<{ child: ChildProcess; url: string }> = [];
  let smtp: TestSmtp;
  let drop: () => Promise<void>;
  let issuer: string;
  let spaId: string;
  let passwordAppId: string;

  before(async () => {
    smtp = await new TestSmtp().start();
    const db = await postgres!.create();
    drop = db.drop;
    const issuerPort = await freePort();
    issuer = `http://127.0.0.1:${issuerPort}`;
    const env = {
      DATABASE_URL: db.url,
      ISSUER_URL: issuer,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
      GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
      SMTP_URL: smtp.url,
    };
    // Both start at once: migrations, built-in connections and the bootstrap client must not race.
    replicas = await Promise.all([startReplica(env, issuerPort), startReplica(env, await freePort())]);

    const token = await fetch(`${replicas[0]!.url}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${issuer}/api` }),
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    const { Kysely, PostgresDialect } = await import('kysely');
    const pg = (await import('pg')).default;
    const kysely = new Kysely<any>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.url, max: 1 }) }) });
    const { createApplication, updateApplication } = await import('../src/domain/applications.ts');
    const { application } = await createApplication(kysely, { name: 'Replica SPA', type: 'spa' });
    await updateApplication(kysely, application.id, { redirectUrls: [CALLBACK], askForNames: false });
    spaId = application.id;

    const { disableConnection, enableConnection, listConnections } = await import('../src/domain/connections.ts');
    const { createUser } = await import('../src/domain/users.ts');
    const { setPassword } = await import('../src/domain/passwords.ts');
    const web = await createApplication(kysely, { name: 'Replica web app', type: 'reg' });
    await updateApplication(kysely, web.application.id, { redirectUrls: [CALLBACK] });
    const connections = await listConnections(kysely);
    const byStrategy = (strategy: string) => connections.find((c) => c.strategy === strategy)!.id;
    await disableConnection(kysely, web.application.id, byStrategy('email:otp'));
    await enableConnection(kysely, web.application.id, byStrategy('email:password'));
    passwordAppId = web.application.id;
    const user = await createUser(kysely, { identities: [{ type: 'email', value: 'locked@example.test', isVerified: true }] });
    await setPassword(kysely, user.id, 'the right password');
    await kysely.destroy();
    assert.ok(token.access_token);
  });

  after(async () => {
    await Promise.all(
      replicas.map(({ child }) => new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGTERM'))))),
    );
    await smtp?.stop();
    await drop?.();
  });

  async function codeFromReplicaA(): Promise<{ code: string; verifier: string }> {
    const verifier = randomBytes(32).toString('base64url');
    const { createHash } = await import('node:crypto');
    const params = new URLSearchParams({
      client_id: spaId,
      response_type: 'code',
      redirect_uri: CALLBACK,
      scope: 'openid email offline',
      state: 'replicas',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const driver = new FormDriver(replicas[0]!.url);
    await driver.go(`/oauth2/auth?${params}`);
    const mail = smtp.nextMessageTo('replica@example.test');
    await driver.submit({ identifier: 'replica@example.test' });
    const callback = await driver.submit({ code: codeIn(await mail) });
    return { code: callback!.searchParams.get('code')!, verifier };
  }

  const tokenAt = (url: string, params: Record<string, string>) =>
    fetch(`${url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ client_id: spaId, ...params }) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));

  it('redeems at one replica a code issued by the other, and rejects at one a refresh token rotated at the other', async () => {
    const [a, b] = replicas;
    assert.ok(a && b);
    const { code, verifier } = await codeFromReplicaA();
    const exchanged = await tokenAt(b.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    assert.ok(exchanged.body.refresh_token);

    const rotated = await tokenAt(a.url, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(rotated.status, 200);
    const reused = await tokenAt(b.url, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');

    const profile = await fetch(`${b.url}/oauth2/v2/user_profile`, { headers: { authorization: `Bearer ${rotated.body.access_token}` } });
    assert.equal(profile.status, 200, 'a token signed by one replica is accepted by the other');
  });

  it('keeps a lockout earned across both replicas on both', async () => {
    const [a, b] = replicas;
    assert.ok(a && b);
    const passwordPage = async (url: string) => {
      const driver = new FormDriver(url);
      const params = new URLSearchParams({ client_id: passwordAppId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'lock' });
      await driver.go(`/oauth2/auth?${params}`);
      await driver.submit({ identifier: 'locked@example.test' });
      return driver;
    };
    const atA = await passwordPage(a.url);
    const atB = await passwordPage(b.url);
    for (let i = 0; i < 3; i++) await atA.submit({ password: 'wrong password' });
    await atB.submit({ password: 'wrong password' });
    await atB.submit({ password: 'wrong password' });
    assert.match(atB.lastPage, /locked until/, 'the fifth wrong attempt, at the other replica, locks');
    await atA.submit({ password: 'the right password' });
    assert.match(atA.lastPage, /locked until/, 'the lock holds at the first replica too');
  });
});
