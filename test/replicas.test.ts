import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { testDatabases } from './support/databases.ts';
import { codeForEmailSignIn } from './support/code-grant.ts';
import { FormDriver } from './support/form-driver.ts';
import { freePort } from './support/ports.ts';
import { BOOTSTRAP } from './support/server.ts';
import { startReplica } from './support/replica.ts';
import type { ChildProcess } from 'node:child_process';
import { TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

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

  const codeFromReplicaA = () => codeForEmailSignIn(replicas[0]!.url, smtp, 'replica@example.test', { client_id: spaId, redirect_uri: CALLBACK, scope: 'openid email offline' });

  const tokenAt = (url: string, params: Record<string, string>) =>
    fetch(`${url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ client_id: spaId, ...params }) }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));

  it('redeems at one replica a code issued by the other, and rejects at one a refresh token rotated at the other, ending its access tokens at both', async () => {
    const [a, b] = replicas;
    assert.ok(a && b);
    const { code, verifier } = await codeFromReplicaA();
    const exchanged = await tokenAt(b.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
    assert.equal(exchanged.status, 200, JSON.stringify(exchanged.body));
    assert.ok(exchanged.body.refresh_token);

    const rotated = await tokenAt(a.url, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(rotated.status, 200);
    const profileAt = async (url: string) => (await fetch(`${url}/oauth2/v2/user_profile`, { headers: { authorization: `Bearer ${rotated.body.access_token}` } })).status;
    assert.equal(await profileAt(b.url), 200, 'a token signed by one replica is accepted by the other');

    const reused = await tokenAt(b.url, { grant_type: 'refresh_token', refresh_token: exchanged.body.refresh_token! });
    assert.equal(reused.status, 400);
    assert.equal(reused.body.error, 'invalid_grant');
    // RFC 9700 §4.14: the replay ended the grant, so its access tokens end too, at every replica.
    assert.equal(await profileAt(a.url), 401);
    assert.equal(await profileAt(b.url), 401);
  });

  /** The same request sent 8 times at once, alternately to each replica: exactly one may succeed. */
  async function raceAtBothReplicas(params: Record<string, string>): Promise<Record<string, string>> {
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => tokenAt(replicas[i % 2]!.url, params)));
    const winners = answers.filter((answer) => answer.status === 200);
    assert.equal(winners.length, 1, `exactly one redemption succeeds: ${JSON.stringify(answers.map((a) => a.status))}`);
    for (const loser of answers.filter((answer) => answer.status !== 200)) assert.equal(loser.body.error, 'invalid_grant');
    return winners[0]!.body;
  }

  it('redeems a code or a refresh token once when redemptions race at both replicas, and revokes the family', async () => {
    const raced = await codeFromReplicaA();
    const fromRacedCode = await raceAtBothReplicas({ grant_type: 'authorization_code', code: raced.code, code_verifier: raced.verifier, redirect_uri: CALLBACK });
    assert.equal((await tokenAt(replicas[1]!.url, { grant_type: 'refresh_token', refresh_token: fromRacedCode.refresh_token! })).body.error, 'invalid_grant');

    const { code, verifier } = await codeFromReplicaA();
    const issued = await tokenAt(replicas[1]!.url, { grant_type: 'authorization_code', code, code_verifier: verifier, redirect_uri: CALLBACK });
    const winner = await raceAtBothReplicas({ grant_type: 'refresh_token', refresh_token: issued.body.refresh_token! });
    assert.equal((await tokenAt(replicas[0]!.url, { grant_type: 'refresh_token', refresh_token: winner.refresh_token! })).body.error, 'invalid_grant', 'the family ended');
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
