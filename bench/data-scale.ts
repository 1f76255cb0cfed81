/**
 * Data-scale benchmark (a benchmark, not a test): `npm run bench:data-scale`.
 *
 * Does any request get slower as the user base grows? One Gatehouse per database; the users, their
 * email identities, organizations and memberships are seeded straight through SQL (the management
 * API would take hours for a million), first BENCH_SMALL (1,000) users, then up to BENCH_USERS
 * (1,000,000). At each size every management list and lookup, and the sign-in's identify step, is
 * timed sequentially over loopback (BENCH_SAMPLES each, after warm-up), and the report prints p50 at
 * both sizes and their ratio. Target (issue 13): every ratio ≤ 2.
 *
 * SQLite always; PostgreSQL too when BENCH_DATABASE_URL (or TEST_DATABASE_URL) names a server — a
 * fresh database is made on it and dropped afterwards. Seeding a million rows takes about a minute on
 * each. See docs/benchmarks.md.
 */
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { type DatabaseKind, testDatabases } from '../test/support/databases.ts';
import { FormDriver } from '../test/support/form-driver.ts';
import { startTestServer, type TestServer } from '../test/support/server.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { numberFromEnv } from './support.ts';

const SMALL = numberFromEnv('BENCH_SMALL', 1_000);
const LARGE = numberFromEnv('BENCH_USERS', 1_000_000);
const SAMPLES = numberFromEnv('BENCH_SAMPLES', 40);
/** One organization per this many users; the first, "big", has every tenth user as a member. */
const USERS_PER_ORGANIZATION = 100;
const BATCH = 10_000;
const START = Date.UTC(2020, 0, 1);

if (!process.env.TEST_DATABASE_URL && process.env.BENCH_DATABASE_URL) process.env.TEST_DATABASE_URL = process.env.BENCH_DATABASE_URL;

/** The rows of seeded user `n` (deterministic, so both sizes and both databases hold the same people). */
function seededRows(n: number) {
  const hex = n.toString(16).padStart(32, '0');
  const createdAt = START + n * 1000;
  const email = `user${n}@scale.test`;
  return {
    user: [`kp_${hex}`, 'Seeded', `User ${n}`, createdAt % 7 === 0 ? createdAt : null, createdAt, createdAt] as const,
    identity: [`identity_${hex}`, `kp_${hex}`, 'email', email, email, createdAt] as const,
    membership: n % 10 === 0 ? ([organizationCode(0), `kp_${hex}`, createdAt] as const) : undefined,
    organization: n % USERS_PER_ORGANIZATION === 0 ? ([organizationCode(n / USERS_PER_ORGANIZATION), `Organization ${n}`, createdAt] as const) : undefined,
  };
}

const organizationCode = (n: number) => `org_${n.toString(16).padStart(11, '0')}`;

interface Seeder {
  /** Adds seeded users [from, to). */
  seed(from: number, to: number): Promise<void>;
  analyze(): Promise<void>;
  close(): Promise<void>;
}

function sqliteSeeder(url: string): Seeder {
  const db = new SQLite(url.replace(/^sqlite:/, ''));
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  const user = db.prepare(
    `INSERT INTO users (id, first_name, last_name, last_signed_in, is_suspended, total_sign_ins, failed_sign_ins, is_password_reset_requested, accepts_marketing, created_at, updated_at)
     VALUES (?, ?, ?, ?, 0, 0, 0, 0, 0, ?, ?)`,
  );
  const identity = db.prepare(
    `INSERT INTO identities (id, user_id, type, value, normalized_value, is_verified, is_primary, total_logins, created_at) VALUES (?, ?, ?, ?, ?, 1, 1, 0, ?)`,
  );
  const member = db.prepare('INSERT INTO organization_members (organization_code, user_id, joined_at) VALUES (?, ?, ?)');
  const organization = db.prepare(
    `INSERT INTO organizations (code, name, is_default, allowed_domains, is_auto_join_domain_list, is_allow_registrations, has_own_connections, created_at)
     VALUES (?, ?, 0, '[]', 0, 1, 0, ?)`,
  );
  const batch = db.transaction((from: number, to: number) => {
    for (let n = from; n < to; n++) {
      const rows = seededRows(n);
      if (rows.organization) organization.run(...rows.organization);
      user.run(...rows.user);
      identity.run(...rows.identity);
      if (rows.membership) member.run(...rows.membership);
    }
  });
  return {
    async seed(from, to) {
      for (let start = from; start < to; start += BATCH) batch(start, Math.min(to, start + BATCH));
    },
    async analyze() {
      db.exec('ANALYZE');
    },
    async close() {
      db.close();
    },
  };
}

function postgresSeeder(url: string): Seeder {
  const client = new pg.Client({ connectionString: url });
  const connected = client.connect();
  // The same rows as seededRows, made by the server from generate_series.
  const hex = "lpad(to_hex(n), 32, '0')";
  const created = `(${START}::bigint + n * 1000)`;
  const orgCode = (n: string) => `'org_' || lpad(to_hex(${n}), 11, '0')`;
  return {
    async seed(from, to) {
      await connected;
      const range = `generate_series(${from}, ${to - 1}) AS n`;
      await client.query('BEGIN');
      await client.query(
        `INSERT INTO organizations (code, name, is_default, allowed_domains, is_auto_join_domain_list, is_allow_registrations, has_own_connections, created_at)
         SELECT ${orgCode(`n / ${USERS_PER_ORGANIZATION}`)}, 'Organization ' || n, 0, '[]', 0, 1, 0, ${created} FROM ${range} WHERE n % ${USERS_PER_ORGANIZATION} = 0`,
      );
      await client.query(
        `INSERT INTO users (id, first_name, last_name, last_signed_in, is_suspended, total_sign_ins, failed_sign_ins, is_password_reset_requested, accepts_marketing, created_at, updated_at)
         SELECT 'kp_' || ${hex}, 'Seeded', 'User ' || n, CASE WHEN ${created} % 7 = 0 THEN ${created} END, 0, 0, 0, 0, 0, ${created}, ${created} FROM ${range}`,
      );
      await client.query(
        `INSERT INTO identities (id, user_id, type, value, normalized_value, is_verified, is_primary, total_logins, created_at)
         SELECT 'identity_' || ${hex}, 'kp_' || ${hex}, 'email', 'user' || n || '@scale.test', 'user' || n || '@scale.test', 1, 1, 0, ${created} FROM ${range}`,
      );
      await client.query(
        `INSERT INTO organization_members (organization_code, user_id, joined_at) SELECT ${orgCode('0')}, 'kp_' || ${hex}, ${created} FROM ${range} WHERE n % 10 = 0`,
      );
      await client.query('COMMIT');
    },
    async analyze() {
      await connected;
      await client.query('ANALYZE');
    },
    async close() {
      await client.end();
    },
  };
}

interface Probe {
  name: string;
  run(): Promise<void>;
}

async function probes(server: TestServer): Promise<Probe[]> {
  const application = await server.createApplication({ type: 'reg', redirectUrls: ['http://127.0.0.1:1/callback'] });
  await server.useSignInMethods(application.id, ['email:password']);
  const ok = async (path: string) => {
    const { status, body } = await server.api('GET', path);
    if (status !== 200) throw new Error(`${path}: ${status} ${JSON.stringify(body)}`);
    return body;
  };
  const secondPage = (await ok('/users?page_size=10')).next_token as string;
  const middle = Math.floor(SMALL / 2);
  const middleId = seededRows(middle).user[0];
  await setPassword(server.services.db, middleId, 'a long benchmark passphrase 42');
  const identify = async () => {
    const driver = new FormDriver(server.url);
    const query = new URLSearchParams({ client_id: application.id, redirect_uri: 'http://127.0.0.1:1/callback', response_type: 'code', scope: 'openid', state: 'bench' });
    await driver.go(`/oauth2/auth?${query}`);
    await driver.submit({ identifier: `user${middle}@scale.test` });
    if (!driver.lastPage.includes('name="password"')) throw new Error('the identify step did not reach the password page');
  };
  return [
    { name: 'GET /users?page_size=10', run: () => ok('/users?page_size=10') },
    { name: 'GET /users?page_size=10&next_token (page 2)', run: () => ok(`/users?page_size=10&next_token=${secondPage}`) },
    { name: 'GET /users?email=', run: () => ok(`/users?email=user${middle}%40scale.test`) },
    { name: 'GET /users?has_organization=true', run: () => ok('/users?page_size=10&has_organization=true') },
    { name: 'GET /user?id=', run: () => ok(`/user?id=${middleId}`) },
    { name: 'GET /users/{id}/identities', run: () => ok(`/users/${middleId}/identities`) },
    { name: 'GET /organizations?page_size=10', run: () => ok('/organizations?page_size=10') },
    { name: 'GET /organizations/{big}/users?page_size=10', run: () => ok(`/organizations/${organizationCode(0)}/users?page_size=10`) },
    { name: 'GET /organization?code=', run: () => ok(`/organization?code=${organizationCode(1)}`) },
    { name: 'sign-in: authorize + identify (to the password page)', run: identify },
  ];
}

async function timeProbes(list: Probe[]): Promise<Map<string, { p50: number; p95: number }>> {
  const results = new Map<string, { p50: number; p95: number }>();
  for (const probe of list) {
    // The client's kept-alive socket may have been closed by the server while seeding: one retry.
    await probe.run().catch(() => probe.run());
    for (let i = 0; i < 5; i++) await probe.run();
    const samples: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      await probe.run();
      samples.push(performance.now() - started);
    }
    samples.sort((a, b) => a - b);
    results.set(probe.name, { p50: samples[Math.floor(samples.length / 2)]!, p95: samples[Math.floor(samples.length * 0.95)]! });
  }
  return results;
}

async function runOn(kind: DatabaseKind): Promise<void> {
  const database = await kind.create();
  const server = await startTestServer({ databaseUrl: database.url });
  const seeder = kind.name === 'sqlite' ? sqliteSeeder(database.url) : postgresSeeder(database.url);
  try {
    await seeder.seed(0, SMALL);
    await seeder.analyze();
    const list = await probes(server);
    const small = await timeProbes(list);
    const seeding = performance.now();
    for (let from = SMALL; from < LARGE; from += 100_000) await seeder.seed(from, Math.min(LARGE, from + 100_000));
    await seeder.analyze();
    console.log(`\n${kind.name}: seeded ${LARGE.toLocaleString('en')} users in ${((performance.now() - seeding) / 1000).toFixed(0)} s`);
    const large = await timeProbes(list);
    console.log(`\n| ${kind.name} | p50 at ${SMALL.toLocaleString('en')} users | p50 at ${LARGE.toLocaleString('en')} | p95 at ${LARGE.toLocaleString('en')} | **ratio** (target ≤ 2) |`);
    console.log('| --- | --- | --- | --- | --- |');
    for (const probe of list) {
      const a = small.get(probe.name)!;
      const b = large.get(probe.name)!;
      const ratio = b.p50 / a.p50;
      console.log(`| ${probe.name} | ${a.p50.toFixed(2)} ms | ${b.p50.toFixed(2)} ms | ${b.p95.toFixed(2)} ms | **${ratio.toFixed(2)}**${ratio > 2 ? ' MISSED' : ''} |`);
    }
  } finally {
    await seeder.close();
    await server.close();
    await database.drop();
  }
}

for (const kind of testDatabases()) await runOn(kind);
