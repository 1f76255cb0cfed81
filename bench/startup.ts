/**
 * Start-up and footprint benchmark (a benchmark, not a test): `npm run bench:startup`.
 *
 * For each way of starting Gatehouse it spawns the server on a fresh SQLite data directory, once to
 * create it (the "first start": migrations, a signing key, and for `npm start` a build when dist is
 * stale), then BENCH_RUNS more times on that directory, and measures
 *   - ready: from spawn to the first 200 on /health (the server logs "Gatehouse is listening" once
 *     its port is open; that line is the cue to ask), and the CPU time the process tree had used by
 *     then (less sensitive than wall time to other work on a shared machine);
 *   - idle RSS after BENCH_IDLE_SECONDS: VmRSS of the node process that holds the listening socket,
 *     and of every process in the tree spawned (npm, sh, tsx's own children…);
 *   - stop: SIGTERM to the pid spawned, then the exit code, how long it took, and whether any process
 *     of the tree survived or the port still accepts connections.
 * Modes (BENCH_MODES, comma-separated): `npm` (`npm start`), `built` (`node dist/main.js serve`) and
 * `tsx` (`node --import tsx src/main.ts serve`, how the tests run the source).
 * See docs/benchmarks.md.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/ports.ts';
import { numberFromEnv } from './support.ts';

/** BENCH_REPO measures another checkout with this bench (e.g. the commit before a change, unpacked with `git archive`). */
const REPO = process.env.BENCH_REPO ?? fileURLToPath(new URL('..', import.meta.url));
const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux
const READY_TARGET_MS = 1500;
const RSS_TARGET_MB = 120;

const options = {
  runs: numberFromEnv('BENCH_RUNS', 5),
  idleSeconds: numberFromEnv('BENCH_IDLE_SECONDS', 10),
  modes: (process.env.BENCH_MODES ?? 'npm,built,tsx').split(',').map((mode) => mode.trim()),
};

const COMMANDS: Record<string, [string, string[]]> = {
  npm: ['npm', ['start', '--silent']],
  built: [process.execPath, ['dist/main.js', 'serve']],
  tsx: [process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve']],
};

interface Start {
  child: ChildProcess;
  port: number;
  readyMs: number;
  cpuMs: number;
  exited: Promise<number | null>;
}

/** Resolves once the server has logged that it listens (its port is open), or rejects when it exits first. */
function listeningLogged(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      seen = (seen + chunk.toString()).slice(-4096);
      if (seen.includes('"msg":"Gatehouse is listening"')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`exited with ${code} before listening; stderr: ${stderrOf.get(child) ?? ''}`)));
  });
}

const stderrOf = new WeakMap<ChildProcess, string>();

async function start(mode: string, dataDir: string): Promise<Start> {
  const [command, args] = COMMANDS[mode] ?? [];
  if (!command || !args) throw new Error(`unknown mode ${mode}; use ${Object.keys(COMMANDS).join(', ')}`);
  const port = await freePort();
  const began = performance.now();
  const child = spawn(command, args, {
    cwd: REPO,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      GATEHOUSE_DATA_DIR: dataDir,
      DATABASE_URL: `sqlite:${join(dataDir, 'gatehouse.sqlite')}`,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr!.on('data', (chunk: Buffer) => stderrOf.set(child, ((stderrOf.get(child) ?? '') + chunk.toString()).slice(-2000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  await listeningLogged(child);
  const health = await fetch(`http://127.0.0.1:${port}/health`);
  if (health.status !== 200) throw new Error(`/health answered ${health.status}`);
  const readyMs = performance.now() - began;
  return { child, port, readyMs, cpuMs: cpuMsOf(processTree(child.pid!)), exited };
}

/** The pid and every descendant (from /proc/<pid>/task/<tid>/children). */
function processTree(pid: number): number[] {
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) {
    const tasks = safe(() => readdirSync(`/proc/${tree[i]}/task`), []);
    for (const task of tasks) {
      const children = safe(() => readFileSync(`/proc/${tree[i]}/task/${task}/children`, 'utf8'), '');
      for (const child of children.trim().split(/\s+/).filter(Boolean)) tree.push(Number(child));
    }
  }
  return tree;
}

function safe<T>(read: () => T, fallback: T): T {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** User + system CPU time of these processes so far (fields 14 and 15 of /proc/<pid>/stat, after the command name). */
function cpuMsOf(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const stat = safe(() => readFileSync(`/proc/${pid}/stat`, 'utf8'), '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * CLOCK_TICK_MS;
  }, 0);
}

function rssMb(pid: number): number {
  const status = safe(() => readFileSync(`/proc/${pid}/status`, 'utf8'), '');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

function commandOf(pid: number): string {
  return safe(() => readFileSync(`/proc/${pid}/cmdline`, 'utf8'), '').split('\0').filter(Boolean).join(' ');
}

/** The socket inode listening on this port, from /proc/net/tcp{,6} (state 0A is LISTEN). */
function listeningInode(port: number): string | undefined {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of safe(() => readFileSync(table, 'utf8'), '').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A') return fields[9];
    }
  }
  return undefined;
}

/** The process of the tree that holds the listening socket: the server itself. */
function serverPid(tree: number[], port: number): number | undefined {
  const inode = listeningInode(port);
  if (!inode) return undefined;
  return tree.find((pid) => safe(() => readdirSync(`/proc/${pid}/fd`), []).some((fd) => safe(() => readlinkSync(`/proc/${pid}/fd/${fd}`), '') === `socket:[${inode}]`));
}

function isAlive(pid: number): boolean {
  const state = /^State:\s+(\S)/m.exec(safe(() => readFileSync(`/proc/${pid}/status`, 'utf8'), ''))?.[1];
  return state !== undefined && state !== 'Z';
}

function acceptsConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Stop {
  exitCode: number | null;
  stopMs: number;
  survivors: string[];
  portOpen: boolean;
}

/** SIGTERM to the pid spawned (what a supervisor or Ctrl-C in a terminal does), then checks what is left. */
async function stop(started: Start): Promise<Stop> {
  const tree = processTree(started.child.pid!);
  const began = performance.now();
  started.child.kill('SIGTERM');
  const exitCode = await started.exited;
  const stopMs = performance.now() - began;
  const survivors = tree.filter(isAlive);
  const described = survivors.map((pid) => `${pid} ${commandOf(pid)}`);
  const portOpen = await acceptsConnections(started.port);
  for (const pid of survivors) safe(() => process.kill(pid, 'SIGKILL'), true);
  return { exitCode, stopMs, survivors: described, portOpen };
}

interface ModeResult {
  mode: string;
  firstMs: number;
  readyMs: number[];
  cpuMs: number[];
  serverRssMb: number;
  treeRssMb: number;
  tree: string[];
  stops: Stop[];
}

async function measure(mode: string): Promise<ModeResult> {
  const dataDir = mkdtempSync(join(tmpdir(), `gatehouse-startup-${mode}-`));
  try {
    const first = await start(mode, dataDir);
    const stops = [await stop(first)];
    const readyMs: number[] = [];
    const cpuMs: number[] = [];
    let footprint = { serverRssMb: 0, treeRssMb: 0, tree: [] as string[] };
    for (let run = 0; run < options.runs; run++) {
      const started = await start(mode, dataDir);
      readyMs.push(started.readyMs);
      cpuMs.push(started.cpuMs);
      if (run === options.runs - 1) {
        await new Promise((resolve) => setTimeout(resolve, options.idleSeconds * 1000));
        const tree = processTree(started.child.pid!);
        const server = serverPid(tree, started.port);
        footprint = {
          serverRssMb: server ? rssMb(server) : Number.NaN,
          treeRssMb: tree.reduce((sum, pid) => sum + rssMb(pid), 0),
          tree: tree.map((pid) => `${pid === server ? '*' : ' '} ${rssMb(pid).toFixed(0).padStart(4)} MB  ${commandOf(pid).slice(0, 90)}`),
        };
      }
      stops.push(await stop(started));
    }
    return { mode, firstMs: first.readyMs, readyMs, cpuMs, ...footprint, stops };
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function report(result: ModeResult): boolean {
  const [command, args] = COMMANDS[result.mode]!;
  const ready = median(result.readyMs);
  const cleanStops = result.stops.every((s) => s.exitCode === 0 && s.survivors.length === 0 && !s.portOpen);
  console.log(`\n${result.mode}: ${command === process.execPath ? 'node' : command} ${args.join(' ')}`);
  console.log(`  first start (fresh data dir): ${result.firstMs.toFixed(0)} ms`);
  console.log(`  ready: median ${ready.toFixed(0)} ms (target ≤ ${READY_TARGET_MS}), runs ${result.readyMs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  console.log(`  CPU used by then (whole tree): median ${median(result.cpuMs).toFixed(0)} ms, runs ${result.cpuMs.map((ms) => ms.toFixed(0)).join(', ')} ms`);
  console.log(`  idle RSS after ${options.idleSeconds} s: server ${result.serverRssMb.toFixed(1)} MB (target ≤ ${RSS_TARGET_MB}), whole tree ${result.treeRssMb.toFixed(1)} MB`);
  for (const line of result.tree) console.log(`    ${line}`);
  const stopMs = result.stops.map((s) => s.stopMs.toFixed(0)).join(', ');
  console.log(`  SIGTERM to the spawned pid: exit codes ${result.stops.map((s) => s.exitCode).join(', ')}; took ${stopMs} ms`);
  for (const s of result.stops) {
    if (s.survivors.length) console.log(`    SURVIVED: ${s.survivors.join('; ')}`);
    if (s.portOpen) console.log('    the port still accepted connections after the spawned process exited');
  }
  return cleanStops;
}

async function main(): Promise<void> {
  console.log(`startup bench: ${options.runs} runs per mode after a first start, idle ${options.idleSeconds} s; node ${process.version}; ${REPO}`);
  console.log(`load average before: ${loadavg().map((n) => n.toFixed(2)).join(' ')} (the machine is shared: compare modes within one run)`);
  let clean = true;
  for (const mode of options.modes) clean = report(await measure(mode)) && clean;
  console.log(`\nload average after: ${loadavg().map((n) => n.toFixed(2)).join(' ')}`);
  if (!clean) {
    console.log('FAILED: a stop did not end with exit code 0, every process gone and the port closed');
    process.exitCode = 1;
  }
}

await main();
