/**
 * Gatehouse as its own process, for the benchmarks that measure the process (start-up, memory):
 * spawning it the three ways it is started, and reading its CPU, memory and sockets from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { freePort } from '../test/support/ports.ts';

/** BENCH_REPO measures another checkout with this bench (e.g. the commit before a change, unpacked with `git archive`). */
export const REPO = process.env.BENCH_REPO ?? fileURLToPath(new URL('..', import.meta.url));
const CLOCK_TICK_MS = 10; // USER_HZ is 100 on Linux

export const COMMANDS: Record<string, [string, string[]]> = {
  npm: ['npm', ['start', '--silent']],
  built: [process.execPath, ['dist/main.js', 'serve']],
  tsx: [process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve']],
};

export interface Start {
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

export async function start(mode: string, dataDir: string, env: Record<string, string> = {}): Promise<Start> {
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
      ...env,
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
export function processTree(pid: number): number[] {
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
export function cpuMsOf(pids: number[]): number {
  return pids.reduce((sum, pid) => {
    const stat = safe(() => readFileSync(`/proc/${pid}/stat`, 'utf8'), '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return sum + (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) * CLOCK_TICK_MS;
  }, 0);
}

export function rssMb(pid: number): number {
  const status = safe(() => readFileSync(`/proc/${pid}/status`, 'utf8'), '');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status)?.[1];
  return kb ? Number(kb) / 1024 : 0;
}

export function commandOf(pid: number): string {
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
export function serverPid(tree: number[], port: number): number | undefined {
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

export interface Stop {
  exitCode: number | null;
  stopMs: number;
  survivors: string[];
  portOpen: boolean;
}

/** SIGTERM to the pid spawned (what a supervisor or Ctrl-C in a terminal does), then checks what is left. */
export async function stop(started: Start): Promise<Stop> {
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

