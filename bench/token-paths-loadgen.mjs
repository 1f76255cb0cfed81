// Load generator for bench/token-paths.ts: the refresh grant and the SSO round trip, from a child
// process (bare node, no tsx) so that the client's CPU is not the server's. Plain JavaScript on
// purpose, like bench/password-loadgen.mjs, whose raw keep-alive socket client it uses.
//
// Protocol: the parent sends { type: 'run', mode: 'refresh' | 'sso', origin, client, callback,
// people: [{ cookies, refreshToken, verifier, challenge }], seconds, rate? } and gets back
// { type: 'result', done, seconds, latencies, cpuMicros } or { type: 'error', error }. Closed loop:
// one worker per person, each request after the previous answer (at most `maxTrips` in all, when given). With `rate` (round trips/s): open
// loop, round trips started on a fixed schedule whatever the answers, as real users arrive.
// Refresh tokens rotate, so each person's newest one is kept between runs ({ type: 'state' }).
import { performance } from 'node:perf_hooks';
import { RawConnection } from './password-loadgen.mjs';

/** A cookie jar for one person: `name=value` pairs, updated from Set-Cookie. */
function remember(jar, setCookies) {
  for (const header of setCookies) {
    const pair = header.split(';')[0];
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();
    if (value === '' || /max-age=0|expires=Thu, 01 Jan 1970/i.test(header)) delete jar[name];
    else jar[name] = value;
  }
}

const cookieHeader = (jar) =>
  Object.entries(jar)
    .map(([name, value]) => `${name}=${value}`)
    .join('; ');

function tokenRequest(connection, client, fields) {
  const body = new URLSearchParams(fields).toString();
  return connection.request('POST', '/oauth2/token', { authorization: client.basic, 'content-type': 'application/x-www-form-urlencoded' }, body);
}

async function refresh(connection, client, person) {
  const response = await tokenRequest(connection, client, { grant_type: 'refresh_token', refresh_token: person.refreshToken });
  if (response.status !== 200) throw new Error(`refresh answered ${response.status}: ${response.text.slice(0, 300)}`);
  person.refreshToken = JSON.parse(response.text).refresh_token;
}

/** authorize with the SSO session → the callback's code → the token endpoint: what an application does when a signed-in person opens it. */
async function ssoRoundTrip(connection, client, callback, person) {
  const query = new URLSearchParams({
    client_id: client.id,
    redirect_uri: callback,
    response_type: 'code',
    scope: 'openid profile email offline',
    state: 'bench',
    code_challenge: person.challenge,
    code_challenge_method: 'S256',
  });
  let path = `/oauth2/auth?${query}`;
  for (let hop = 0; hop < 10; hop++) {
    const response = await connection.request('GET', path, { cookie: cookieHeader(person.cookies) });
    remember(person.cookies, response.setCookies);
    if (response.status < 300 || response.status >= 400 || !response.location) throw new Error(`SSO hop ${hop} answered ${response.status}: ${response.text.slice(0, 300)}`);
    if (response.location.startsWith(callback)) {
      const code = new URL(response.location).searchParams.get('code');
      if (!code) throw new Error(`the callback got no code: ${response.location}`);
      const tokens = await tokenRequest(connection, client, { grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: person.verifier });
      if (tokens.status !== 200) throw new Error(`code exchange answered ${tokens.status}: ${tokens.text.slice(0, 300)}`);
      return;
    }
    const next = new URL(response.location, 'http://origin.invalid');
    path = next.pathname + next.search;
  }
  throw new Error('the SSO round trip did not reach the callback in 10 hops');
}

async function run(message) {
  const { mode, origin, client, callback, people, seconds, rate, maxTrips } = message;
  const once = (connection, person) => (mode === 'refresh' ? refresh(connection, client, person) : ssoRoundTrip(connection, client, callback, person));
  const latencies = [];
  let done = 0;
  const cpuStart = process.cpuUsage();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  if (!rate) {
    await Promise.all(
      people.map(async (person) => {
        const connection = new RawConnection(origin);
        try {
          while (performance.now() < deadline && !(maxTrips !== undefined && done >= maxTrips)) {
            const t = performance.now();
            await once(connection, person);
            latencies.push(performance.now() - t);
            done++;
          }
        } finally {
          connection.close();
        }
      }),
    );
  } else {
    // Open loop: the i-th round trip starts at started + i / rate, on a free connection (or a new one).
    const idle = [];
    const inFlight = new Set();
    let i = 0;
    while (true) {
      const at = started + (i / rate) * 1000;
      if (at >= deadline) break;
      const wait = at - performance.now();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const person = people[i % people.length];
      i++;
      const connection = idle.pop() ?? new RawConnection(origin);
      const trip = (async () => {
        const t = performance.now();
        await once(connection, person);
        // Latency counts from the scheduled start: a late start is the server's queue, not the client's.
        latencies.push(performance.now() - Math.min(t, at));
        done++;
        idle.push(connection);
      })();
      inFlight.add(trip);
      trip.finally(() => inFlight.delete(trip));
    }
    await Promise.all(inFlight);
    for (const connection of idle) connection.close();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { done, seconds: (performance.now() - started) / 1000, latencies, cpuMicros: cpu.user + cpu.system, people };
}

process.on('message', async (message) => {
  if (message.type === 'exit') process.exit(0);
  try {
    const result = await run(message);
    process.send({ type: 'result', ...result });
  } catch (error) {
    process.send({ type: 'error', error: String(error?.stack ?? error) });
  }
});
