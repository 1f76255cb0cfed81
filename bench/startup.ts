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
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { COMMANDS, commandOf, processTree, REPO, rssMb, serverPid, start, type Stop, stop } from './server-process.ts';
import { numberFromEnv } from './support.ts';

const READY_TARGET_MS = 1500;
const RSS_TARGET_MB = 120;

const options = {
  runs: numberFromEnv('BENCH_RUNS', 5),
  idleSeconds: numberFromEnv('BENCH_IDLE_SECONDS', 10),
  modes: (process.env.BENCH_MODES ?? 'npm,built,tsx').split(',').map((mode) => mode.trim()),
};

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
