/**
 * Webhook burst benchmark (issue 14, a benchmark, not a test): `npx tsx bench/webhook-burst.ts`.
 *
 * Starts Gatehouse on SQLite in a temp dir (or PostgreSQL: DATABASE_URL=postgres://… names a base
 * URL under which a throw-away database is made), a receiver in a child process, and a load generator
 * (bench/loadgen.mjs, another child) on POST /oauth2/token (client credentials). It measures
 *   0. the CPU time Gatehouse spends per delivery, with nothing else to do: BENCH_COST_EVENTS (2,000)
 *      events committed at once, process CPU (every thread) from the commit until the receiver has
 *      them all, divided by their number; and per token request, from the baseline below. CPU time,
 *      unlike wall clock, does not depend on what else the machine runs, so it is the figure to decide by;
 *   1. token endpoint req/s with no webhook traffic (BENCH_BASELINE seconds, default 8), before the
 *      burst and again after it (the machine's other work drifts; the mean is the reference);
 *   2. a burst of BENCH_EVENTS (10,000) events recorded as fast as the store takes them, each to
 *      one webhook, while the load generator keeps hitting the token endpoint: how many the receiver
 *      has after 60 s, the time until it has them all, and the token req/s meanwhile (BENCH_RECORD_FIRST=1:
 *      the events are committed at once before the clock and the load start; BENCH_EVENTS=0:
 *      the cost alone, say under `node --cpu-prof --import tsx`).
 * Targets: all events delivered within 60 s; token req/s during the drain ≥ 90% of the baseline.
 * Gatehouse's own settings (GATEHOUSE_WEBHOOK_MAX_RATE, …) are read from the environment as usual.
 */
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { recordEvent } from '../src/domain/events/outbox.ts';
import { createWebhook } from '../src/domain/webhooks/registry.ts';
import { type Db, inTransaction } from '../src/store/db.ts';
import { createDatabase, numberFromEnv } from './support.ts';

const EVENTS = numberFromEnv('BENCH_EVENTS', 10_000);
const COST_EVENTS = numberFromEnv('BENCH_COST_EVENTS', 2_000);
const BASELINE_SECONDS = numberFromEnv('BENCH_BASELINE', 8);
const DEADLINE_SECONDS = 60;
const WINDOW_SECONDS = 2;
const CONNECTIONS = numberFromEnv('BENCH_CONNECTIONS', 10);
/** BENCH_RECORD_FIRST=1: the burst is recorded in one transaction before the clock and the load start (on a loaded PostgreSQL, recording under load takes longer than the minute). */
const RECORD_FIRST = process.env.BENCH_RECORD_FIRST === '1';
const BOOTSTRAP = { id: 'bench-m2m-client', secret: 'BenchSecret0123456789abcdefghijklmnopqrstuvwxyzAB' };
const load1 = () => loadavg()[0]!.toFixed(2);
const loadAtStart = loadavg().map((l) => l.toFixed(2)).join(' ');

/** This process's CPU time (all threads: the event loop, libuv's pool where signatures run), in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

const db = await createDatabase();
const gatehouse = await startGatehouse(
  loadConfig({
    // The webhook knobs under test (GATEHOUSE_WEBHOOK_MAX_RATE, …) from this run's environment.
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => name.startsWith('GATEHOUSE_WEBHOOK_'))),
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: db.url,
    GATEHOUSE_DATA_DIR: mkdtempSync(join(tmpdir(), 'gatehouse-bench-data-')),
    GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
    GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
    LOG_LEVEL: 'silent',
  }),
);
const { services } = gatehouse;

const receiver = fork(fileURLToPath(new URL('./webhook-receiver.mjs', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const port = await new Promise<number>((resolve) => receiver.once('message', (message: { listening: number }) => resolve(message.listening)));
await createWebhook(services.db, { name: 'bench', endpoint: `http://127.0.0.1:${port}/hook`, eventTypes: ['user.updated'] }, { issuer: services.config.issuer, allowPrivateNetwork: true });

/** Resolves with the moment the receiver has `count` more distinct events than now. */
function receiverGets(count: number): Promise<number> {
  return new Promise((resolve) => {
    const listener = (message: { received?: number }) => {
      if (message.received === undefined) return;
      receiver.off('message', listener);
      resolve(performance.now());
    };
    receiver.on('message', listener);
    receiver.send({ expect: count });
  });
}

function receivedSoFar(): Promise<{ count: number; cpuMs: number }> {
  return new Promise((resolve) => {
    const listener = (message: { count?: number; cpuMicros?: number }) => {
      if (message.count === undefined) return;
      receiver.off('message', listener);
      resolve({ count: message.count, cpuMs: (message.cpuMicros ?? 0) / 1000 });
    };
    receiver.on('message', listener);
    receiver.send({ count: true });
  });
}

let subjects = 0;
/** `count` user.updated events, each its own subject, `perTransaction` to a commit. */
async function recordEvents(store: Db, count: number, perTransaction: number): Promise<void> {
  for (let recorded = 0; recorded < count; ) {
    const batch = Math.min(perTransaction, count - recorded);
    await inTransaction(store, async (tx) => {
      for (let i = 0; i < batch; i++) {
        const n = subjects++;
        await recordEvent(tx, { type: 'user.updated', subject: `kp_${n.toString(16).padStart(32, '0')}`, data: { user: { id: `kp_${n}` } } });
      }
    });
    recorded += batch;
  }
}

// 0. CPU per delivery, nothing else running in this process: all events commit at once (the worker
// only wakes on the commit), then every millisecond of CPU until the receiver has them is delivery's.
let costPerDelivery: number | undefined;
if (COST_EVENTS > 0) {
  const delivered = receiverGets(COST_EVENTS);
  let cpuStart = 0;
  let wallStart = 0;
  await inTransaction(services.db, async (tx) => {
    for (let i = 0; i < COST_EVENTS; i++) await recordEvent(tx, { type: 'user.updated', subject: `kp_cost_${i}`, data: { user: { id: `kp_cost_${i}` } } });
    cpuStart = cpuMs();
    wallStart = performance.now();
  });
  const at = await delivered;
  costPerDelivery = (cpuMs() - cpuStart) / COST_EVENTS;
  console.log(`cost: ${COST_EVENTS} deliveries, no other load: ${((at - wallStart) / 1000).toFixed(1)} s, ${costPerDelivery.toFixed(3)} ms CPU per delivery (load average ${load1()})`);
}

if (EVENTS === 0) {
  // BENCH_EVENTS=0: the cost alone (say, under --cpu-prof).
  receiver.send({ exit: true });
  await gatehouse.close();
  await db.drop();
  process.exit(0);
}

const loadgen = fork(fileURLToPath(new URL('./loadgen.mjs', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const tokenBody = new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${services.config.issuer}/api` }).toString();
function load(seconds: number): Promise<{ requests: number; non2xx: number }> {
  return new Promise((resolve, reject) => {
    loadgen.once('message', (message: { result?: { requests: { total: number }; non2xx: number }; error?: string }) =>
      message.error || !message.result ? reject(new Error(message.error)) : resolve({ requests: message.result.requests.total, non2xx: message.result.non2xx }),
    );
    loadgen.send({ type: 'run', url: `${gatehouse.url}/oauth2/token`, body: tokenBody, connections: CONNECTIONS, seconds });
  });
}

await load(2); // warm-up
const baselineCpu = cpuMs();
const baseline = await load(BASELINE_SECONDS);
const costPerToken = (cpuMs() - baselineCpu) / baseline.requests;
const baselineRate = baseline.requests / BASELINE_SECONDS;
const loadBeforeBurst = load1();

const receiverBefore = await receivedSoFar();
const received = receiverGets(EVENTS);
let recordedIn = 0;
if (RECORD_FIRST) {
  const recording = performance.now();
  await recordEvents(services.db, EVENTS, EVENTS);
  recordedIn = (performance.now() - recording) / 1000;
}
const started = performance.now();
const burstCpu = cpuMs();
let drained: number | undefined;
void received.then((at) => (drained = at));
let atDeadline: number | undefined;
const deadline = setTimeout(() => void receivedSoFar().then(({ count }) => (atDeadline = count - receiverBefore.count)), DEADLINE_SECONDS * 1000);
const windows: Array<{ requests: number; non2xx: number }> = [];
const loading = (async () => {
  while (drained === undefined) windows.push(await load(WINDOW_SECONDS));
})();
if (!RECORD_FIRST) {
  await recordEvents(services.db, EVENTS, 500);
  recordedIn = (performance.now() - started) / 1000;
}
const lastRecordedAt = RECORD_FIRST ? 0 : recordedIn;
await received;
const drainSeconds = ((drained ?? performance.now()) - started) / 1000;
clearTimeout(deadline);
await loading;
const loadAfterBurst = load1();
// The token endpoint alone again: on a shared machine the rate drifts, so "before" is the mean of the
// runs either side of the burst (both printed).
const afterwards = await load(BASELINE_SECONDS);
const afterRate = afterwards.requests / BASELINE_SECONDS;
const aloneRate = (baselineRate + afterRate) / 2;
const receiverCpuPerDelivery = ((await receivedSoFar()).cpuMs - receiverBefore.cpuMs) / EVENTS;
const burstCpuMs = cpuMs() - burstCpu;
const tokensDuring = windows.reduce((sum, w) => sum + w.requests, 0);
const duringRate = tokensDuring / (windows.length * WINDOW_SECONDS);
const ratio = duringRate / aloneRate;
const delivered60 = atDeadline ?? EVENTS;

console.log(`node ${process.version}, ${cpus().length} CPUs, database: ${db.url.startsWith('sqlite') ? 'sqlite' : 'postgres'}, load average at start ${loadAtStart}, before the burst ${loadBeforeBurst}, after it ${loadAfterBurst}`);
console.log(`events: ${EVENTS} recorded in ${recordedIn.toFixed(1)} s${RECORD_FIRST ? ' in one transaction before the clock and the load started' : ' under load'}; ${delivered60} delivered after ${DEADLINE_SECONDS} s; all delivered after ${drainSeconds.toFixed(1)} s (${Math.round(EVENTS / drainSeconds)} deliveries/s; target ≤ ${DEADLINE_SECONDS} s), ${(drainSeconds - lastRecordedAt).toFixed(1)} s after the last was recorded`);
console.log(`token endpoint: ${Math.round(aloneRate)} req/s alone (${Math.round(baselineRate)} before the burst, ${Math.round(afterRate)} after it), ${Math.round(duringRate)} req/s while draining (${(ratio * 100).toFixed(0)}%; target ≥ 90%)`);
console.log(`CPU: ${costPerToken.toFixed(3)} ms per token request (baseline: ${((baselineRate * costPerToken) / 1000).toFixed(2)} cores for Gatehouse)${costPerDelivery === undefined ? '' : `, ${costPerDelivery.toFixed(3)} ms per delivery (no load) = ${(costPerDelivery / costPerToken).toFixed(2)} token requests`}`);
// What the drain would cost at the minimum pace for the deadline, from CPU time alone: at full load the
// process's CPU is the token endpoint's, so deliveries/s × (delivery ÷ token) is what it gives up.
if (costPerDelivery !== undefined) {
  const givenUp = (pace: number) => `${(((pace * costPerDelivery) / costPerToken / aloneRate) * 100).toFixed(1)}%`;
  const minimumPace = EVENTS / DEADLINE_SECONDS;
  const cap = services.config.webhookMaxRate;
  console.log(
    `CPU-founded: delivering ${Math.round(minimumPace)}/s (the deadline's minimum pace) takes ${givenUp(minimumPace)} of the token endpoint's ${Math.round(aloneRate)} req/s` +
      (cap > 0 ? `; at the cap (GATEHOUSE_WEBHOOK_MAX_RATE=${cap}) ${givenUp(cap)}` : ''),
  );
}
console.log(`receiver (a child process on the same cores): ${receiverCpuPerDelivery.toFixed(3)} ms CPU per delivery received`);
console.log(`CPU during the burst: ${(burstCpuMs / 1000).toFixed(1)} s for ${tokensDuring} token requests and ${EVENTS} events recorded + delivered`);
// If deliveries cost under load what they cost alone, the rest is the token endpoint's: a token request
// dearer than at baseline means the two interfere (pool queueing, caches, GC), beyond delivery's own CPU.
if (costPerDelivery !== undefined) {
  const perTokenDuring = (burstCpuMs - EVENTS * costPerDelivery) / tokensDuring;
  console.log(`token request CPU while draining, deliveries at their cost alone taken out (recording left in): ${perTokenDuring.toFixed(3)} ms, ${((perTokenDuring / costPerToken - 1) * 100).toFixed(0)}% over baseline`);
}
console.log(`non-2xx token responses: ${baseline.non2xx + afterwards.non2xx + windows.reduce((sum, w) => sum + w.non2xx, 0)}`);

loadgen.send({ type: 'exit' });
receiver.send({ exit: true });
await gatehouse.close();
await db.drop();
