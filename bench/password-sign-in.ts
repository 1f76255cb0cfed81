/**
 * Password sign-in throughput benchmark (a benchmark, not a test): `npm run bench:passwords`.
 *
 * In one run it measures
 *   1. the raw argon2id verify rate of a real stored hash (ARGON2_OPTIONS from src/domain/passwords.ts:
 *      19 MiB, t=2, p=1) on every core: one lane per core (src/crypto/hashing-lanes.ts), and
 *      @node-rs/argon2 `verify` on libuv's pool with 1, 2 and 4 in flight; the best is the machine's
 *      whole argon2 capacity, printed with its own ratio for reference;
 *   2. complete password sign-ins per second on a Gatehouse started in this process (SQLite in a temp
 *      dir), driven over loopback by bench/password-loadgen.mjs in a child process: N virtual users,
 *      each looping over the full hosted-page flow (authorize → identify → password page → password
 *      POST → resume → callback with ?code) with a fresh cookie jar; any flow that does not end with a
 *      code fails the run. The measured time is split into rounds (BENCH_ROUNDS); after each round the
 *      load pauses and the raw verify rate on Gatehouse's hashing lanes (cores − 1 threads, every lane
 *      kept busy, nothing else running: the hashing capacity the server has) is measured for as long.
 *      Those interleaved raw windows are **the denominator**: the machine's speed drifts by ±10% within
 *      a minute, and interleaving exposes both rates to the same drift;
 *   3. one step alone (BENCH_STEP, the password POST by default): flows brought to that step beforehand, then that step fired
 *      by the same N workers;
 * and prints raw verifies/s, sign-ins/s, their ratio (target ≥ 0.85 against the lanes' rate), latency, a per-step breakdown,
 * CPU accounting per sign-in, SQL statements per sign-in and a CPU noise check.
 *
 * Knobs (environment): BENCH_VERIFY_SECONDS (5 per in-flight level), BENCH_IN_FLIGHT (1,2,4),
 * BENCH_VUS (8), BENCH_USERS (16), BENCH_WARMUP (3), BENCH_DURATION (20 s of sign-ins in all), BENCH_ROUNDS (5), BENCH_STEP_FLOWS (400; 0
 * skips step 3), BENCH_STEP (password; or authorize, identify, password-page, resume), BENCH_CENSUS_SIGNINS (20 sequential sign-ins whose SQL is counted), BENCH_SKIP_VERIFY=1,
 * BENCH_CLIENT=socket|http|fetch (the load generator's HTTP client; socket).
 * See docs/benchmarks.md.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { verify } from '@node-rs/argon2';
import { argon2Verify, useHashingLanes } from '../src/crypto/hashing-lanes.ts';
import SQLite from 'better-sqlite3';
import { type Gatehouse, startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { createDatabase, machineBusySeconds, numberFromEnv } from './support.ts';
import { threadSeconds } from './measure.ts';
import { createApplication, updateApplication } from '../src/domain/applications.ts';
import { applicationConnections, disableConnection, enableConnection, listConnections } from '../src/domain/connections.ts';
import { ARGON2_OPTIONS, setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';

const TARGET_RATIO = 0.85;
const CALLBACK = 'https://app.bench.example/callback';
const profiling = process.execArgv.some((arg) => arg.startsWith('--cpu-prof'));


const options = {
  verifySeconds: numberFromEnv('BENCH_VERIFY_SECONDS', 5),
  inFlight: (process.env.BENCH_IN_FLIGHT ?? '1,2,4').split(',').map((n) => Number(n.trim())).filter((n) => n > 0),
  vus: numberFromEnv('BENCH_VUS', 8),
  users: numberFromEnv('BENCH_USERS', 16),
  warmupSeconds: numberFromEnv('BENCH_WARMUP', 3),
  durationSeconds: numberFromEnv('BENCH_DURATION', 20),
  rounds: numberFromEnv('BENCH_ROUNDS', 5),
  stepFlows: numberFromEnv('BENCH_STEP_FLOWS', 400),
  step: process.env.BENCH_STEP ?? 'password',
  censusSignIns: numberFromEnv('BENCH_CENSUS_SIGNINS', 20),
  skipVerify: process.env.BENCH_SKIP_VERIFY === '1',
  client: (process.env.BENCH_CLIENT ?? 'socket') as 'socket' | 'http' | 'fetch',
};
if (!['socket', 'http', 'fetch'].includes(options.client)) throw new Error('BENCH_CLIENT must be socket, http or fetch');
/** What phase 3 times, in words (the steps are the load generator's STEPS). */
const stepLabel = options.step === 'password' ? 'password POST' : `${options.step} step`;

// ---------------------------------------------------------------------------------------------------
// The flow driver lives in bench/password-loadgen.mjs (plain JavaScript, also the child process).

interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}
interface FlowPhase {
  signIns: number;
  seconds: number;
  perSecond: number;
  rounds: Array<{ signIns: number; seconds: number; perSecond: number }>;
  latency: Summary;
  steps: Record<string, Summary>;
}
interface StepPhase {
  step: string;
  items: number;
  seconds: number;
  perSecond: number;
  latency: Summary;
}
interface SignInContext {
  origin: string;
  issuerOrigin: string;
  query: Record<string, string>;
  client?: 'socket' | 'http' | 'fetch';
  email: string;
  password: string;
  onStep?: (step: string) => unknown;
  timings?: number[];
}
interface LoadgenModule {
  STEPS: string[];
  passwordSignIn(ctx: SignInContext): Promise<string>;
}

const loadgenPath = fileURLToPath(new URL('./password-loadgen.mjs', import.meta.url));
// A computed specifier: tsc does not need a declaration for the .mjs.
const loadgen = (await import(new URL('./password-loadgen.mjs', import.meta.url).href)) as LoadgenModule;
if (!loadgen.STEPS.includes(options.step)) throw new Error(`BENCH_STEP must be one of ${loadgen.STEPS.join(', ')}`);

// ---------------------------------------------------------------------------------------------------
// SQL census: counts executed statements. src/store/db.ts prepares each SQL text once and reuses the
// statement, so counting `prepare` (as the token bench does) would miss every repeat; this counts
// executions on better-sqlite3's Statement prototype instead.

const census = { on: false, step: '', statements: new Map<string, Map<string, number>>(), microseconds: new Map<string, number>() };

/** Patches the Statement methods; returns the function that puts them back (before the load runs). */
function installCensus(): () => void {
  const probe = new SQLite(':memory:');
  const proto = Object.getPrototypeOf(probe.prepare('select 1')) as Record<string, (...args: unknown[]) => unknown>;
  probe.close();
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const method of ['all', 'get', 'run', 'iterate']) {
    const original = proto[method]!;
    originals.set(method, original);
    proto[method] = function (this: { source: string }, ...args: unknown[]) {
      if (census.on) {
        let byStep = census.statements.get(this.source);
        if (!byStep) census.statements.set(this.source, (byStep = new Map()));
        byStep.set(census.step, (byStep.get(census.step) ?? 0) + 1);
        // CPU time of better-sqlite3's native call (sequential sign-ins: the hashing lane is idle meanwhile,
        // so the process's CPU is the main thread's; wall time would count the other processes' preemption).
        const started = process.cpuUsage();
        try {
          return original.apply(this, args);
        } finally {
          const used = process.cpuUsage(started);
          census.microseconds.set(this.source, (census.microseconds.get(this.source) ?? 0) + used.user + used.system);
        }
      }
      return original.apply(this, args);
    };
  }
  return () => {
    for (const [method, original] of originals) proto[method] = original;
  };
}

// ---------------------------------------------------------------------------------------------------
// CPU accounting: the whole machine (/proc/stat) against this process (split into its main thread
// and its other threads: argon2 and libuv workers, V8 GC/compiler helpers) and the load generator.

interface CpuMark {
  machine: number | undefined;
  mainThread: number | undefined;
  ownMicros: number;
  at: number;
}


function cpuMark(): CpuMark {
  const own = process.cpuUsage();
  return { machine: machineBusySeconds(), mainThread: threadSeconds(process.pid), ownMicros: own.user + own.system, at: performance.now() };
}

interface CpuSpan {
  wall: number;
  /** Cores used on average. */
  own: number;
  main: number | undefined;
  others: number | undefined;
  child: number;
  foreign: number | undefined;
}

function cpuSpan(start: CpuMark, end: CpuMark, childMicros = 0): CpuSpan {
  const wall = (end.at - start.at) / 1000;
  const own = (end.ownMicros - start.ownMicros) / 1e6 / wall;
  const main = start.mainThread !== undefined && end.mainThread !== undefined ? (end.mainThread - start.mainThread) / wall : undefined;
  const child = childMicros / 1e6 / wall;
  const foreign = start.machine !== undefined && end.machine !== undefined ? Math.max(0, (end.machine - start.machine) / wall - own - child) : undefined;
  return { wall, own, main, others: main === undefined ? undefined : Math.max(0, own - main), child, foreign };
}

/** `measured` false: an untimed phase (warm-up, preparing flows), reported but not flagged. */
function describeNoise(phase: string, span: CpuSpan, noisy: string[], measured = true): string {
  if (span.foreign === undefined) return `${phase}: other processes' CPU unknown (no /proc/stat)`;
  const flagged = measured && span.foreign > 0.1;
  if (flagged) noisy.push(phase);
  return `${phase}: other processes used ${span.foreign.toFixed(2)} cores on average${flagged ? ' — NOISY, rerun when the machine is quiet' : measured ? '' : ' (untimed phase)'}`;
}

// ---------------------------------------------------------------------------------------------------
// Step 1: raw argon2id verify.

interface VerifyResult {
  /** `lanes`: Gatehouse's hashing lanes; `pool`: @node-rs/argon2 on libuv's pool. */
  via: 'lanes' | 'pool';
  inFlight: number;
  verifies: number;
  seconds: number;
  perSecond: number;
  cpu: CpuSpan;
}

async function measureVerify(via: VerifyResult['via'], hash: string, password: string, inFlight: number, seconds: number): Promise<VerifyResult> {
  const check = via === 'lanes' ? argon2Verify : verify;
  let verifies = 0;
  const start = cpuMark();
  const deadline = start.at + seconds * 1000;
  const loop = async () => {
    while (performance.now() < deadline) {
      if (!(await check(hash, password))) throw new Error('argon2 verify returned false for the right password');
      verifies++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, loop));
  const end = cpuMark();
  const elapsed = (end.at - start.at) / 1000;
  return { via, inFlight, verifies, seconds: elapsed, perSecond: verifies / elapsed, cpu: cpuSpan(start, end) };
}

/** Several measurement windows as one: all their verifies over all their time. */
function pooledVerify(windows: readonly VerifyResult[]): VerifyResult {
  const verifies = windows.reduce((a, w) => a + w.verifies, 0);
  const seconds = windows.reduce((a, w) => a + w.seconds, 0);
  return { ...windows[0]!, verifies, seconds, perSecond: verifies / seconds, cpu: joinSpans(windows.map((w) => w.cpu))! };
}

// ---------------------------------------------------------------------------------------------------
// Steps 2 and 3: the load generator child.

interface PhaseMarks {
  start?: CpuMark;
  end?: CpuMark;
  childStart?: number;
  childEnd?: number;
  eluStart?: ReturnType<typeof performance.eventLoopUtilization>;
  elu?: number;
  profileWindow?: string;
}

interface LoadResult {
  phases: { 'warm-up'?: FlowPhase; 'sign-ins': FlowPhase; step?: StepPhase };
  marks: Map<string, PhaseMarks>;
}

/** `onRound` runs while the load generator waits between rounds of sign-ins. */
function runLoad(message: Record<string, unknown>, onRound: (round: number) => Promise<void>): Promise<LoadResult> {
  // Bare node (no tsx loader) for the child: it runs plain JavaScript only.
  const child = fork(loadgenPath, [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const marks = new Map<string, PhaseMarks>();
  return new Promise((resolve, reject) => {
    let settled = false;
    child.on('message', (m: { type: string; name?: string; event?: string; cpuMicros?: number; phases?: LoadResult['phases']; error?: string; round?: number }) => {
      if (m.type === 'round') {
        onRound(m.round ?? 0).then(
          () => child.send({ type: 'resume' }),
          (error: unknown) => {
            settled = true;
            child.kill();
            reject(error);
          },
        );
      } else if (m.type === 'phase' && m.name) {
        const mark = marks.get(m.name) ?? {};
        marks.set(m.name, mark);
        if (m.event === 'start') {
          mark.start = cpuMark();
          mark.childStart = m.cpuMicros;
          mark.eluStart = performance.eventLoopUtilization();
          if (profiling) mark.profileWindow = `${Number(process.hrtime.bigint() / 1000n)}`;
        } else {
          mark.end = cpuMark();
          mark.childEnd = m.cpuMicros;
          if (mark.eluStart) mark.elu = performance.eventLoopUtilization(mark.eluStart).utilization;
          if (profiling) mark.profileWindow += `-${Number(process.hrtime.bigint() / 1000n)}`;
        }
      } else if (m.type === 'result' && m.phases) {
        settled = true;
        resolve({ phases: m.phases, marks });
      } else if (m.type === 'error') {
        settled = true;
        reject(new Error(`a sign-in failed in the load generator:\n${m.error}`));
      }
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load generator exited with code ${code} before reporting`));
    });
    child.send(message);
  });
}

function phaseSpan(marks: Map<string, PhaseMarks>, name: string): CpuSpan | undefined {
  const m = marks.get(name);
  if (!m?.start || !m.end) return undefined;
  return cpuSpan(m.start, m.end, (m.childEnd ?? 0) - (m.childStart ?? 0));
}

/** Several spans as one: each figure averaged over their combined wall time. */
function joinSpans(spans: readonly CpuSpan[]): CpuSpan | undefined {
  if (spans.length === 0) return undefined;
  const wall = spans.reduce((a, s) => a + s.wall, 0);
  const mean = (pick: (s: CpuSpan) => number | undefined) =>
    spans.some((s) => pick(s) === undefined) ? undefined : spans.reduce((a, s) => a + pick(s)! * s.wall, 0) / wall;
  return { wall, own: mean((s) => s.own)!, main: mean((s) => s.main), others: mean((s) => s.others), child: mean((s) => s.child)!, foreign: mean((s) => s.foreign) };
}

// ---------------------------------------------------------------------------------------------------

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number) => (n >= 10 ? fmt(n, 0) : fmt(n, 1));

async function main(): Promise<number> {
  const uninstallCensus = installCensus();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-bench-pw-'));
  // SQLite in the bench's own directory; with a postgres:// DATABASE_URL, a fresh database there
  // (the SQL census counts SQLite statements only; main-thread CPU is measured either way).
  const postgres = /^postgres(ql)?:\/\//.test(process.env.DATABASE_URL ?? '') ? await createDatabase() : undefined;
  let gatehouse: Gatehouse | undefined;
  try {
    const config = loadConfig({
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: postgres?.url ?? `sqlite:${join(dir, 'gatehouse.sqlite')}`,
      GATEHOUSE_DATA_DIR: join(dir, 'data'),
      GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
      GATEHOUSE_BOOTSTRAP_CLIENT_ID: 'bench-m2m-client',
      GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: 'BenchSecret0123456789abcdefghijklmnopqrstuvwxyzAB',
      LOG_LEVEL: 'silent',
      GATEHOUSE_HASHING_THREADS: process.env.GATEHOUSE_HASHING_THREADS,
    });
    gatehouse = await startGatehouse(config);
    const { db } = gatehouse.services;

    // A regular web application with only email + password (as test/support/server.ts does it).
    const { application } = await createApplication(db, { name: 'Bench web app', type: 'reg' });
    await updateApplication(db, application.id, { redirectUrls: [CALLBACK], logoutUrls: [], askForNames: false });
    for (const connection of await applicationConnections(db, application.id)) await disableConnection(db, application.id, connection.id);
    const passwordConnection = (await listConnections(db)).find((c) => c.strategy === 'email:password');
    if (!passwordConnection) throw new Error('no email:password connection');
    await enableConnection(db, application.id, passwordConnection.id);

    // Users with verified emails (an unverified one would get an extra code step) and passwords.
    const users: { email: string; password: string; id: string }[] = [];
    for (let i = 0; i < Math.max(1, options.users); i++) {
      const email = `bench-user-${i}@bench.example`;
      const password = `bench passphrase ${i} ${randomBytes(6).toString('hex')}`;
      const user = await createUser(db, { identities: [{ type: 'email', value: email, isVerified: true }] });
      await setPassword(db, user.id, password);
      users.push({ email, password, id: user.id });
    }
    const stored = await db.selectFrom('credentials').select(['password_hash', 'hashing_method']).where('user_id', '=', users[0]!.id).executeTakeFirstOrThrow();

    const origin = gatehouse.url.replace('//localhost:', '//127.0.0.1:');
    const base = {
      origin,
      issuerOrigin: new URL(gatehouse.services.config.issuer).origin,
      query: { client_id: application.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email' },
      client: options.client,
    };

    console.log(`Gatehouse password sign-in benchmark — ${new Date().toISOString()}`);
    console.log(`node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? '4 (default)'}`);
    console.log(
      `argon2id parameters (ARGON2_OPTIONS): memoryCost ${ARGON2_OPTIONS.memoryCost} KiB (${ARGON2_OPTIONS.memoryCost / 1024} MiB), timeCost ${ARGON2_OPTIONS.timeCost}, parallelism ${ARGON2_OPTIONS.parallelism}; stored hash ${stored.password_hash.split('$').slice(0, 4).join('$')}$…`,
    );
    const pool = Number(process.env.UV_THREADPOOL_SIZE || 4);
    if (pool < cpus().length) {
      console.log(`NOTE: UV_THREADPOOL_SIZE=${pool} < ${cpus().length} CPUs caps the raw verify rate too, so the ratio below overstates; compare with a default-pool run's raw rate.`);
    }
    console.log(`database: ${postgres ? 'postgres' : 'sqlite'}; ${options.vus} virtual users over ${users.length} users; load generator: bench/password-loadgen.mjs in a child process (${{ socket: 'raw keep-alive sockets', http: 'node:http, keep-alive', fetch: 'fetch' }[options.client]})`);
    console.log('');

    // SQL per sign-in, and unloaded latency per step: sequential sign-ins in this process.
    const sequentialSteps = loadgen.STEPS.map(() => [] as number[]);
    census.statements.clear();
    census.microseconds.clear();
    for (let i = 0; i < Math.max(1, options.censusSignIns); i++) {
      const user = users[i % users.length]!;
      const timings: number[] = [];
      census.on = true;
      await loadgen.passwordSignIn({ ...base, email: user.email, password: user.password, timings, onStep: (step) => void (census.step = step) });
      census.on = false;
      timings.forEach((t, s) => sequentialSteps[s]!.push(t));
    }
    uninstallCensus(); // the load runs on the unpatched driver
    const censusRuns = Math.max(1, options.censusSignIns);
    const perStep = new Map<string, number>();
    let totalStatements = 0;
    for (const byStep of census.statements.values()) {
      for (const [step, n] of byStep) {
        perStep.set(step, (perStep.get(step) ?? 0) + n);
        totalStatements += n;
      }
    }

    // 1. Raw verify.
    const noise: string[] = [];
    const noisy: string[] = [];
    const verifies: VerifyResult[] = [];
    const laneRounds: VerifyResult[] = [];
    const lanesInUse = config.hashingThreads;
    const show = (label: string, r: VerifyResult) =>
      console.log(`   ${label}: ${fmt(r.perSecond, 1)} verifies/s (this process ${r.cpu.own.toFixed(2)} cores: main thread ${r.cpu.main?.toFixed(2) ?? '?'}, other threads ${r.cpu.others?.toFixed(2) ?? '?'})`);
    if (!options.skipVerify) {
      const cores = cpus().length;
      console.log(`1. raw argon2id verify on every core: ${cores} lanes, then @node-rs/argon2 \`verify\` on libuv's pool; ${options.verifySeconds} s each…`);
      if (cores !== lanesInUse) {
        useHashingLanes(cores);
        await measureVerify('lanes', stored.password_hash, users[0]!.password, 2 * cores, 1); // warm-up
        const everyCore = await measureVerify('lanes', stored.password_hash, users[0]!.password, 2 * cores, options.verifySeconds);
        useHashingLanes(lanesInUse);
        verifies.push(everyCore);
        noise.push(describeNoise(`raw verify, ${cores} lanes`, everyCore.cpu, noisy));
        show(`${cores} lanes`, everyCore);
      }
      await measureVerify('pool', stored.password_hash, users[0]!.password, 2, 1); // warm-up
      for (const n of options.inFlight) {
        const r = await measureVerify('pool', stored.password_hash, users[0]!.password, n, options.verifySeconds);
        verifies.push(r);
        noise.push(describeNoise(`raw verify, ${n} in flight`, r.cpu, noisy));
        show(`${n} in flight`, r);
      }
    }
    const best = verifies.reduce<VerifyResult | undefined>((a, b) => (!a || b.perSecond > a.perSecond ? b : a), undefined);

    // 2 + 3. Sign-ins under load.
    console.log(
      `2. full password sign-ins, ${options.vus} virtual users, ${options.warmupSeconds} s warm-up + ${options.rounds} rounds of ${fmt(options.durationSeconds / options.rounds, 1)} s, ` +
        `each followed by as long a raw verify on the ${lanesInUse} hashing lane(s)` +
        (options.stepFlows > 0 ? `; 3. the ${stepLabel} alone, ${options.stepFlows} prepared flows…` : '…'),
    );
    const load = await runLoad({ ...base, users: users.map(({ email, password }) => ({ email, password })), vus: options.vus, warmupSeconds: options.warmupSeconds, durationSeconds: options.durationSeconds, rounds: options.rounds, stepFlows: options.stepFlows, step: options.step }, async (round) => {
      if (options.skipVerify) return;
      const r = await measureVerify('lanes', stored.password_hash, users[0]!.password, 2 * lanesInUse, options.durationSeconds / options.rounds);
      laneRounds.push(r);
      noise.push(describeNoise(`raw verify on the lanes, round ${round}`, r.cpu, noisy));
    });
    const signIns = load.phases['sign-ins'];
    const step = load.phases.step;
    const roundNames = signIns.rounds.map((_, i) => `sign-ins ${i + 1}`);
    const signInSpan = joinSpans(roundNames.map((name) => phaseSpan(load.marks, name)).filter((span): span is CpuSpan => span !== undefined));
    const lanes = laneRounds.length > 0 ? pooledVerify(laneRounds) : undefined;
    const stepSpan = phaseSpan(load.marks, 'step');
    for (const name of ['warm-up', ...roundNames, 'step prepare', 'step']) {
      const span = phaseSpan(load.marks, name);
      if (span) noise.push(describeNoise(name, span, noisy, name.startsWith('sign-ins') || name === 'step'));
    }
    console.log(`   ${fmt(signIns.perSecond, 1)} sign-ins/s (${signIns.signIns} in ${signIns.seconds.toFixed(1)} s), latency p50 ${ms(signIns.latency.p50)} ms, p99 ${ms(signIns.latency.p99)} ms, max ${ms(signIns.latency.max)} ms`);
    if (step) console.log(`   ${stepLabel} alone: ${fmt(step.perSecond, 1)}/s (${step.items} in ${step.seconds.toFixed(1)} s), latency p50 ${ms(step.latency.p50)} ms, p99 ${ms(step.latency.p99)} ms`);
    if (profiling) {
      for (const [name, m] of load.marks) if (m.profileWindow) console.log(`   profile window ${name} (monotonic µs): ${m.profileWindow}`);
    }
    console.log('');

    // Report.
    const ratio = lanes ? signIns.perSecond / lanes.perSecond : undefined;
    console.log('| measurement | value |');
    console.log('| --- | --- |');
    if (lanes) console.log(`| raw argon2id verifies/s on the ${lanesInUse} hashing lane(s), interleaved with the sign-ins (**the denominator**) | ${fmt(lanes.perSecond, 1)} |`);
    for (const r of verifies) {
      const how = r.via === 'lanes' ? `${r.inFlight / 2} lanes` : `libuv's pool, ${r.inFlight} in flight`;
      console.log(`| raw argon2id verifies/s on every core, ${how}${r === best ? ' (best)' : ''} | ${fmt(r.perSecond, 1)} |`);
    }
    console.log(`| password sign-ins/s (${options.vus} virtual users, full flow) | ${fmt(signIns.perSecond, 1)} |`);
    if (step) console.log(`| ${stepLabel} alone, per second (${options.vus} workers) | ${fmt(step.perSecond, 1)} |`);
    if (ratio !== undefined && lanes) {
      console.log(`| **ratio sign-ins/s ÷ raw verifies/s on the hashing lanes** | **${ratio.toFixed(2)}** (target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}${noisy.length > 0 ? '; NOISY run, do not use' : ''}) |`);
      if (step && options.step === 'password') console.log(`| ratio password POSTs/s ÷ raw verifies/s on the hashing lanes | ${(step.perSecond / lanes.perSecond).toFixed(2)} |`);
    }
    if (best) console.log(`| ratio sign-ins/s ÷ raw verifies/s on every core (reference) | ${(signIns.perSecond / best.perSecond).toFixed(2)} |`);
    if (laneRounds.length === signIns.rounds.length && laneRounds.length > 1) {
      const perRound = signIns.rounds.map((r, i) => r.perSecond / laneRounds[i]!.perSecond);
      console.log(`| ratio per round (sign-ins ÷ the raw window after it) | ${perRound.map((x) => x.toFixed(2)).join(', ')} |`);
    }
    console.log(`| sign-in latency p50 / p99 | ${ms(signIns.latency.p50)} ms / ${ms(signIns.latency.p99)} ms |`);
    console.log(`| SQL statements per sign-in | ${fmt(totalStatements / censusRuns, 1)} |`);
    console.log('');

    console.log('Per step (HTTP requests: authorize 2, identify 1, password-page 1, password 1, resume 1):');
    console.log('| step | unloaded p50 (sequential) | under load p50 / p99 | SQL statements |');
    console.log('| --- | ---: | ---: | ---: |');
    loadgen.STEPS.forEach((name, i) => {
      const seq = [...sequentialSteps[i]!].sort((a, b) => a - b);
      const loaded = signIns.steps[name]!;
      console.log(`| ${name} | ${ms(seq[Math.floor(seq.length / 2)] ?? NaN)} ms | ${ms(loaded.p50)} / ${ms(loaded.p99)} ms | ${fmt((perStep.get(name) ?? 0) / censusRuns, 1)} |`);
    });
    console.log('');

    console.log('CPU during the run:');
    for (const line of noise) console.log(`  ${line}`);
    const account = (label: string, span: CpuSpan | undefined, rate: number, elu?: number) => {
      if (!span) return;
      const per = (cores: number | undefined) => (cores === undefined ? '?' : `${fmt((cores / rate) * 1000, 2)} ms`);
      console.log(
        `  ${label}: server process ${span.own.toFixed(2)} cores (main thread ${span.main?.toFixed(2) ?? '?'}, other threads ${span.others?.toFixed(2) ?? '?'}), load generator ${span.child.toFixed(2)} cores` +
          (elu === undefined ? '' : `, event loop utilisation ${(elu * 100).toFixed(0)}%`) +
          `; CPU per item: main thread ${per(span.main)}, other threads ${per(span.others)}, load generator ${per(span.child)}`,
      );
    };
    if (lanes) account(`raw verify (${lanesInUse} lane(s))`, lanes.cpu, lanes.perSecond);
    if (best) account(`raw verify (every core, best: ${best.via === 'lanes' ? `${best.inFlight / 2} lanes` : `pool, ${best.inFlight} in flight`})`, best.cpu, best.perSecond);
    const elus = roundNames.map((name) => load.marks.get(name)?.elu).filter((x): x is number => x !== undefined);
    account('sign-ins', signInSpan, signIns.perSecond, elus.length > 0 ? elus.reduce((a, b) => a + b, 0) / elus.length : undefined);
    if (step) account(`${stepLabel} alone`, stepSpan, step.perSecond, load.marks.get('step')?.elu);
    if (best?.cpu.own && signInSpan && Number(process.env.UV_THREADPOOL_SIZE || 4) >= cpus().length) {
      const verifyCpu = best.cpu.own / best.perSecond;
      const signInCpu = (signInSpan.own + signInSpan.child) / signIns.perSecond;
      console.log(
        `  CPU ceiling: a raw verify costs ${fmt(verifyCpu * 1000, 2)} ms of CPU, a sign-in ${fmt(signInCpu * 1000, 2)} ms (server + load generator); ` +
          `with every core busy the every-core ratio could reach at most ${(verifyCpu / signInCpu).toFixed(2)} (measured ${(signIns.perSecond / best.perSecond).toFixed(2)}: ` +
          `${((signInSpan.own + signInSpan.child) / cpus().length * 100).toFixed(0)}% of the machine was busy)`,
      );
    }
    if (noisy.length > 0) console.log(`  WARNING: other load during ${noisy.join(', ')}; these numbers are not trustworthy.`);
    console.log('');

    const nativeMicroseconds = (sql: string) => census.microseconds.get(sql) ?? 0;
    const totalNative = [...census.statements.keys()].reduce((sum, sql) => sum + nativeMicroseconds(sql), 0);
    console.log(`SQL per sign-in (over ${censusRuns} sequential sign-ins), by statement (µs: CPU of better-sqlite3's native call per execution; ${fmt(totalNative / censusRuns / 1000, 2)} ms per sign-in in all):`);
    const rows = [...census.statements.entries()].map(([sql, byStep]) => ({ sql, byStep, n: [...byStep.values()].reduce((a, b) => a + b, 0) }));
    for (const { sql, byStep, n } of rows.sort((a, b) => b.n - a.n)) {
      const where = [...byStep].map(([s, c]) => `${s} ${fmt(c / censusRuns, 1)}`).join(', ');
      console.log(`  ${fmt(n / censusRuns, 1)} × ${fmt(nativeMicroseconds(sql) / n, 0)} µs  ${sql.replace(/\s+/g, ' ').slice(0, 140)}  [${where}]`);
    }
    return 0;
  } finally {
    await gatehouse?.close();
    await postgres?.drop();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error) => {
    console.error('');
    console.error(`FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(1);
  },
);
