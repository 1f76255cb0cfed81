/**
 * What the token benchmarks share: the SQL census, the CPU noise check and the raw RS256 signing
 * windows that every ratio divides by (the throw-away database is in support.ts).
 */
import { createPrivateKey, randomBytes, sign as nodeSign } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import { CompactSign, type JWK } from 'jose';
import pg from 'pg';
import { machineBusySeconds } from './support.ts';

// ---------------------------------------------------------------------------------------------------
// SQL census: counts the statements Gatehouse runs per token request, by patching the drivers'
// prototypes in this process for a short window (Kysely prepares every SQLite statement anew, and
// sends every PostgreSQL statement through Client#query).

export const census = { on: false, resultCacheOn: false, statements: new Map<string, number>(), sqliteMillis: new Map<string, number>() };

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
export type Experiment = 'none' | 'stmt-cache' | 'result-cache';
export const experiment = (process.env.BENCH_EXPERIMENT ?? 'none') as Experiment;
if (!['none', 'stmt-cache', 'result-cache'].includes(experiment)) throw new Error('BENCH_EXPERIMENT must be stmt-cache or result-cache');

interface SqliteStatement {
  reader: boolean;
  all(...params: unknown[]): unknown[];
}

export function installCensus(): void {
  const sqliteProto = SQLite.prototype as unknown as { prepare: (...args: unknown[]) => unknown };
  const prepare = sqliteProto.prepare;
  const statements = new WeakMap<object, Map<string, SqliteStatement>>();
  const resultCaches: Map<string, unknown[]>[] = [];
  // Gatehouse keeps one prepared statement per SQL text (store/db.ts), so statements are counted when run.
  const statementProto = Object.getPrototypeOf(new SQLite(':memory:').prepare('SELECT 1')) as Record<string, (...args: unknown[]) => unknown>;
  for (const method of ['all', 'get', 'run', 'iterate']) {
    const real = statementProto[method]!;
    statementProto[method] = function (this: { source: string }, ...args: unknown[]) {
      if (!census.on) return real.apply(this, args);
      record(this.source);
      // SQLite runs on this thread: its time per statement is what the census can tell apart.
      const started = performance.now();
      try {
        return real.apply(this, args);
      } finally {
        census.sqliteMillis.set(this.source, (census.sqliteMillis.get(this.source) ?? 0) + performance.now() - started);
      }
    };
  }
  sqliteProto.prepare = function (this: object, ...args: unknown[]) {
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

export interface CpuMark {
  machineBusySeconds: number | undefined;
  /** CPU of local PostgreSQL server processes: part of the system under test, not noise. */
  postgresSeconds: number;
  ownMicros: number;
  /** CPU of this process's main (JavaScript) thread alone: what a request costs the event loop. */
  mainThreadSeconds: number | undefined;
  at: number;
}

/** utime + stime of one thread of this process, or of process `pid` (Linux /proc; undefined elsewhere). */
export function threadSeconds(tid: number, pid: number | 'self' = 'self'): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** utime + stime of a whole process (all its threads), Linux /proc. */
export function processSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of every local process named `postgres` (0 when there is none or no /proc); with
 * `database`, only the backends serving that database (other sessions' tests share the server).
 */
function postgresServerSeconds(database?: string): number {
  let ticks = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
        if (database && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(` ${database} `)) continue;
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


/** Count the local PostgreSQL server processes as part of the system under test (set once the database is known). */
export const postgresWatch: { on: boolean; database?: string } = { on: false };

export function cpuMark(): CpuMark {
  const own = process.cpuUsage();
  const postgresSeconds = postgresWatch.on ? postgresServerSeconds(postgresWatch.database) : 0;
  return { machineBusySeconds: machineBusySeconds(), postgresSeconds, ownMicros: own.user + own.system, mainThreadSeconds: threadSeconds(process.pid), at: performance.now() };
}

/** Main-thread CPU milliseconds per item between two marks (undefined without /proc). */
export function mainThreadMsPer(start: CpuMark, end: CpuMark, items: number): number | undefined {
  if (start.mainThreadSeconds === undefined || end.mainThreadSeconds === undefined) return undefined;
  return ((end.mainThreadSeconds - start.mainThreadSeconds) * 1000) / Math.max(1, items);
}

export function postgresCores(start: CpuMark, end: CpuMark): number {
  return (end.postgresSeconds - start.postgresSeconds) / ((end.at - start.at) / 1000);
}

/** Average cores used by other processes between two marks (`extraMicros`: CPU of our own children). */
export function foreignCores(start: CpuMark, end: CpuMark, extraMicros = 0): number | undefined {
  if (start.machineBusySeconds === undefined || end.machineBusySeconds === undefined) return undefined;
  const wall = (end.at - start.at) / 1000;
  const ours = (end.ownMicros - start.ownMicros + extraMicros) / 1e6 + (end.postgresSeconds - start.postgresSeconds);
  return Math.max(0, end.machineBusySeconds - start.machineBusySeconds - ours) / wall;
}

export function describeNoise(phase: string, cores: number | undefined, noisy: string[]): string {
  if (cores === undefined) return `${phase}: other processes' CPU unknown (no /proc/stat)`;
  if (cores > 0.1) noisy.push(phase);
  return `${phase}: other processes used ${cores.toFixed(2)} cores on average${cores > 0.1 ? ' — NOISY, rerun when the machine is quiet' : ''}`;
}


// ---------------------------------------------------------------------------------------------------
// Step 1: raw signing.

export interface SignResult {
  label: string;
  signs: number;
  seconds: number;
  perSecond: number;
}


export async function measureJoseSign(
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

export function measureNodeSign(label: string, pem: string, header: Record<string, unknown>, payload: Record<string, unknown>, seconds: number): SignResult {
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
