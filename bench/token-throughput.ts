/**
 * Token endpoint throughput benchmark (a benchmark, not a test): `npm run bench`.
 *
 * In one run it measures
 *   1. raw RS256 signing of an access-token-shaped JWT with a 2048-bit RSA key, the way oidc-provider
 *      signs (jose CompactSign over a private JWK → WebCrypto), one await at a time, for a fixed time;
 *   2. client-credentials throughput of POST /oauth2/token on a Gatehouse started in this process
 *      (SQLite in a temp dir, or a fresh PostgreSQL database when DATABASE_URL=postgres://…), with
 *      autocannon over loopback, after a warm-up; every response must be a 200. The measured time is
 *      split into rounds (BENCH_ROUNDS), each followed by as long a window of step 1's raw signing:
 *      the machine's speed drifts within a minute, and interleaving exposes both rates to it alike;
 * and prints both, their ratio (token req/s ÷ raw signs/s, target ≥ 0.8 on SQLite) and p50/p99.
 *
 * Knobs (environment): DATABASE_URL (postgres://… base URL to create a throw-away database under),
 * BENCH_SIGN_SECONDS (3, the reference levels), BENCH_DURATION (15 s of load in all), BENCH_ROUNDS (5),
 * BENCH_WARMUP (3), BENCH_CONNECTIONS (10),
 * BENCH_LOADGEN=child|inprocess (child), BENCH_SKIP_SIGN=1 (skip step 1, e.g. when profiling the
 * server alone), BENCH_CENSUS_REQUESTS (50 sequential requests whose SQL is counted),
 * BENCH_EXPERIMENT=stmt-cache|result-cache (SQLite what-ifs, see below; not Gatehouse as shipped).
 * See docs/benchmarks.md.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, randomUUID, sign as nodeSign } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import SQLite from 'better-sqlite3';
import { CompactSign, decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import pg from 'pg';
import { type Gatehouse, startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase, machineBusySeconds, numberFromEnv } from './support.ts';

const TARGET_RATIO = 0.8;
const profiling = process.execArgv.some((arg) => arg.startsWith('--cpu-prof'));
const BOOTSTRAP = { id: 'bench-m2m-client', secret: 'BenchSecret0123456789abcdefghijklmnopqrstuvwxyzAB' };


const options = {
  signSeconds: numberFromEnv('BENCH_SIGN_SECONDS', 3),
  durationSeconds: numberFromEnv('BENCH_DURATION', 15),
  rounds: numberFromEnv('BENCH_ROUNDS', 5),
  warmupSeconds: numberFromEnv('BENCH_WARMUP', 3),
  connections: numberFromEnv('BENCH_CONNECTIONS', 10),
  censusRequests: numberFromEnv('BENCH_CENSUS_REQUESTS', 50),
  loadgen: (process.env.BENCH_LOADGEN ?? 'child') as 'child' | 'inprocess',
  skipSign: process.env.BENCH_SKIP_SIGN === '1',
};
if (options.loadgen !== 'child' && options.loadgen !== 'inprocess') throw new Error('BENCH_LOADGEN must be child or inprocess');

// ---------------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------------
// SQL census: counts the statements Gatehouse runs per token request, by patching the drivers'
// prototypes in this process for a short window (Kysely prepares every SQLite statement anew, and
// sends every PostgreSQL statement through Client#query).

const census = { on: false, resultCacheOn: false, statements: new Map<string, number>() };

function record(sql: unknown): void {
  if (!census.on) return;
  const text = typeof sql === 'string' ? sql : typeof (sql as { text?: unknown })?.text === 'string' ? (sql as { text: string }).text : String(sql);
  census.statements.set(text, (census.statements.get(text) ?? 0) + 1);
}

/**
 * BENCH_EXPERIMENT (SQLite only) answers "what if" questions from the profile without touching src/;
 * the numbers it gives are NOT Gatehouse as shipped:
 *   stmt-cache   — reuse one prepared statement per SQL text (Kysely's SqliteDriver prepares anew each time);
 *   result-cache — additionally answer repeated SELECTs from memory (an upper bound for caching the
 *                  client / API / scope lookups of the token path).
 */
type Experiment = 'none' | 'stmt-cache' | 'result-cache';
const experiment = (process.env.BENCH_EXPERIMENT ?? 'none') as Experiment;
if (!['none', 'stmt-cache', 'result-cache'].includes(experiment)) throw new Error('BENCH_EXPERIMENT must be stmt-cache or result-cache');

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): unknown[];
}

function installCensus(): void {
  const sqliteProto = SQLite.prototype as unknown as { prepare: (...args: unknown[]) => unknown };
  const prepare = sqliteProto.prepare;
  const statements = new WeakMap<object, Map<string, SqliteStatement>>();
  const resultCaches: Map<string, unknown[]>[] = [];
  sqliteProto.prepare = function (this: object, ...args: unknown[]) {
    record(args[0]);
    if (experiment === 'none' || typeof args[0] !== 'string') return prepare.apply(this, args);
    const sql = args[0];
    // Any write makes every remembered result stale.
    if (!/^select /i.test(sql)) for (const results of resultCaches) results.clear();
    let cache = statements.get(this);
    if (!cache) statements.set(this, (cache = new Map()));
    let statement = cache.get(sql);
    if (!statement) {
      statement = prepare.apply(this, args) as SqliteStatement;
      if (experiment === 'result-cache' && statement.reader && /^select /i.test(sql)) {
        const results = new Map<string, unknown[]>();
        resultCaches.push(results);
        const real = statement;
        statement = {
          reader: true,
          all: (...params: unknown[]) => {
            if (!census.resultCacheOn) return real.all(...params);
            const key = JSON.stringify(params);
            let rows = results.get(key);
            if (!rows) results.set(key, (rows = real.all(...params)));
            return rows.map((row) => ({ ...(row as object) }));
          },
        };
      }
      cache.set(sql, statement);
    }
    return statement;
  };
  const pgProto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown };
  const query = pgProto.query;
  pgProto.query = function (this: unknown, ...args: unknown[]) {
    record(args[0]);
    return query.apply(this, args);
  };
}

// ---------------------------------------------------------------------------------------------------
// Noise check: the machine is shared, so each phase compares the CPU the whole machine spent
// (/proc/stat, Linux) with what this process (and the load generator) spent. Anything else running at
// the same time shows up as "foreign" CPU and the numbers of that phase are suspect.

interface CpuMark {
  machineBusySeconds: number | undefined;
  /** CPU of local PostgreSQL server processes: part of the system under test, not noise. */
  postgresSeconds: number;
  ownMicros: number;
  at: number;
}

/** utime + stime of every local process named `postgres` (0 when there is none or no /proc). */
function postgresServerSeconds(): number {
  let ticks = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
        const fields = stat.slice(close + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
      } catch {
        // the process ended meanwhile
      }
    }
  } catch {
    return 0;
  }
  return ticks / 100;
}


let watchPostgres = false;

function cpuMark(): CpuMark {
  const own = process.cpuUsage();
  const postgresSeconds = watchPostgres ? postgresServerSeconds() : 0;
  return { machineBusySeconds: machineBusySeconds(), postgresSeconds, ownMicros: own.user + own.system, at: performance.now() };
}

function postgresCores(start: CpuMark, end: CpuMark): number {
  return (end.postgresSeconds - start.postgresSeconds) / ((end.at - start.at) / 1000);
}

/** Average cores used by other processes between two marks (`extraMicros`: CPU of our own children). */
function foreignCores(start: CpuMark, end: CpuMark, extraMicros = 0): number | undefined {
  if (start.machineBusySeconds === undefined || end.machineBusySeconds === undefined) return undefined;
  const wall = (end.at - start.at) / 1000;
  const ours = (end.ownMicros - start.ownMicros + extraMicros) / 1e6 + (end.postgresSeconds - start.postgresSeconds);
  return Math.max(0, end.machineBusySeconds - start.machineBusySeconds - ours) / wall;
}

function describeNoise(phase: string, cores: number | undefined, noisy: string[]): string {
  if (cores === undefined) return `${phase}: other processes' CPU unknown (no /proc/stat)`;
  if (cores > 0.1) noisy.push(phase);
  return `${phase}: other processes used ${cores.toFixed(2)} cores on average${cores > 0.1 ? ' — NOISY, rerun when the machine is quiet' : ''}`;
}

// ---------------------------------------------------------------------------------------------------
// Step 1: raw signing.

interface SignResult {
  label: string;
  signs: number;
  seconds: number;
  perSecond: number;
}

/** A payload shaped like the access token Gatehouse issues (taken from a real one when available). */
function tokenLikePayload(sample: Record<string, unknown> | undefined, issuer: string): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  const base = sample ?? {
    aud: [`${issuer}/api`],
    azp: BOOTSTRAP.id,
    client_id: BOOTSTRAP.id,
    exp: now + 86_400,
    gty: ['client_credentials'],
    iat: now,
    iss: issuer,
    jti: randomUUID(),
    scope: 'read:users create:users',
    scp: ['read:users', 'create:users'],
    sub: BOOTSTRAP.id,
  };
  return { ...base };
}

async function measureJoseSign(
  label: string,
  jwk: JWK,
  header: Record<string, unknown>,
  payload: Record<string, unknown>,
  seconds: number,
  inFlight: number,
): Promise<SignResult> {
  let signs = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      // Fresh jti/iat each time, serialised as oidc-provider does (JSON → bytes → CompactSign).
      const body = { ...payload, jti: randomBytes(16).toString('base64url'), iat: Math.floor(Date.now() / 1000) };
      await new CompactSign(Buffer.from(JSON.stringify(body)))
        .setProtectedHeader(header as { alg: string })
        .sign(jwk);
      signs++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const elapsed = (performance.now() - started) / 1000;
  return { label, signs, seconds: elapsed, perSecond: signs / elapsed };
}

function measureNodeSign(label: string, pem: string, header: Record<string, unknown>, payload: Record<string, unknown>, seconds: number): SignResult {
  const key = createPrivateKey(pem);
  const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
  let signs = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    const body = { ...payload, jti: randomBytes(16).toString('base64url'), iat: Math.floor(Date.now() / 1000) };
    const input = `${encodedHeader}.${Buffer.from(JSON.stringify(body)).toString('base64url')}`;
    const signature = nodeSign('sha256', Buffer.from(input), key).toString('base64url');
    if (signature.length === 0) throw new Error('empty signature');
    signs++;
  }
  const elapsed = (performance.now() - started) / 1000;
  return { label, signs, seconds: elapsed, perSecond: signs / elapsed };
}

// ---------------------------------------------------------------------------------------------------
// Step 2: the token endpoint under load.

interface LoadRun {
  result: autocannon.Result;
  /** CPU the load generator itself used (µs) when it ran in a child process. */
  childCpuMicros: number;
}

interface LoadGenerator {
  run(seconds: number): Promise<LoadRun>;
  close(): void;
}

function runAutocannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

function inProcessLoad(url: string, body: string): LoadGenerator {
  const request: autocannon.Options = { url, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, connections: options.connections, pipelining: 1 };
  return { run: async (seconds) => ({ result: await runAutocannon({ ...request, duration: seconds }), childCpuMicros: 0 }), close: () => {} };
}

function childLoad(url: string, body: string): LoadGenerator {
  const script = fileURLToPath(new URL('./loadgen.mjs', import.meta.url));
  // Bare node (no tsx loader) for the child: it runs plain JavaScript only.
  const child = fork(script, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    run: (seconds) =>
      new Promise((resolve, reject) => {
        const exited = (code: number | null) => reject(new Error(`load generator exited with code ${code} before reporting`));
        child.once('exit', exited);
        child.once('message', (message: { result?: autocannon.Result; cpuMicros?: number; error?: string }) => {
          child.off('exit', exited);
          if (message.error || !message.result) reject(new Error(`load generator failed: ${message.error ?? 'no result'}`));
          else resolve({ result: message.result, childCpuMicros: message.cpuMicros ?? 0 });
        });
        child.send({ type: 'run', url, body, connections: options.connections, seconds });
      }),
    close: () => child.send({ type: 'exit' }),
  };
}

/** Every response must be a 200: anything else (or a socket error/timeout) makes the run fail. */
function statusProblems(name: string, result: autocannon.Result): string[] {
  const problems: string[] = [];
  const stats = result.statusCodeStats ?? {};
  for (const [code, stat] of Object.entries(stats)) {
    if (code !== '200' && (stat?.count ?? 0) > 0) problems.push(`${name}: ${stat?.count} responses with status ${code}`);
  }
  if (result.non2xx > 0) problems.push(`${name}: ${result.non2xx} non-2xx responses`);
  if (result.errors > 0) problems.push(`${name}: ${result.errors} connection errors`);
  if (result.timeouts > 0) problems.push(`${name}: ${result.timeouts} timeouts`);
  if (result['2xx'] === 0) problems.push(`${name}: no successful responses at all`);
  return problems;
}

// ---------------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function main(): Promise<number> {
  installCensus();
  const database = await createDatabase();
  if (experiment !== 'none' && database.kind !== 'sqlite') throw new Error('BENCH_EXPERIMENT is for SQLite only');
  watchPostgres = database.kind === 'postgres';
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-data-'));
  let gatehouse: Gatehouse | undefined;
  try {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: database.url,
      GATEHOUSE_DATA_DIR: dataDir,
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
      GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
      LOG_LEVEL: 'silent',
    });
    gatehouse = await startGatehouse(config);
    const issuer = gatehouse.services.config.issuer;
    // The server listens on 127.0.0.1 only, and `localhost` may resolve to ::1 first.
    const tokenUrl = `${gatehouse.url.replace('//localhost:', '//127.0.0.1:')}/oauth2/token`;
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: BOOTSTRAP.id,
      client_secret: BOOTSTRAP.secret,
      audience: `${issuer}/api`,
    }).toString();

    // A sample token: proves the request works and gives the real header/payload shape to sign.
    const sampleResponse = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    const sampleBody = (await sampleResponse.json()) as { access_token?: string };
    if (sampleResponse.status !== 200 || !sampleBody.access_token) {
      throw new Error(`sample token request failed: ${sampleResponse.status} ${JSON.stringify(sampleBody)}`);
    }
    const sampleHeader = decodeProtectedHeader(sampleBody.access_token) as Record<string, unknown>;
    const samplePayload = decodeJwt(sampleBody.access_token) as Record<string, unknown>;

    console.log(`Gatehouse token benchmark — ${new Date().toISOString()}`);
    console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    console.log(`database: ${database.kind}; load generator: ${options.loadgen === 'child' ? 'autocannon in a child process' : 'autocannon in this process'}`);
    if (experiment !== 'none') console.log(`EXPERIMENT ${experiment}: SQLite access is patched by the bench; these numbers are NOT Gatehouse as shipped`);
    console.log(`access token: header ${JSON.stringify(sampleHeader)}, ${sampleBody.access_token.length} chars, claims ${Object.keys(samplePayload).sort().join(',')}`);
    console.log('');

    // 1. Raw signing, same header and payload shape as the sample token, fresh 2048-bit RSA key.
    // The reference levels are measured here; the denominator (1 in flight) in windows between the
    // load rounds below.
    let signWindow: ((seconds: number) => Promise<SignResult>) | undefined;
    const references: SignResult[] = [];
    const noise: string[] = [];
    const noisy: string[] = [];
    const primaryLabel = 'jose CompactSign (WebCrypto), 1 in flight';
    if (!options.skipSign) {
      const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const jwk = { ...(privateKey.export({ format: 'jwk' }) as JWK), kid: String(sampleHeader.kid ?? 'bench'), alg: 'RS256' };
      const pem = privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
      const payload = tokenLikePayload(samplePayload, issuer);
      const header = { ...sampleHeader, alg: 'RS256' };
      await measureJoseSign('warm-up', jwk, header, payload, 1, 1);
      signWindow = (seconds) => measureJoseSign(primaryLabel, jwk, header, payload, seconds, 1);
      console.log(`1. raw RS256 signing, reference levels (${options.signSeconds} s each)…`);
      references.push(await measureJoseSign(`jose CompactSign (WebCrypto), ${options.connections} in flight`, jwk, header, payload, options.signSeconds, options.connections));
      references.push(measureNodeSign('node:crypto sign (synchronous)', pem, header, payload, options.signSeconds));
      for (const r of references) console.log(`   reference — ${r.label}: ${fmt(r.perSecond)} signs/s`);
    }

    // SQL per token request, counted over a few sequential requests.
    census.statements.clear();
    census.on = true;
    census.resultCacheOn = experiment === 'result-cache';
    for (let i = 0; i < options.censusRequests; i++) {
      const response = await fetch(tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
      await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`census request got ${response.status}`);
    }
    census.on = false;
    const totalStatements = [...census.statements.values()].reduce((a, b) => a + b, 0);

    // 2. Token endpoint under load, in rounds, each followed by a raw signing window as long.
    const roundSeconds = options.durationSeconds / Math.max(1, options.rounds);
    console.log(
      `2. POST /oauth2/token (client_credentials), ${options.connections} connections, ${options.warmupSeconds} s warm-up + ${options.rounds} rounds of ${fmt(roundSeconds, 1)} s` +
        (signWindow ? ', each followed by as long a raw signing window (1 in flight)…' : '…'),
    );
    const load = options.loadgen === 'child' ? childLoad(tokenUrl, body) : inProcessLoad(tokenUrl, body);
    const problems: string[] = [];
    const rounds: Array<{ result: autocannon.Result; sign: SignResult | undefined; serverCores: number; childCores: number; elu: number; postgresCores: number }> = [];
    try {
      if (options.warmupSeconds > 0) problems.push(...statusProblems('warm-up', (await load.run(options.warmupSeconds)).result));
      for (let round = 1; round <= Math.max(1, options.rounds); round++) {
        const start = cpuMark();
        const eluStart = performance.eventLoopUtilization();
        const startUs = Number(process.hrtime.bigint() / 1000n);
        const { result, childCpuMicros } = await load.run(roundSeconds);
        const end = cpuMark();
        const wall = (end.at - start.at) / 1000;
        if (profiling) console.log(`   profile window round ${round} (monotonic µs): ${startUs}-${Number(process.hrtime.bigint() / 1000n)}`);
        noise.push(describeNoise(`load round ${round}`, foreignCores(start, end, childCpuMicros), noisy));
        problems.push(...statusProblems(`round ${round}`, result));
        const signStart = cpuMark();
        const sign = signWindow ? await signWindow(roundSeconds) : undefined;
        if (sign) noise.push(describeNoise(`raw signing after round ${round}`, foreignCores(signStart, cpuMark()), noisy));
        rounds.push({
          result,
          sign,
          serverCores: (end.ownMicros - start.ownMicros) / 1e6 / wall,
          childCores: childCpuMicros / 1e6 / wall,
          elu: performance.eventLoopUtilization(eluStart).utilization,
          postgresCores: watchPostgres ? postgresCores(start, end) : 0,
        });
      }
    } finally {
      load.close();
    }
    const mean = (pick: (r: (typeof rounds)[number]) => number) => rounds.reduce((a, r) => a + pick(r), 0) / rounds.length;
    noise.push(
      `token endpoint load: event loop utilisation ${(mean((r) => r.elu) * 100).toFixed(0)}% (100% = the one JavaScript thread is the bottleneck); ` +
        `this process (server${options.loadgen === 'inprocess' ? ' + autocannon' : ''}) used ${mean((r) => r.serverCores).toFixed(2)} cores` +
        (options.loadgen === 'child' ? `, the autocannon child ${mean((r) => r.childCores).toFixed(2)} cores` : '') +
        (watchPostgres ? `, local PostgreSQL server processes ${mean((r) => r.postgresCores).toFixed(2)} cores` : ''),
    );
    const ok = rounds.reduce((a, r) => a + (r.result.statusCodeStats?.['200']?.count ?? r.result['2xx']), 0);
    const loadSeconds = rounds.reduce((a, r) => a + r.result.duration, 0);
    const tokenRate = ok / loadSeconds;
    const signs = rounds.flatMap((r) => (r.sign ? [r.sign] : []));
    const primarySign: SignResult | undefined =
      signs.length > 0
        ? { label: `${primaryLabel}, interleaved`, signs: signs.reduce((a, w) => a + w.signs, 0), seconds: signs.reduce((a, w) => a + w.seconds, 0), perSecond: 0 }
        : undefined;
    if (primarySign) primarySign.perSecond = primarySign.signs / primarySign.seconds;
    const p50s = rounds.map((r) => r.result.latency.p50).sort((a, b) => a - b);
    const latency = { p50: p50s[Math.floor(p50s.length / 2)]!, p99: Math.max(...rounds.map((r) => r.result.latency.p99)), max: Math.max(...rounds.map((r) => r.result.latency.max)) };
    console.log(`   ${fmt(tokenRate)} req/s (${fmt(ok)} × 200 in ${loadSeconds.toFixed(1)} s), latency p50 ${latency.p50} ms (median round), p99 ${latency.p99} ms (worst round), max ${latency.max} ms`);
    if (primarySign) console.log(`   raw signing between the rounds: ${fmt(primarySign.perSecond)} signs/s`);
    console.log('');

    // 3. Report.
    const ratio = primarySign ? tokenRate / primarySign.perSecond : undefined;
    console.log('| measurement | value |');
    console.log('| --- | --- |');
    if (primarySign) console.log(`| raw RS256 signs/s (${primarySign.label}) | ${fmt(primarySign.perSecond)} |`);
    for (const r of references) console.log(`| reference: ${r.label} | ${fmt(r.perSecond)} |`);
    console.log(`| token endpoint req/s (${database.kind}, ${options.connections} conns, ${options.loadgen}${experiment === 'none' ? '' : `, EXPERIMENT ${experiment}`}) | ${fmt(tokenRate)} |`);
    console.log(`| token endpoint latency p50 / p99 | ${latency.p50} ms / ${latency.p99} ms |`);
    console.log(`| SQL statements per token request | ${fmt(totalStatements / Math.max(1, options.censusRequests), 1)} |`);
    if (ratio !== undefined) {
      const verdict =
        database.kind === 'sqlite' ? `target ≥ ${TARGET_RATIO} on SQLite: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}` : `the ≥ ${TARGET_RATIO} target is for SQLite`;
      console.log(`| ratio token req/s ÷ raw signs/s | **${ratio.toFixed(2)}** (${verdict}${noisy.length > 0 ? '; NOISY run, do not use' : ''}) |`);
      if (rounds.every((r) => r.sign)) {
        const perRound = rounds.map((r) => (r.result.statusCodeStats?.['200']?.count ?? r.result['2xx']) / r.result.duration / r.sign!.perSecond);
        console.log(`| ratio per round (each round ÷ the signing window after it) | ${perRound.map((x) => x.toFixed(2)).join(', ')} |`);
      }
    }
    console.log('');
    console.log('CPU during the run:');
    for (const line of noise) console.log(`  ${line}`);
    if (noisy.length > 0) console.log(`  WARNING: other load during ${noisy.join(' and ')}; these numbers are not trustworthy.`);
    console.log('');
    console.log(`SQL per token request (over ${options.censusRequests} sequential requests):`);
    for (const [sql, count] of [...census.statements.entries()].sort((a, b) => b[1] - a[1])) {
      console.log(`  ${(count / Math.max(1, options.censusRequests)).toFixed(1)} × ${sql.replace(/\s+/g, ' ').slice(0, 160)}`);
    }

    if (problems.length > 0) {
      console.error('');
      console.error('FAILED: not every response was a 200:');
      for (const p of problems) console.error(`  - ${p}`);
      for (const [i, r] of rounds.entries()) console.error(`  round ${i + 1} status codes: ${JSON.stringify(r.result.statusCodeStats ?? {})}`);
      return 1;
    }
    return 0;
  } finally {
    await gatehouse?.close();
    await database.drop().catch((error) => console.error(`could not drop the bench database: ${error}`));
    rmSync(dataDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
