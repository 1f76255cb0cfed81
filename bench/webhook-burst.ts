/**
 * Webhook burst benchmark (issue 14, a benchmark, not a test): `npx tsx bench/webhook-burst.ts`.
 *
 * Starts Gatehouse on SQLite in a temp dir (or PostgreSQL: DATABASE_URL=postgres://… names a base
 * URL under which a throw-away database is made), a receiver in a child process, and a load generator
 * (bench/loadgen.mjs, another child) on POST /oauth2/token (client credentials). It measures
 *   1. token endpoint req/s with no webhook traffic (BENCH_BASELINE seconds, default 8);
 *   2. a burst of BENCH_EVENTS (10,000) events recorded as fast as the store takes them, each to
 *      one webhook, while the load generator keeps hitting the token endpoint: the time until the
 *      receiver has every event, and the token req/s meanwhile.
 * Targets: all events delivered within 60 s; token req/s during the drain ≥ 90% of the baseline.
 */
import { fork } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGatehouse } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import { recordEvent } from '../src/domain/events/outbox.ts';
import { createWebhook } from '../src/domain/webhooks/registry.ts';
import { inTransaction } from '../src/store/db.ts';
import { createDatabase, numberFromEnv } from './support.ts';

const EVENTS = numberFromEnv('BENCH_EVENTS', 10_000);
const BASELINE_SECONDS = numberFromEnv('BENCH_BASELINE', 8);
const WINDOW_SECONDS = 2;
const CONNECTIONS = numberFromEnv('BENCH_CONNECTIONS', 10);
const BOOTSTRAP = { id: 'bench-m2m-client', secret: 'BenchSecret0123456789abcdefghijklmnopqrstuvwxyzAB' };

const db = await createDatabase();
const gatehouse = await startGatehouse(
  loadConfig({
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
const baseline = await load(BASELINE_SECONDS);
const baselineRate = baseline.requests / BASELINE_SECONDS;

const received = new Promise<number>((resolve) => receiver.on('message', (message: { received?: number }) => message.received !== undefined && resolve(performance.now())));
receiver.send({ expect: EVENTS });
const started = performance.now();
let drained: number | undefined;
void received.then((at) => (drained = at));
const windows: Array<{ requests: number; non2xx: number }> = [];
const loading = (async () => {
  while (drained === undefined) windows.push(await load(WINDOW_SECONDS));
})();
for (let recorded = 0; recorded < EVENTS; ) {
  const batch = Math.min(500, EVENTS - recorded);
  await inTransaction(services.db, async (tx) => {
    for (let i = 0; i < batch; i++) await recordEvent(tx, { type: 'user.updated', subject: `kp_${(recorded + i).toString(16).padStart(32, '0')}`, data: { user: { id: `kp_${recorded + i}` } } });
  });
  recorded += batch;
}
const recordedIn = (performance.now() - started) / 1000;
await received;
const drainSeconds = ((drained ?? performance.now()) - started) / 1000;
await loading;
const duringRate = windows.reduce((sum, w) => sum + w.requests, 0) / (windows.length * WINDOW_SECONDS);

console.log(`database: ${db.url.startsWith('sqlite') ? 'sqlite' : 'postgres'}`);
console.log(`events: ${EVENTS} recorded in ${recordedIn.toFixed(1)} s, all delivered after ${drainSeconds.toFixed(1)} s (${Math.round(EVENTS / drainSeconds)} deliveries/s; target ≤ 60 s)`);
console.log(`token endpoint: ${Math.round(baselineRate)} req/s before, ${Math.round(duringRate)} req/s while draining (${((duringRate / baselineRate) * 100).toFixed(0)}%; target ≥ 90%)`);
console.log(`non-2xx token responses: ${baseline.non2xx + windows.reduce((sum, w) => sum + w.non2xx, 0)}`);

loadgen.send({ type: 'exit' });
receiver.send({ exit: true });
await gatehouse.close();
await db.drop();
