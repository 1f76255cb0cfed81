/**
 * Refresh grant and SSO round trip benchmark (a benchmark, not a test): `npm run bench:token-paths`.
 *
 * In one run, on SQLite (or a fresh PostgreSQL database when DATABASE_URL=postgres://…):
 *   1. BENCH_PEOPLE people sign in once on the hosted pages (email + password) to a confidential
 *      application with `openid profile email offline`: each keeps an SSO session and a refresh token;
 *   2. SQL census: BENCH_CENSUS sequential refreshes and SSO round trips, their statements counted;
 *   3. for each path, closed-loop load from a child process (bench/token-paths-loadgen.mjs, one worker
 *      per person), in BENCH_ROUNDS rounds, each followed by as long a raw RS256 signing window (the
 *      denominator, as in `npm run bench`): the ratio is the path's rate ÷ raw signs/s;
 *        refresh   — POST /oauth2/token grant_type=refresh_token (rotation: each answer's refresh
 *                    token is the next request's); two signatures per refresh (access + ID token);
 *        sso       — GET /oauth2/auth with the session cookie → redirects → the callback's code →
 *                    POST /oauth2/token (PKCE): what an application does when a signed-in person opens it;
 *      after each signing window, a round of the same path as long against the bare engine
 *      (bench/bare-engine.ts: oidc-provider 9 alone, in memory, Gatehouse's paths and token claims;
 *      as many people, each signed in once on it), from the same child: Gatehouse ÷ bare engine is
 *      what Gatehouse adds to the engine's own cost, and each one's main-thread CPU per request;
 *   4. the SSO round trip in an open loop at half the closed-loop rate: p50/p99 latency.
 * Targets (issue 13): refresh ≥ 0.4 (SQLite) / ≥ 0.3 (PostgreSQL); SSO ≥ 0.35, p99 ≤ 25 ms at half rate.
 *
 * Knobs: DATABASE_URL, BENCH_PEOPLE (10), BENCH_DURATION (15 s of load per path), BENCH_ROUNDS (5),
 * BENCH_WARMUP (2), BENCH_CENSUS (20; 0 skips it), BENCH_OPEN_SECONDS (10), BENCH_PATHS (refresh,sso), BENCH_PEER=0
 * (no bare-engine rounds).
 * See docs/benchmarks.md.
 */
import { fork } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { type Gatehouse, startGatehouse } from '../src/app.ts';
import { createApplication, updateApplication } from '../src/domain/applications.ts';
import { applicationConnections, disableConnection, enableConnection, listConnections } from '../src/domain/connections.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { loadConfig } from '../src/config.ts';
import { FormDriver } from '../test/support/form-driver.ts';
import { census, cpuMark, type CpuMark, describeNoise, foreignCores, installCensus, mainThreadMsPer, measureJoseSign, processSeconds, threadSeconds, postgresWatch, type SignResult } from './measure.ts';
import { bareAccountId, startBareUserEngineProcess, USER_SCOPE } from './bare-engine.ts';
import { createDatabase, numberFromEnv } from './support.ts';

const profiling = process.execArgv.some((arg) => arg.startsWith('--cpu-prof'));

const options = {
  people: numberFromEnv('BENCH_PEOPLE', 10),
  durationSeconds: numberFromEnv('BENCH_DURATION', 15),
  rounds: numberFromEnv('BENCH_ROUNDS', 5),
  warmupSeconds: numberFromEnv('BENCH_WARMUP', 2),
  census: numberFromEnv('BENCH_CENSUS', 20),
  openSeconds: numberFromEnv('BENCH_OPEN_SECONDS', 10),
  paths: (process.env.BENCH_PATHS ?? 'refresh,sso').split(',') as Array<'refresh' | 'sso'>,
  /** Peer rounds against the bare engine (bench/bare-engine.ts); BENCH_PEER=0 skips them. */
  peer: process.env.BENCH_PEER !== '0',
};

const CALLBACK = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a long benchmark passphrase 42';
const TARGETS = { refresh: { sqlite: 0.4, postgres: 0.3 }, sso: { sqlite: 0.35, postgres: 0.35 } } as const;

interface Person {
  cookies: Record<string, string>;
  refreshToken: string;
  verifier: string;
  challenge: string;
}

interface LoadResult {
  done: number;
  seconds: number;
  latencies: number[];
  cpuMicros: number;
  people: Person[];
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN;

/**
 * One sign-in; the person keeps the browser's cookies (the SSO session) and the refresh token. `walk`
 * goes from the authorization request to the callback: Gatehouse's hosted pages, or the bare engine's
 * interaction that signs in whoever `login_hint` names.
 */
async function signIn(origin: string, client: { id: string; secret: string }, walk: (driver: FormDriver, query: URLSearchParams) => Promise<URL | undefined>): Promise<Person> {
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const driver = new FormDriver(origin);
  const query = new URLSearchParams({ client_id: client.id, redirect_uri: CALLBACK, response_type: 'code', scope: USER_SCOPE, state: 's', code_challenge: challenge, code_challenge_method: 'S256' });
  const callback = await walk(driver, query);
  const code = callback?.searchParams.get('code');
  if (!code) throw new Error(`sign-in did not reach the callback: ${driver.lastUrl}`);
  const response = await fetch(`${origin}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: CALLBACK, code_verifier: verifier }),
  });
  const tokens = (await response.json()) as { refresh_token?: string };
  if (!tokens.refresh_token) throw new Error(`no refresh token from ${origin}: ${JSON.stringify(tokens)}`);
  const cookies = Object.fromEntries(['_session', '_session.sig', '_session.legacy', '_session.legacy.sig'].flatMap((name) => (driver.cookie(name) ? [[name, driver.cookie(name)!]] : [])));
  return { cookies, refreshToken: tokens.refresh_token, verifier, challenge };
}

const hostedPages = (email: string) => async (driver: FormDriver, query: URLSearchParams) => {
  await driver.go(`/oauth2/auth?${query}`);
  await driver.submit({ identifier: email });
  return driver.submit({ password: PASSWORD });
};
const bareInteraction = (n: number) => (driver: FormDriver, query: URLSearchParams) => {
  query.set('login_hint', bareAccountId(n));
  return driver.go(`/oauth2/auth?${query}`);
};

/** A refresh outside the load: its tokens show the claims each server issues. */
async function refreshOnce(origin: string, client: { basic: string }, person: Person): Promise<{ access_token: string; id_token: string }> {
  const response = await fetch(`${origin}/oauth2/token`, {
    method: 'POST',
    headers: { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: person.refreshToken }),
  });
  const tokens = (await response.json()) as { access_token?: string; id_token?: string; refresh_token?: string };
  if (!tokens.access_token || !tokens.id_token || !tokens.refresh_token) throw new Error(`refresh at ${origin} failed: ${response.status} ${JSON.stringify(tokens)}`);
  person.refreshToken = tokens.refresh_token;
  return { access_token: tokens.access_token, id_token: tokens.id_token };
}

const claimNames = (token: string) => Object.keys(decodeJwt(token)).sort().join(',');

const basic = (client: { id: string; secret: string }) => `Basic ${Buffer.from(`${encodeURIComponent(client.id)}:${encodeURIComponent(client.secret)}`).toString('base64')}`;

function loadGenerator() {
  const child = fork(fileURLToPath(new URL('./token-paths-loadgen.mjs', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    run: (message: Record<string, unknown>) =>
      new Promise<LoadResult>((resolve, reject) => {
        const exited = (code: number | null) => reject(new Error(`load generator exited with code ${code}`));
        child.once('exit', exited);
        child.once('message', (answer: { type: string; error?: string } & LoadResult) => {
          child.off('exit', exited);
          if (answer.type === 'error') reject(new Error(`load generator failed: ${answer.error}`));
          else resolve(answer);
        });
        child.send({ type: 'run', ...message });
      }),
    close: () => child.send({ type: 'exit' }),
  };
}

/** CPU this process (the server) and the local PostgreSQL backends spent between two marks, per request. */
function perRequestCpu(start: CpuMark, end: CpuMark, requests: number): { serverMs: number; postgresMs: number } {
  const n = Math.max(1, requests);
  return { serverMs: (end.ownMicros - start.ownMicros) / 1000 / n, postgresMs: ((end.postgresSeconds - start.postgresSeconds) * 1000) / n };
}

async function main(): Promise<number> {
  installCensus();
  const database = await createDatabase();
  postgresWatch.on = database.kind === 'postgres';
  // Only the backends of the bench's own database: other work on the same server is noise, not cost.
  if (database.kind === 'postgres') postgresWatch.database = new URL(database.url).pathname.slice(1);
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-data-'));
  let gatehouse: Gatehouse | undefined;
  let bare: Awaited<ReturnType<typeof startBareUserEngineProcess>> | undefined;
  const load = loadGenerator();
  try {
    gatehouse = await startGatehouse(
      loadConfig({
        PORT: '0',
        HOST: '127.0.0.1',
        DATABASE_URL: database.url,
        GATEHOUSE_DATA_DIR: dataDir,
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
        LOG_LEVEL: 'silent',
      }),
    );
    const origin = gatehouse.url.replace('//localhost:', '//127.0.0.1:');
    const { db } = gatehouse.services;
    const { application, clientSecret } = await createApplication(db, { name: 'Bench app', type: 'reg' });
    await updateApplication(db, application.id, { redirectUrls: [CALLBACK], logoutUrls: [] });
    for (const connection of await applicationConnections(db, application.id)) await disableConnection(db, application.id, connection.id);
    await enableConnection(db, application.id, (await listConnections(db)).find((c) => c.strategy === 'email:password')!.id);
    const client = { id: application.id, secret: clientSecret!, basic: '' };
    client.basic = basic(client);

    let people: Person[] = [];
    for (let n = 0; n < options.people; n++) {
      const email = `bench${n}@paths.test`;
      const user = await createUser(db, { firstName: 'Bench', lastName: `Person ${n}`, identities: [{ type: 'email', value: email, isVerified: true, connectionId: null }] });
      await setPassword(db, user.id, PASSWORD);
      people.push(await signIn(origin, client, hostedPages(email)));
    }
    // The bare engine: the same client, as many people, each signed in once on it.
    let barePeople: Person[] = [];
    if (options.peer) {
      bare = await startBareUserEngineProcess(client, CALLBACK);
      for (let n = 0; n < options.people; n++) barePeople.push(await signIn(bare.origin, client, bareInteraction(n)));
    }

    // A real access token from a refresh gives the raw signer its header and payload shape.
    const sample = await refreshOnce(origin, client, people[0]!);
    const bareSample = bare ? await refreshOnce(bare.origin, client, barePeople[0]!) : undefined;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const header: Record<string, unknown> = { ...decodeProtectedHeader(sample.access_token), alg: 'RS256' };
    const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: String(header.kid ?? 'bench'), alg: 'RS256' };
    const payload = decodeJwt(sample.access_token) as Record<string, unknown>;
    await measureJoseSign('warm-up', jwk, header, payload, 1, 1);

    console.log(`Gatehouse token paths benchmark — ${new Date().toISOString()}`);
    console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`database: ${database.kind}; ${options.people} people, each with an SSO session and a refresh token; load from a child process`);
    console.log(`access token: header ${JSON.stringify(header)}, ${sample.access_token.length} chars, claims ${claimNames(sample.access_token)}`);
    console.log(`ID token: ${sample.id_token.length} chars, claims ${claimNames(sample.id_token)}`);
    if (bareSample) {
      console.log(`bare engine (oidc-provider 9 alone, in memory): access token ${bareSample.access_token.length} chars, ID token ${bareSample.id_token.length} chars`);
      for (const kind of ['access_token', 'id_token'] as const) {
        if (claimNames(bareSample[kind]) !== claimNames(sample[kind])) console.log(`note: the bare engine's ${kind} claims ${claimNames(bareSample[kind])} differ from Gatehouse's`);
      }
    }
    console.log('');

    const noise: string[] = [];
    const noisy: string[] = [];
    const summary: string[] = [];
    for (const path of options.paths) {
      const message = { mode: path, origin, client, callback: CALLBACK };
      // SQL census: sequential requests through the same child, counted in this (the server's) process.
      census.statements.clear();
      census.sqliteMillis.clear();
      census.on = true;
      const censusStart = cpuMark();
      const counted = await load.run({ ...message, people: [people[0]], seconds: 60, maxTrips: options.census });
      const censusEnd = cpuMark();
      census.on = false;
      const censusCpu = perRequestCpu(censusStart, censusEnd, counted.done);
      people[0] = counted.people[0]!;
      const statements = [...census.statements.values()].reduce((a, b) => a + b, 0) / Math.max(1, counted.done);

      const roundSeconds = options.durationSeconds / Math.max(1, options.rounds);
      people = (await load.run({ ...message, people, seconds: options.warmupSeconds })).people;
      const peerMessage = bare && { ...message, origin: bare.origin };
      if (peerMessage) barePeople = (await load.run({ ...peerMessage, people: barePeople, seconds: options.warmupSeconds })).people;
      let done = 0;
      let loadCpu = { serverMs: 0, postgresMs: 0 };
      let mainThreadMs = 0;
      let loadSeconds = 0;
      let signs = 0;
      let signSeconds = 0;
      const latencies: number[] = [];
      const perRound: string[] = [];
      // The bare engine's rounds: one after each raw signing window, same length, same child, as many people.
      const peer = { done: 0, seconds: 0, serverMs: 0, mainThreadMs: 0, perRound: [] as string[], versus: [] as string[] };
      for (let round = 1; round <= options.rounds; round++) {
        const start = cpuMark();
        const startUs = Number(process.hrtime.bigint() / 1000n);
        const result = await load.run({ ...message, people, seconds: roundSeconds });
        if (profiling) console.log(`   profile window ${path} round ${round} (monotonic µs, ${result.done} done): ${startUs}-${Number(process.hrtime.bigint() / 1000n)}`);
        const end = cpuMark();
        noise.push(describeNoise(`${path} round ${round}`, foreignCores(start, end, result.cpuMicros), noisy));
        const roundCpu = perRequestCpu(start, end, 1);
        loadCpu = { serverMs: loadCpu.serverMs + roundCpu.serverMs, postgresMs: loadCpu.postgresMs + roundCpu.postgresMs };
        mainThreadMs += mainThreadMsPer(start, end, 1) ?? Number.NaN;
        people = result.people;
        const signStart = cpuMark();
        const sign: SignResult = await measureJoseSign('raw', jwk, header, payload, roundSeconds, 1);
        noise.push(describeNoise(`raw signing after ${path} round ${round}`, foreignCores(signStart, cpuMark()), noisy));
        done += result.done;
        loadSeconds += result.seconds;
        signs += sign.signs;
        signSeconds += sign.seconds;
        latencies.push(...result.latencies);
        perRound.push((result.done / result.seconds / sign.perSecond).toFixed(2));
        if (peerMessage) {
          // The bare engine runs in its own process (bare-engine-process.ts): its CPU is read from there.
          const engineCpu = () => ({ all: processSeconds(bare!.pid) ?? Number.NaN, main: threadSeconds(bare!.pid, bare!.pid) ?? Number.NaN });
          const peerStart = cpuMark();
          const engineStart = engineCpu();
          const peerStartUs = Number(process.hrtime.bigint() / 1000n);
          const peerResult = await load.run({ ...peerMessage, people: barePeople, seconds: roundSeconds });
          if (profiling) console.log(`   profile window bare engine ${path} round ${round} (monotonic µs, ${peerResult.done} done; its own profile): ${peerStartUs}-${Number(process.hrtime.bigint() / 1000n)}`);
          const engineEnd = engineCpu();
          const peerEnd = cpuMark();
          const engineMicros = (engineEnd.all - engineStart.all) * 1e6;
          noise.push(describeNoise(`bare engine after ${path} round ${round}`, foreignCores(peerStart, peerEnd, peerResult.cpuMicros + engineMicros), noisy));
          barePeople = peerResult.people;
          peer.done += peerResult.done;
          peer.seconds += peerResult.seconds;
          peer.serverMs += engineMicros / 1000;
          peer.mainThreadMs += (engineEnd.main - engineStart.main) * 1000;
          const peerRate = peerResult.done / peerResult.seconds;
          peer.perRound.push((peerRate / sign.perSecond).toFixed(2));
          peer.versus.push((result.done / result.seconds / peerRate).toFixed(2));
        }
      }
      latencies.sort((a, b) => a - b);
      const rate = done / loadSeconds;
      const raw = signs / signSeconds;
      const ratio = rate / raw;
      const target = TARGETS[path][database.kind];
      console.log(`${path}: ${fmt(rate)}/s closed loop (${options.people} workers), raw RS256 ${fmt(raw)} signs/s between rounds, latency p50 ${fmt(percentile(latencies, 0.5), 1)} ms, p99 ${fmt(percentile(latencies, 0.99), 1)} ms`);
      const counting = counted.done > 0;
      console.log(`   SQL statements per ${path === 'refresh' ? 'refresh' : 'round trip'} (BEGIN/COMMIT included: on PostgreSQL, each is a round trip): ${counting ? fmt(statements, 1) : 'not counted (BENCH_CENSUS=0)'}`);
      const cpuLine = (cpu: { serverMs: number; postgresMs: number }) => `server ${fmt(cpu.serverMs, 2)} ms${database.kind === 'postgres' ? ` + PostgreSQL backends ${fmt(cpu.postgresMs, 2)} ms` : ''}`;
      console.log(`   CPU per request: ${counting ? `sequential (census) ${cpuLine(censusCpu)}; ` : ''}under load ${cpuLine({ serverMs: loadCpu.serverMs / done, postgresMs: loadCpu.postgresMs / done })}, of which the main thread ${fmt(mainThreadMs / done, 2)} ms`);
      for (const [sql, count] of [...census.statements.entries()].sort((a, b) => b[1] - a[1])) {
        const sqliteMicros = database.kind === 'sqlite' ? `${fmt(((census.sqliteMillis.get(sql) ?? 0) * 1000) / Math.max(1, count))} µs ` : '';
        console.log(`     ${(count / Math.max(1, counted.done)).toFixed(1)} × ${sqliteMicros}${sql.replace(/\s+/g, ' ').slice(0, 150)}`);
      }
      summary.push(`| ${path} ÷ raw signs/s (${database.kind}) | ${fmt(rate)}/s ÷ ${fmt(raw)}/s | **${ratio.toFixed(2)}** (target ≥ ${target}: ${ratio >= target ? 'met' : 'NOT met'}) | ${perRound.join(', ')} | ${fmt(statements, 1)} |`);
      if (peerMessage) {
        const peerRate = peer.done / peer.seconds;
        const gatehouseMs = mainThreadMs / done;
        const peerMs = peer.mainThreadMs / Math.max(1, peer.done);
        console.log(
          `   bare engine (oidc-provider 9 alone, in memory), a round after each signing window: ${fmt(peerRate)}/s = ${(peerRate / raw).toFixed(2)} × raw signs/s; ` +
            `Gatehouse ÷ bare engine ${(rate / peerRate).toFixed(2)} (rounds ${peer.versus.join(', ')})`,
        );
        console.log(`   main-thread CPU per request, Gatehouse / bare engine: ${fmt(gatehouseMs, 2)} ms / ${fmt(peerMs, 2)} ms (whole server process: ${fmt(loadCpu.serverMs / done, 2)} ms / ${fmt(peer.serverMs / Math.max(1, peer.done), 2)} ms)`);
        summary.push(`| ${path}, bare oidc-provider 9 (in memory) ÷ raw signs/s | ${fmt(peerRate)}/s ÷ ${fmt(raw)}/s | **${(peerRate / raw).toFixed(2)}** | ${peer.perRound.join(', ')} | 0 |`);
        summary.push(`| ${path}, Gatehouse ÷ bare engine (${database.kind}) | ${fmt(rate)}/s ÷ ${fmt(peerRate)}/s | **${(rate / peerRate).toFixed(2)}** | ${peer.versus.join(', ')} | |`);
        summary.push(`| ${path}, main-thread CPU per request, Gatehouse / bare engine | ${fmt(gatehouseMs, 2)} ms / ${fmt(peerMs, 2)} ms | | | |`);
      }

      if (path === 'sso' && options.openSeconds > 0) {
        const open = await load.run({ ...message, people, seconds: options.openSeconds, rate: rate / 2 });
        people = open.people;
        const sorted = open.latencies.sort((a, b) => a - b);
        const p99 = percentile(sorted, 0.99);
        summary.push(
          `| sso open loop at ${fmt(rate / 2)}/s (half the closed-loop rate) | ${fmt(open.done / open.seconds)}/s done | p50 ${fmt(percentile(sorted, 0.5), 1)} ms, **p99 ${fmt(p99, 1)} ms** (target ≤ 25 ms: ${p99 <= 25 ? 'met' : 'NOT met'}) | | |`,
        );
      }
    }
    console.log('\n| path | rate | **ratio** | per round | SQL per request |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const line of summary) console.log(line);
    console.log('\nCPU during the run:');
    for (const line of noise) console.log(`  ${line}`);
    if (noisy.length > 0) console.log(`  WARNING: other load during ${noisy.length} phase(s); these numbers are not trustworthy.`);
    return 0;
  } finally {
    load.close();
    await bare?.close();
    await gatehouse?.close();
    await database.drop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
