/**
 * Memory after load (a benchmark, not a test): `npm run bench:memory`.
 *
 * Starts Gatehouse as `npm start` does (compiled, its own process, SQLite in a temp directory, or
 * PostgreSQL with BENCH_DATABASE_URL), and reads the server process's RSS (VmRSS):
 *   1. idle, BENCH_IDLE_SECONDS (10) after a first token request;
 *   2. right after BENCH_LOAD_SECONDS (60) of client-credentials load from autocannon in a child process
 *      (bench/loadgen.mjs, BENCH_CONNECTIONS connections);
 *   3. after BENCH_IDLE_SECONDS more of idle.
 * Target (issue 13): 3 within 20% of 1 — what the load left behind (caches without bounds, retained
 * buffers) must not stay. RSS is the figure operators see; V8 returns freed heap to the OS lazily, so
 * a miss here may be heap that is free but kept (a heap snapshot tells which).
 * See docs/benchmarks.md.
 */
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { processTree, rssMb, serverPid, start, stop } from './server-process.ts';
import { numberFromEnv } from './support.ts';

const options = {
  idleSeconds: numberFromEnv('BENCH_IDLE_SECONDS', 10),
  loadSeconds: numberFromEnv('BENCH_LOAD_SECONDS', 60),
  connections: numberFromEnv('BENCH_CONNECTIONS', 10),
};
const TARGET = 1.2;
const CLIENT = { id: 'bench-memory-client', secret: 'BenchMemorySecret0123456789abcdefghijklmnopqrstuv' };

const sleep = (seconds: number) => new Promise((resolve) => setTimeout(resolve, seconds * 1000));

function autocannonChild(url: string, body: string, seconds: number): Promise<{ requests: number; non2xx: number }> {
  const child = fork(fileURLToPath(new URL('./loadgen.mjs', import.meta.url)), [], { execArgv: [], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('message', (message: { result?: { requests: { total: number }; non2xx: number }; error?: string }) => {
      child.send({ type: 'exit' });
      if (!message.result) reject(new Error(`load generator failed: ${message.error}`));
      else resolve({ requests: message.result.requests.total, non2xx: message.result.non2xx });
    });
    child.send({ type: 'run', url, body, connections: options.connections, seconds });
  });
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'gatehouse-memory-'));
  const env: Record<string, string> = {
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
    GATEHOUSE_BOOTSTRAP_CLIENT_ID: CLIENT.id,
    GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: CLIENT.secret,
  };
  if (process.env.BENCH_DATABASE_URL) env.DATABASE_URL = process.env.BENCH_DATABASE_URL;
  const started = await start('npm', dataDir, env);
  try {
    const origin = `http://127.0.0.1:${started.port}`;
    const pid = serverPid(processTree(started.child.pid!), started.port);
    if (!pid) throw new Error('could not find the server process');
    const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: CLIENT.id, client_secret: CLIENT.secret, audience: `http://localhost:${started.port}/api` }).toString();
    const first = await fetch(`${origin}/oauth2/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body });
    if (first.status !== 200) throw new Error(`the first token request answered ${first.status}: ${await first.text()}`);
    await sleep(options.idleSeconds);
    const idle = rssMb(pid);
    const load = await autocannonChild(`${origin}/oauth2/token`, body, options.loadSeconds);
    if (load.non2xx > 0) throw new Error(`${load.non2xx} responses were not 2xx`);
    const loaded = rssMb(pid);
    await sleep(options.idleSeconds);
    const after = rssMb(pid);
    const ratio = after / idle;
    console.log(`memory after load — ${new Date().toISOString()}; ${process.env.BENCH_DATABASE_URL ? 'postgres' : 'sqlite'}; ${load.requests} token requests in ${options.loadSeconds} s`);
    console.log('| server RSS | MiB |');
    console.log('| --- | --- |');
    console.log(`| idle, ${options.idleSeconds} s after the first request | ${idle.toFixed(0)} |`);
    console.log(`| right after ${options.loadSeconds} s of client-credentials load | ${loaded.toFixed(0)} |`);
    console.log(`| ${options.idleSeconds} s later | ${after.toFixed(0)} |`);
    console.log(`| **after ÷ idle** | **${ratio.toFixed(2)}** (target ≤ ${TARGET}: ${ratio <= TARGET ? 'met' : 'NOT met'}) |`);
  } finally {
    await stop(started);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
