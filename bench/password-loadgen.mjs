// Password sign-in driver and load generator for bench/password-sign-in.ts. Plain JavaScript on
// purpose: the bench forks it with bare `node` (no tsx loader) so that the HTTP client work does not
// share the server's event loop, and the bench also imports `passwordSignIn` to run its sequential
// SQL census in-process.
//
// One sign-in is what a browser without JavaScript does on the hosted pages (the same steps as
// test/support/form-driver.ts), with a fresh cookie jar, so no SSO session skips a page:
//   authorize      GET /oauth2/auth?…            → 303 /interaction/:uid → GET → 200 identify page
//   identify       POST /interaction/:uid/identify (csrf, identifier) → 303 /interaction/:uid
//   password-page  GET /interaction/:uid           → 200 password page
//   password       POST /interaction/:uid/password (csrf, password)  → 303 /oauth2/auth/:uid
//   resume         GET /oauth2/auth/:uid           → 303 <redirect_uri>?code=…&state=…
// Every status is checked; anything unexpected throws with the step, status and a page excerpt.
//
// Child protocol: the parent sends one message
//   { origin, issuerOrigin, query, client, users: [{ email, password }], vus, warmupSeconds, durationSeconds, stepFlows }
// The child answers { type: 'phase', name, event: 'start'|'end', cpuMicros } at each phase boundary,
// then { type: 'result', phases } or { type: 'error', error } and exits.
import { Agent, request as httpRequest } from 'node:http';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

export const STEPS = ['authorize', 'identify', 'password-page', 'password', 'resume'];

class Jar {
  cookies = new Map();

  remember(setCookies) {
    for (const header of setCookies) {
      const pair = header.split(';')[0];
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(header)) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  header() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }
}

// Three HTTP clients: raw sockets (`RawConnection` below, client: 'socket', the bench's default),
// node:http with a keep-alive agent ('http': about twice the load-generator CPU per sign-in) and the
// global fetch ('fetch', undici: about 2.5× node:http). That CPU comes out of the same 2 cores as the
// server's.
const agent = new Agent({ keepAlive: true });

function viaHttp(url, method, headers, body) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) }, agent }, (res) => {
      const chunks = [];
      res.on('data', (chunk) => chunks.push(chunk));
      res.on('end', () => {
        const setCookie = res.headers['set-cookie'];
        resolve({ status: res.statusCode, location: res.headers.location ?? null, setCookies: setCookie ?? [], text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * The cheapest client: one keep-alive socket per virtual user, requests written by hand and
 * responses parsed just enough (status, Location, Set-Cookie, a Content-Length or chunked body).
 * On 2 cores every microsecond the load generator spends is taken from the server, so this is the
 * default; node:http costs about twice as much per request.
 */
/** Below the server's keep-alive timeout (Node's default, 5 s), with room for a slow answer. */
const IDLE_REUSE_MS = 3_000;

export class RawConnection {
  #socket;
  #pending = null;
  #buffer = Buffer.alloc(0);

  #url;
  #open = false;
  #lastUsed = 0;

  constructor(origin) {
    this.#url = new URL(origin);
    this.host = this.#url.host;
    this.#connect();
  }

  /**
   * A flow paused longer than the server's keep-alive timeout (5 s; the password-step phase holds
   * hundreds of flows) would find its socket closed — or, writing just as the server closes it, reset.
   * Like a browser, a socket idle for IDLE_REUSE_MS is not reused: the next request opens a new one.
   */
  #connect() {
    const socket = connect({ host: this.#url.hostname, port: Number(this.#url.port), noDelay: true });
    this.#socket = socket;
    this.#open = true;
    this.#buffer = Buffer.alloc(0);
    // A replaced socket's late events must not touch its successor's request.
    const current = () => socket === this.#socket;
    socket.on('data', (chunk) => current() && this.#received(chunk));
    socket.on('error', (error) => current() && this.#fail(error));
    socket.on('end', () => current() && (this.#open = false));
    socket.on('close', () => {
      if (!current()) return;
      this.#open = false;
      this.#fail(new Error('the server closed the connection'));
    });
  }

  request(method, pathAndQuery, headers, body) {
    if (this.#pending) return Promise.reject(new Error('one request at a time on a RawConnection'));
    const idle = performance.now() - this.#lastUsed > IDLE_REUSE_MS;
    if (!this.#open || this.#socket.destroyed || !this.#socket.writable || idle) {
      this.#socket.removeAllListeners('close');
      this.#socket.destroy();
      this.#connect();
    }
    this.#lastUsed = performance.now();
    let head = `${method} ${pathAndQuery} HTTP/1.1\r\nhost: ${this.host}\r\n`;
    for (const [name, value] of Object.entries(headers)) if (value) head += `${name}: ${value}\r\n`;
    if (body !== undefined) head += `content-length: ${Buffer.byteLength(body)}\r\n`;
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(body === undefined ? `${head}\r\n` : `${head}\r\n${body}`);
    });
  }

  close() {
    this.#open = false;
    this.#socket.removeAllListeners('close');
    this.#socket.destroy();
  }

  #fail(error) {
    const pending = this.#pending;
    this.#pending = null;
    pending?.reject(error);
  }

  #received(chunk) {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
    const end = this.#buffer.indexOf('\r\n\r\n');
    if (end < 0 || !this.#pending) return;
    const lines = this.#buffer.toString('latin1', 0, end).split('\r\n');
    const status = Number(lines[0].slice(9, 12));
    let location = null;
    let length = -1;
    let chunked = false;
    const setCookies = [];
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i];
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'set-cookie') setCookies.push(value);
      else if (name === 'location') location = value;
      else if (name === 'content-length') length = Number(value);
      else if (name === 'transfer-encoding') chunked = /chunked/i.test(value);
    }
    const bodyStart = end + 4;
    let text;
    let consumed;
    if (chunked) {
      const decoded = dechunk(this.#buffer, bodyStart);
      if (!decoded) return;
      ({ text, consumed } = decoded);
    } else {
      const size = Math.max(0, length);
      if (this.#buffer.length < bodyStart + size) return;
      text = this.#buffer.toString('utf8', bodyStart, bodyStart + size);
      consumed = bodyStart + size;
    }
    this.#buffer = this.#buffer.subarray(consumed);
    const pending = this.#pending;
    this.#pending = null;
    this.#lastUsed = performance.now();
    pending.resolve({ status, location, setCookies, text });
  }
}

/** A chunked body from `start`, or undefined until the last chunk has arrived. */
function dechunk(buffer, start) {
  const parts = [];
  let at = start;
  for (;;) {
    const lineEnd = buffer.indexOf('\r\n', at);
    if (lineEnd < 0) return undefined;
    const size = parseInt(buffer.toString('latin1', at, lineEnd), 16);
    if (buffer.length < lineEnd + 2 + size + 2) return undefined;
    if (size === 0) return { text: Buffer.concat(parts).toString('utf8'), consumed: lineEnd + 4 };
    parts.push(buffer.subarray(lineEnd + 2, lineEnd + 2 + size));
    at = lineEnd + 2 + size + 2;
  }
}

async function viaFetch(url, method, headers, body) {
  const response = await fetch(url, { method, headers, body, redirect: 'manual' });
  const text = await response.text();
  return { status: response.status, location: response.headers.get('location'), setCookies: response.headers.getSetCookie(), text };
}

export class FlowError extends Error {
  constructor(step, message) {
    super(`${step}: ${message}`);
    this.step = step;
  }
}

const excerpt = (text) => text.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);

/**
 * One password sign-in. `ctx`: { origin (where to connect), issuerOrigin (what the server writes in
 * absolute Locations), query (authorization request parameters, without state), email, password,
 * client? ('http' default, 'fetch', or 'socket' with connection: a RawConnection to `origin`),
 * onStep?(name) called and awaited before each step, timings? (array: ms per step, in STEPS order) }.
 * Returns the authorization code.
 */
export async function passwordSignIn(ctx) {
  const jar = new Jar();
  const state = randomBytes(8).toString('hex');
  const resolve = (location, base) => {
    const url = new URL(location, base);
    // The issuer says `localhost`; the server listens on 127.0.0.1 only (localhost may be ::1 first).
    if (url.origin === ctx.issuerOrigin) return new URL(url.pathname + url.search, ctx.origin);
    return url;
  };
  const connection = ctx.client === 'socket' ? ctx.connection : undefined;
  const viaSocket = (url, method, headers, body) => connection.request(method, url.pathname + url.search, headers, body);
  const send = connection ? viaSocket : ctx.client === 'fetch' ? viaFetch : viaHttp;
  async function request(step, url, init = {}) {
    const response = await send(url, init.method ?? 'GET', { ...(init.headers ?? {}), cookie: jar.header() }, init.body);
    jar.remember(response.setCookies);
    return { ...response, url };
  }
  function expectRedirect(step, res) {
    if (res.status !== 303 && res.status !== 302) throw new FlowError(step, `expected a redirect from ${res.url.pathname}, got ${res.status}: ${excerpt(res.text)}`);
    if (!res.location) throw new FlowError(step, `redirect without Location from ${res.url.pathname}`);
    return resolve(res.location, res.url);
  }
  function expectPage(step, res, action) {
    if (res.status !== 200) throw new FlowError(step, `expected a page at ${res.url.pathname}, got ${res.status}: ${excerpt(res.text)}`);
    const forms = [...res.text.matchAll(/<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((f) => f[1].endsWith(action));
    if (!form) throw new FlowError(step, `no form ending in ${action} at ${res.url.pathname}: ${excerpt(res.text)}`);
    const csrf = /<input type="hidden" name="csrf" value="([^"]*)"/.exec(form[2])?.[1];
    if (!csrf) throw new FlowError(step, `no csrf input in the ${action} form`);
    return { action: resolve(form[1].replace(/&amp;/g, '&'), res.url), csrf };
  }
  const post = (step, url, fields) =>
    request(step, url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

  let t = performance.now();
  // onStep may return a promise: the flow waits for it (the password-step phase pauses flows that way);
  // the step's time starts once it resolves.
  const step = async (name) => {
    await ctx.onStep?.(name);
    t = performance.now();
  };
  const lap = (i) => {
    const now = performance.now();
    if (ctx.timings) ctx.timings[i] = now - t;
    t = now;
  };

  await step('authorize');
  const start = await request('authorize', new URL(`/oauth2/auth?${new URLSearchParams({ ...ctx.query, state })}`, ctx.origin));
  const interactionUrl = expectRedirect('authorize', start);
  if (!/^\/interaction\/[^/]+$/.test(interactionUrl.pathname)) throw new FlowError('authorize', `redirected to ${interactionUrl} instead of an interaction`);
  const identifyForm = expectPage('authorize', await request('authorize', interactionUrl), '/identify');
  lap(0);

  await step('identify');
  const afterIdentify = expectRedirect('identify', await post('identify', identifyForm.action, { csrf: identifyForm.csrf, identifier: ctx.email }));
  if (afterIdentify.pathname !== interactionUrl.pathname) throw new FlowError('identify', `redirected to ${afterIdentify} instead of the interaction page`);
  lap(1);

  await step('password-page');
  const passwordForm = expectPage('password-page', await request('password-page', afterIdentify), '/password');
  lap(2);

  await step('password');
  const resumeUrl = expectRedirect('password', await post('password', passwordForm.action, { csrf: passwordForm.csrf, password: ctx.password }));
  if (!resumeUrl.pathname.startsWith('/oauth2/auth/')) throw new FlowError('password', `redirected to ${resumeUrl} instead of /oauth2/auth/:uid (wrong password or an extra step?)`);
  lap(3);

  await step('resume');
  const callback = expectRedirect('resume', await request('resume', resumeUrl));
  lap(4);
  const code = callback.searchParams.get('code');
  if (!callback.toString().startsWith(ctx.query.redirect_uri) || !code) throw new FlowError('resume', `ended at ${callback} without a code (error=${callback.searchParams.get('error')})`);
  if (callback.searchParams.get('state') !== state) throw new FlowError('resume', 'state did not come back unchanged');
  return code;
}

// ---------------------------------------------------------------------------------------------------

function quantile(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function summarise(latencies) {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted[sorted.length - 1] ?? NaN, mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length) };
}

/** A raw socket for one virtual user (it carries one request at a time), when that client is chosen. */
const connectionFor = (message) => (message.client === 'socket' ? new RawConnection(message.origin) : undefined);

/** Sign-ins for `seconds`, with their raw latencies (summarised by `combineFlows`). */
async function runFlows(message, seconds) {
  const base = { origin: message.origin, issuerOrigin: message.issuerOrigin, query: message.query, client: message.client };
  const deadline = performance.now() + seconds * 1000;
  const totals = [];
  const steps = STEPS.map(() => []);
  let n = 0;
  const started = performance.now();
  const vu = async (index) => {
    const connection = connectionFor(message);
    try {
      for (let i = 0; performance.now() < deadline; i++) {
        const user = message.users[(index + i * message.vus) % message.users.length];
        const timings = [];
        const t0 = performance.now();
        await passwordSignIn({ ...base, connection, email: user.email, password: user.password, timings });
        totals.push(performance.now() - t0);
        timings.forEach((ms, s) => steps[s].push(ms));
        n++;
      }
    } finally {
      connection?.close();
    }
  };
  await Promise.all(Array.from({ length: message.vus }, (_, i) => vu(i)));
  return { signIns: n, seconds: (performance.now() - started) / 1000, totals, steps };
}

/** One phase's figures from one or more runs of `runFlows` (`rounds` keeps each run's rate). */
function combineFlows(runs) {
  const signIns = runs.reduce((a, r) => a + r.signIns, 0);
  const seconds = runs.reduce((a, r) => a + r.seconds, 0);
  return {
    signIns,
    seconds,
    perSecond: signIns / seconds,
    latency: summarise(runs.flatMap((r) => r.totals)),
    steps: Object.fromEntries(STEPS.map((s, i) => [s, summarise(runs.flatMap((r) => r.steps[i]))])),
    rounds: runs.map((r) => ({ signIns: r.signIns, seconds: r.seconds, perSecond: r.signIns / r.seconds })),
  };
}

/**
 * One step alone (`message.step`, one of STEPS; the password POST by default): `stepFlows` sign-ins
 * are first brought to that step (untimed) and paused there; then `vus` workers release them one at a
 * time and wait for the step's answer, as fast as the server gives it. Each flow pauses again before
 * the next step; after the timed part every flow goes on (untimed) and must still end with a code.
 */
async function runOneStep(message, phase) {
  const timed = message.step ?? 'password';
  const index = STEPS.indexOf(timed);
  if (index < 0) throw new Error(`unknown step ${timed}; one of ${STEPS.join(', ')}`);
  const following = STEPS[index + 1];
  const base = { origin: message.origin, issuerOrigin: message.issuerOrigin, query: message.query, client: message.client };
  const flows = [];
  let next = 0;
  phase('step prepare', 'start');
  const prepare = async () => {
    while (next < message.stepFlows) {
      const user = message.users[next++ % message.users.length];
      const flow = { timings: [] };
      const stepGate = new Promise((r) => (flow.releaseStep = r));
      const followingGate = new Promise((r) => (flow.releaseFollowing = r));
      const atStep = new Promise((r) => (flow.atStep = r));
      flow.answered = new Promise((r) => (flow.atFollowing = r));
      const connection = connectionFor(message);
      flow.done = passwordSignIn({
        ...base,
        connection,
        email: user.email,
        password: user.password,
        timings: flow.timings,
        onStep: (name) => {
          if (name === timed) {
            flow.atStep();
            return stepGate;
          }
          if (name === following) {
            flow.atFollowing();
            return followingGate;
          }
        },
      });
      flow.done.catch(() => {}).finally(() => connection?.close()); // awaited (and rethrown) below; this only avoids an early unhandled rejection
      flows.push(flow);
      await Promise.race([atStep, flow.done]);
    }
  };
  await Promise.all(Array.from({ length: message.vus }, prepare));
  phase('step prepare', 'end');

  phase('step', 'start');
  let taken = 0;
  const started = performance.now();
  const fire = async () => {
    while (taken < flows.length) {
      const flow = flows[taken++];
      flow.releaseStep();
      await Promise.race([flow.answered, flow.done]);
    }
  };
  await Promise.all(Array.from({ length: message.vus }, fire));
  const elapsed = (performance.now() - started) / 1000;
  phase('step', 'end');

  // The rest of each flow, `vus` at a time: all at once would be a burst of password attempts on
  // the same few accounts, which attack protection rightly turns away.
  let finished = 0;
  const finish = async () => {
    while (finished < flows.length) {
      const flow = flows[finished++];
      flow.releaseFollowing();
      await flow.done; // throws if the flow did not end with a code
    }
  };
  await Promise.all(Array.from({ length: message.vus }, finish));
  return { step: timed, items: flows.length, seconds: elapsed, perSecond: flows.length / elapsed, latency: summarise(flows.map((f) => f.timings[index])) };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.once('message', async (message) => {
    const phase = (name, event) => process.send({ type: 'phase', name, event, cpuMicros: cpuNow() });
    const cpuNow = () => {
      const c = process.cpuUsage();
      return c.user + c.system;
    };
    try {
      const phases = {};
      if (message.warmupSeconds > 0) {
        phase('warm-up', 'start');
        phases['warm-up'] = combineFlows([await runFlows(message, message.warmupSeconds)]);
        phase('warm-up', 'end');
      }
      // Rounds: after each, the parent measures the raw verify rate while this process waits, so
      // both rates are taken under the same machine conditions (its speed drifts).
      const rounds = Math.max(1, message.rounds ?? 1);
      const runs = [];
      for (let round = 1; round <= rounds; round++) {
        phase(`sign-ins ${round}`, 'start');
        runs.push(await runFlows(message, message.durationSeconds / rounds));
        phase(`sign-ins ${round}`, 'end');
        const resumed = new Promise((resolve) => process.once('message', resolve));
        process.send({ type: 'round', round });
        await resumed;
      }
      phases['sign-ins'] = combineFlows(runs);
      if (message.stepFlows > 0) phases.step = await runOneStep(message, phase);
      process.send({ type: 'result', phases }, () => process.exit(0));
    } catch (error) {
      process.send({ type: 'error', error: String(error?.stack ?? error) }, () => process.exit(1));
    }
  });
}
