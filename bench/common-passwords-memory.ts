/**
 * Common-password blocklist cost (a benchmark, not a test):
 *   node --expose-gc --import tsx bench/common-passwords-memory.ts
 *
 * Samples process.memoryUsage() after a full GC, once before the blocklist is loaded and once after
 * loading it and running 100,000 lookups (half SecLists entries, half random 16-character strings,
 * all made before the first sample), and prints the difference (target: at most 16 MB extra).
 * Then times lookups on the warm blocklist. See docs/benchmarks.md, "Common-password blocklist".
 */
import { randomInt } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { COMMON_PASSWORDS_FILE, isCommonPassword, loadCommonPasswords } from '../src/domain/common-passwords.ts';

const LOOKUPS = 100_000;
const TIMED_LOOKUPS = 1_000_000;
const TARGET_MB = 16;
const LIST = new URL('../scripts/data/common-passwords-top-100000.txt', import.meta.url);

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('Run with --expose-gc: node --expose-gc --import tsx bench/common-passwords-memory.ts');
  process.exit(1);
}

type Sample = ReturnType<typeof process.memoryUsage>;
// Several full GCs with a turn of the event loop between them, so finalizers from start-up have run.
async function sample(): Promise<Sample> {
  for (let i = 0; i < 3; i += 1) {
    gc!();
    await new Promise((resolve) => setImmediate(resolve));
  }
  return process.memoryUsage();
}

function randomPassword(length: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.!';
  return Array.from({ length }, () => alphabet[randomInt(alphabet.length)]).join('');
}

const listed = readFileSync(LIST, 'utf8').split('\n').slice(0, LOOKUPS / 2);
const inputs = [...listed, ...Array.from({ length: LOOKUPS / 2 }, () => randomPassword(16))];

const before = await sample();
const loadStart = performance.now();
const entries = loadCommonPasswords();
const loadMs = performance.now() - loadStart;
let blocked = 0;
for (const input of inputs) if (isCommonPassword(input)) blocked += 1;
const after = await sample();

let timedBlocked = 0;
const timedStart = performance.now();
for (let i = 0; i < TIMED_LOOKUPS; i += 1) if (isCommonPassword(inputs[i % inputs.length]!)) timedBlocked += 1;
const timedSeconds = (performance.now() - timedStart) / 1000;

const mb = (bytes: number) => (bytes / 1e6).toFixed(2);
const rows: [string, keyof Sample][] = [
  ['rss', 'rss'],
  ['heapUsed', 'heapUsed'],
  ['external', 'external'],
  ['arrayBuffers', 'arrayBuffers'],
];
console.log(`blocklist: ${entries} entries, ${statSync(COMMON_PASSWORDS_FILE).size} bytes, loaded in ${loadMs.toFixed(2)} ms`);
console.log(`${LOOKUPS} lookups: ${blocked} blocked (of ${listed.length} SecLists entries + ${LOOKUPS / 2} random)`);
console.log('');
console.log('memory (MB)    before    after    extra');
for (const [label, key] of rows) {
  console.log(`${label.padEnd(12)} ${mb(before[key]).padStart(8)} ${mb(after[key]).padStart(8)} ${mb(after[key] - before[key]).padStart(8)}`);
}
const heapPlusExternal = after.heapUsed + after.external - (before.heapUsed + before.external);
console.log(`${'heap+external'.padEnd(12)} ${''.padStart(8)} ${''.padStart(8)} ${mb(heapPlusExternal).padStart(8)}`);
const extra = Math.max(after.rss - before.rss, heapPlusExternal);
console.log('');
console.log(`extra memory: ${mb(extra)} MB (target ≤ ${TARGET_MB} MB): ${extra <= TARGET_MB * 1e6 ? 'OK' : 'OVER TARGET'}`);
console.log(
  `lookups: ${Math.round(TIMED_LOOKUPS / timedSeconds).toLocaleString('en-US')}/s ` +
    `(${TIMED_LOOKUPS.toLocaleString('en-US')} warm lookups in ${timedSeconds.toFixed(2)} s, ` +
    `${((timedSeconds / TIMED_LOOKUPS) * 1e6).toFixed(2)} µs each, ${timedBlocked} blocked)`,
);
