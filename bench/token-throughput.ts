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
 *   3. the same requests against the bare engine (bench/bare-engine.ts: oidc-provider alone, same claims,
 *      in-memory), a round after each signing window, from the same load generator;
 * and prints the rates, the ratios (token req/s ÷ raw signs/s, target ≥ 0.8 on SQLite; ÷ the bare
 * engine's req/s, target ≥ 0.9) and p50/p99.
 *
 * Knobs (environment): DATABASE_URL (postgres://… base URL to create a throw-away database under),
 * BENCH_SIGN_SECONDS (3, the reference levels), BENCH_DURATION (15 s of load in all), BENCH_ROUNDS (5),
 * BENCH_WARMUP (3), BENCH_CONNECTIONS (10),
 * BENCH_LOADGEN=child|inprocess (child), BENCH_PEER=0 (skip step 3), BENCH_SKIP_SIGN=1 (skip step 1, e.g. when profiling the
 * server alone), BENCH_CENSUS_REQUESTS (50 sequential requests whose SQL is counted),
 * BENCH_EXPERIMENT=stmt-cache|result-cache (SQLite what-ifs, see below; not Gatehouse as shipped).
 * See docs/benchmarks.md.
 */
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { decodeJwt, decodeProtectedHeader, type JWK } from 'jose';
import { type Gatehouse, startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import {
  census,
  cpuMark,
  describeNoise,
  experiment,
  foreignCores,
  installCensus,
  mainThreadMsPer,
  measureJoseSign,
  measureNodeSign,
  postgresCores,
  postgresWatch,
  type SignResult,
} from './measure.ts';
import { startBareEngine } from './bare-engine.ts';
import { createDatabase, numberFromEnv } from './support.ts';

const TARGET_RATIO = 0.8;
/** Issue 13: Gatehouse's client credentials within 10% of the bare engine's. */
const PEER_TARGET = 0.9;
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
  /** Peer rounds against the bare engine (bench/bare-engine.ts); BENCH_PEER=0 skips them. */
  peer: process.env.BENCH_PEER !== '0',
};
if (options.loadgen !== 'child' && options.loadgen !== 'inprocess') throw new Error('BENCH_LOADGEN must be child or inprocess');

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


// ---------------------------------------------------------------------------------------------------
// Step 2: the token endpoint under load.

interface LoadRun {
  result: autocannon.Result;
  /** CPU the load generator itself used (µs) when it ran in a child process. */
  childCpuMicros: number;
}

interface LoadGenerator {
  /** `target`: another endpoint than the one the generator was made for (the bare engine's). */
  run(seconds: number, target?: { url: string; body: string }): Promise<LoadRun>;
  close(): void;
}

function runAutocannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (error, result) => (error ? reject(error) : resolve(result)));
  });
}

function inProcessLoad(url: string, body: string): LoadGenerator {
  const request: autocannon.Options = { url, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body, connections: options.connections, pipelining: 1 };
  return {
    run: async (seconds, target) => ({ result: await runAutocannon({ ...request, ...(target ?? {}), duration: seconds }), childCpuMicros: 0 }),
    close: () => {},
  };
}

function childLoad(url: string, body: string): LoadGenerator {
  const script = fileURLToPath(new URL('./loadgen.mjs', import.meta.url));
  // Bare node (no tsx loader) for the child: it runs plain JavaScript only.
  const child = fork(script, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return {
    run: (seconds, target) =>
      new Promise((resolve, reject) => {
        const exited = (code: number | null) => reject(new Error(`load generator exited with code ${code} before reporting`));
        child.once('exit', exited);
        child.once('message', (message: { result?: autocannon.Result; cpuMicros?: number; error?: string }) => {
          child.off('exit', exited);
          if (message.error || !message.result) reject(new Error(`load generator failed: ${message.error ?? 'no result'}`));
          else resolve({ result: message.result, childCpuMicros: message.cpuMicros ?? 0 });
        });
        child.send({ type: 'run', url: target?.url ?? url, body: target?.body ?? body, connections: options.connections, seconds });
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
  postgresWatch.on = database.kind === 'postgres';
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-data-'));
  let gatehouse: Gatehouse | undefined;
  let peerEngine: Awaited<ReturnType<typeof startBareEngine>> | undefined;
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
    const peer = (peerEngine = options.peer ? await startBareEngine(BOOTSTRAP, `${issuer}/api`, String(samplePayload.scope)) : undefined);
    if (peer) {
      const check = await fetch(peer.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: peer.body });
      const checked = (await check.json()) as { access_token?: string };
      if (!checked.access_token) throw new Error(`the bare engine gave no token: ${JSON.stringify(checked)}`);
      const claims = (token: string) => Object.keys(decodeJwt(token)).sort().join(',');
      if (claims(checked.access_token) !== claims(sampleBody.access_token)) console.log(`note: the bare engine's claims ${claims(checked.access_token)} differ from Gatehouse's`);
    }

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
    const rounds: Array<{ result: autocannon.Result; sign: SignResult | undefined; serverCores: number; mainMs: number | undefined; childCores: number; elu: number; postgresCores: number }> = [];
    const peerRounds: autocannon.Result[] = [];
    const peerMainMs: number[] = [];
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
        if (peer) {
          const peerStart = cpuMark();
          const peerStartUs = Number(process.hrtime.bigint() / 1000n);
          const peerRun = await load.run(roundSeconds, { url: peer.tokenUrl, body: peer.body });
          if (profiling) console.log(`   profile window bare engine round ${round} (monotonic µs): ${peerStartUs}-${Number(process.hrtime.bigint() / 1000n)}`);
          const peerEnd = cpuMark();
          noise.push(describeNoise(`bare engine after round ${round}`, foreignCores(peerStart, peerEnd, peerRun.childCpuMicros), noisy));
          const peerMs = mainThreadMsPer(peerStart, peerEnd, peerRun.result.statusCodeStats?.['200']?.count ?? peerRun.result['2xx']);
          if (peerMs !== undefined) peerMainMs.push(peerMs);
          problems.push(...statusProblems(`bare engine round ${round}`, peerRun.result));
          peerRounds.push(peerRun.result);
        }
        rounds.push({
          result,
          sign,
          serverCores: (end.ownMicros - start.ownMicros) / 1e6 / wall,
          mainMs: mainThreadMsPer(start, end, result.statusCodeStats?.['200']?.count ?? result['2xx']),
          childCores: childCpuMicros / 1e6 / wall,
          elu: performance.eventLoopUtilization(eluStart).utilization,
          postgresCores: postgresWatch.on ? postgresCores(start, end) : 0,
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
        (postgresWatch.on ? `, local PostgreSQL server processes ${mean((r) => r.postgresCores).toFixed(2)} cores` : '') +
        (rounds.every((r) => r.mainMs !== undefined) ? `; main-thread CPU per request ${mean((r) => r.mainMs!).toFixed(3)} ms` : ''),
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
    const peerOk = peerRounds.reduce((a, r) => a + (r.statusCodeStats?.['200']?.count ?? r['2xx']), 0);
    const peerRate = peerRounds.length > 0 ? peerOk / peerRounds.reduce((a, r) => a + r.duration, 0) : undefined;
    console.log('| measurement | value |');
    console.log('| --- | --- |');
    if (primarySign) console.log(`| raw RS256 signs/s (${primarySign.label}) | ${fmt(primarySign.perSecond)} |`);
    for (const r of references) console.log(`| reference: ${r.label} | ${fmt(r.perSecond)} |`);
    console.log(`| token endpoint req/s (${database.kind}, ${options.connections} conns, ${options.loadgen}${experiment === 'none' ? '' : `, EXPERIMENT ${experiment}`}) | ${fmt(tokenRate)} |`);
    console.log(`| token endpoint latency p50 / p99 | ${latency.p50} ms / ${latency.p99} ms |`);
    console.log(`| SQL statements per token request | ${fmt(totalStatements / Math.max(1, options.censusRequests), 1)} |`);
    if (peerRate !== undefined) {
      const peerRatio = tokenRate / peerRate;
      console.log(`| bare oidc-provider 9, same claims, interleaved (req/s) | ${fmt(peerRate)} |`);
      if (peerMainMs.length > 0) console.log(`| main-thread CPU per request, Gatehouse / bare engine | ${(rounds.reduce((a, r) => a + (r.mainMs ?? Number.NaN), 0) / rounds.length).toFixed(3)} ms / ${(peerMainMs.reduce((a, b) => a + b, 0) / peerMainMs.length).toFixed(3)} ms |`);
      console.log(`| ratio token req/s ÷ bare engine req/s | **${peerRatio.toFixed(2)}** (target ≥ ${PEER_TARGET}: ${peerRatio >= PEER_TARGET ? 'met' : 'NOT met'}${noisy.length > 0 ? '; NOISY run, do not use' : ''}) |`);
      const perRound = rounds.map((r, i) => (r.result.statusCodeStats?.['200']?.count ?? r.result['2xx']) / r.result.duration / ((peerRounds[i]?.statusCodeStats?.['200']?.count ?? 0) / (peerRounds[i]?.duration ?? 1)));
      console.log(`| ratio per round (each round ÷ the bare-engine round after it) | ${perRound.map((x) => x.toFixed(2)).join(', ')} |`);
    }
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
    await peerEngine?.close();
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
