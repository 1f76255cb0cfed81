// Summarises a V8 .cpuprofile written by `node --cpu-prof` (see docs/benchmarks.md):
//   node bench/analyze-profile.mjs <file.cpuprofile> [startUs-endUs] [--top N]
// The optional window (printed by bench/token-throughput.ts when run under --cpu-prof) keeps only the
// samples of the measured load run. Prints self time by function, self time by module (src/ file,
// node_modules package, node internals) and inclusive time of the functions that matter most.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const file = args.find((a) => a.endsWith('.cpuprofile'));
if (!file) {
  console.error('usage: node bench/analyze-profile.mjs <file.cpuprofile> [startUs-endUs] [--top N]');
  process.exit(2);
}
const windowArg = args.find((a) => /^\d+-\d+$/.test(a));
const topIndex = args.indexOf('--top');
const top = topIndex >= 0 ? Number(args[topIndex + 1]) : 30;
const [from, to] = windowArg ? windowArg.split('-').map(Number) : [-Infinity, Infinity];

const profile = JSON.parse(readFileSync(file, 'utf8'));
const nodes = new Map(profile.nodes.map((n) => [n.id, n]));
const parent = new Map();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

function moduleOf(url) {
  if (!url) return '(native / V8)';
  if (url.startsWith('node:')) return url;
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + '/node_modules/'.length).split('/');
    return `node_modules/${rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]}`;
  }
  const src = url.indexOf('/src/');
  if (src >= 0) return url.slice(src + 1).replace(/\?.*$/, '');
  const bench = url.indexOf('/bench/');
  if (bench >= 0) return url.slice(bench + 1);
  return url;
}

/** Where a frame is, short: `src/…`, `node_modules/<pkg>/<path>` or `node:…`. */
function locationOf(url) {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + 1);
  return moduleOf(url);
}

function label(node) {
  const cf = node.callFrame;
  const name = cf.functionName || '(anonymous)';
  return cf.url ? `${name} ${locationOf(cf.url)}:${cf.lineNumber + 1}` : name;
}

// Sample times: startTime + cumulative timeDeltas (µs); weight = delta to the next sample.
const samples = profile.samples;
const deltas = profile.timeDeltas;
let t = profile.startTime;
const times = samples.map((_, i) => (t += deltas[i]));
const self = new Map();
const selfByModule = new Map();
const inclusive = new Map();
let total = 0;
let idle = 0;
for (let i = 0; i < samples.length; i++) {
  if (times[i] < from || times[i] > to) continue;
  const weight = i + 1 < samples.length ? deltas[i + 1] : 0;
  total += weight;
  const node = nodes.get(samples[i]);
  const name = label(node);
  if (node.callFrame.functionName === '(idle)') idle += weight;
  self.set(name, (self.get(name) ?? 0) + weight);
  const mod = node.callFrame.functionName.startsWith('(') ? node.callFrame.functionName : moduleOf(node.callFrame.url);
  selfByModule.set(mod, (selfByModule.get(mod) ?? 0) + weight);
  const seen = new Set();
  for (let id = samples[i]; id !== undefined; id = parent.get(id)) {
    const l = label(nodes.get(id));
    if (seen.has(l)) continue;
    seen.add(l);
    inclusive.set(l, (inclusive.get(l) ?? 0) + weight);
  }
}

const ms = (us) => (us / 1000).toFixed(0).padStart(7);
const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`profile ${file}: ${(total / 1e6).toFixed(2)} s sampled${windowArg ? ` in window ${windowArg}` : ''}, idle ${pct(idle)}`);
console.log(`\nTop ${top} functions by self time:`);
for (const [name, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
console.log(`\nSelf time by module:`);
for (const [name, us] of [...selfByModule].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
// Coarse buckets for the write-up (by the module a sample's own frame is in).
const CATEGORIES = [
  ['database: kysely + better-sqlite3 + pg', (m) => /node_modules\/(kysely|better-sqlite3|pg|pg-[a-z]+)$/.test(m)],
  ['garbage collector', (m) => m === '(garbage collector)'],
  ['crypto on the JS thread: jose + node:internal/crypto (WebCrypto sign dispatch, SHA-256)', (m) => /node_modules\/jose$|^node:internal\/crypto/.test(m)],
  ['AsyncLocalStorage promise hooks (node:async_hooks)', (m) => /async_hooks/.test(m)],
  ['oidc-provider', (m) => m === 'node_modules/oidc-provider'],
  ['koa, router and helpers', (m) => /node_modules\/(koa|@koa\/router|koa-compose|delegates|type-is|vary|statuses|content-type|mime-types|media-typer|http-errors|cookies|keygrip)/.test(m)],
  ['Gatehouse src/', (m) => m.startsWith('src/')],
  ['node HTTP, streams, sockets, querystring', (m) => /^node:(_http|internal\/streams|internal\/stream_base|net|events|buffer|querystring|internal\/querystring|internal\/url|internal\/http)/.test(m) || m === 'writev'],
  ['idle / program', (m) => m === '(idle)' || m === '(program)'],
];
const byCategory = new Map();
for (const [mod, us] of selfByModule) {
  const category = CATEGORIES.find(([, test]) => test(mod))?.[0] ?? 'other (V8 builtins, native, node internals)';
  byCategory.set(category, (byCategory.get(category) ?? 0) + us);
}
console.log(`\nSelf time by category:`);
for (const [name, us] of [...byCategory].sort((a, b) => b[1] - a[1])) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);

console.log(`\nInclusive time (functions in src/, plus the heaviest library frames):`);
const interesting = [...inclusive].filter(([name]) => / src\//.test(name) || / node_modules\//.test(name));
for (const [name, us] of interesting.sort((a, b) => b[1] - a[1]).slice(0, top * 2)) console.log(`${ms(us)} ms ${pct(us)}  ${name}`);
