import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { build, DIST, isBuildStale } from '../scripts/build.mjs';
import { drainable } from '../src/http/draining.ts';
import { type DatabaseKind, testDatabases } from './support/databases.ts';
import { freePort } from './support/ports.ts';
import { BOOTSTRAP } from './support/server.ts';

const REPO = fileURLToPath(new URL('..', import.meta.url));

interface Child {
  process: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  drop(): Promise<void>;
  /** Resolves when the server has logged a line with this message. */
  logged(message: string): Promise<void>;
}

/** Runs the command that starts the server from the repository, as a supervisor would, on a fresh data directory. */
async function startChild([command, ...args]: string[], database: DatabaseKind): Promise<Child> {
  const port = await freePort();
  const db = await database.create();
  const child = spawn(command!, args, {
    cwd: REPO,
    env: {
      ...process.env,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      GATEHOUSE_DATA_DIR: mkdtempSync(join(tmpdir(), 'gatehouse-lifecycle-')),
      GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
      GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
      LOG_LEVEL: 'info',
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let output = '';
  const waiting: Array<{ message: string; resolve(): void }> = [];
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
    for (const wait of waiting.filter((w) => output.includes(`"msg":"${w.message}`))) wait.resolve();
  });
  const logged = (message: string) =>
    new Promise<void>((resolve, reject) => {
      if (output.includes(`"msg":"${message}`)) return resolve();
      waiting.push({ message, resolve });
      void exited.then((code) => reject(new Error(`exited (${code}) without logging "${message}"`)));
    });
  await logged('Gatehouse is listening');
  return { process: child, port, exited, drop: db.drop, logged };
}

/** Runs `use` on a fresh child server; whatever happens, the child is gone and its database dropped afterwards. */
async function withChild(command: string[], database: DatabaseKind, use: (child: Child) => Promise<void>): Promise<void> {
  const child = await startChild(command, database);
  try {
    await use(child);
  } finally {
    if (child.process.exitCode === null && child.process.signalCode === null) child.process.kill('SIGKILL');
    await child.exited;
    await child.drop();
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Everything the socket receives until `done` says it is complete (or the peer closes). */
function receive(socket: Socket, done: (text: string) => boolean = () => false): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const finish = () => {
      socket.off('data', onData);
      resolve(text);
    };
    const onData = (chunk: Buffer) => {
      text += chunk.toString();
      if (done(text)) finish();
    };
    socket.on('data', onData);
    socket.once('close', finish);
  });
}

const completeResponse = (text: string) => {
  const [head, body = ''] = text.split('\r\n\r\n');
  const length = /^content-length: (\d+)$/im.exec(head ?? '')?.[1];
  return length !== undefined && Buffer.byteLength(body) >= Number(length);
};

/**
 * A token request held in flight: its headers ask `Expect: 100-continue`, and Node answers "100
 * Continue" only once the server has taken the request; the body follows when the test says.
 */
async function tokenRequestInFlight(port: number): Promise<{ sendBody(): Promise<string> }> {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: BOOTSTRAP.id,
    client_secret: BOOTSTRAP.secret,
    audience: `http://localhost:${port}/api`,
  }).toString();
  const socket = await openSocket(port);
  const continued = receive(socket, (text) => text.includes('\r\n\r\n'));
  socket.write(
    `POST /oauth2/token HTTP/1.1\r\nHost: localhost:${port}\r\nContent-Type: application/x-www-form-urlencoded\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nExpect: 100-continue\r\n\r\n`,
  );
  assert.match(await continued, /^HTTP\/1\.1 100 Continue/);
  return {
    sendBody() {
      // Read until the server closes the connection: the response must say it is the last one.
      const response = receive(socket);
      socket.write(body);
      return response;
    },
  };
}

/** Calls the management API of a child server as the bootstrap client. */
async function managementApi(base: string, audience: string) {
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience });
  const { access_token: token } = (await (await fetch(`${base}/oauth2/token`, { method: 'POST', body })).json()) as { access_token: string };
  return async (method: string, path: string, json: unknown) => {
    const response = await fetch(`${base}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(json),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Kinde's response shapes, read field by field
    return { status: response.status, body: (await response.json()) as any };
  };
}

function refusesConnections(port: number): Promise<boolean> {
  return openSocket(port).then(
    (socket) => {
      socket.destroy();
      return false;
    },
    (error: NodeJS.ErrnoException) => error.code === 'ECONNREFUSED',
  );
}

/**
 * The contract with a supervisor: on the signal, stop accepting, finish what is in flight, close idle
 * keep-alive connections, close the database, exit 0 — promptly, not after a keep-alive timeout.
 */
async function assertStopsGracefully(child: Child, signals: NodeJS.Signals[]): Promise<void> {
  const idle = await openSocket(child.port);
  const firstResponse = receive(idle, completeResponse);
  idle.write(`GET /health/live HTTP/1.1\r\nHost: localhost:${child.port}\r\n\r\n`);
  assert.match(await firstResponse, /^HTTP\/1\.1 200/);
  const idleClosed = new Promise<void>((resolve) => idle.once('close', () => resolve()));
  const inFlight = await tokenRequestInFlight(child.port);

  const signalledAt = Date.now();
  for (const signal of signals) {
    child.process.kill(signal);
    await child.logged('stopping');
  }
  await idleClosed;
  assert.ok(await refusesConnections(child.port), 'a new connection is refused once stopping');

  const response = await inFlight.sendBody();
  assert.match(response, /^HTTP\/1\.1 200/, 'the request in flight completes');
  assert.match(response, /^connection: close$/im);
  assert.ok(JSON.parse(response.split('\r\n\r\n')[1] ?? '{}').access_token, 'with its token: the database was still open');

  assert.equal(await child.exited, 0);
  const tookMs = Date.now() - signalledAt;
  assert.ok(tookMs < 5_000, `exited ${tookMs} ms after the signal: not held up by a keep-alive timeout or the 10 s grace`);
}

const SOURCE = [process.execPath, '--import', 'tsx', 'src/main.ts', 'serve'];

describe('stopping on a signal', () => {
  for (const database of testDatabases()) {
    it(`SIGTERM from source (${database.name}): in-flight request answered, idle connection closed, new ones refused, exit 0`, async () => {
      await withChild(SOURCE, database, (child) => assertStopsGracefully(child, ['SIGTERM']));
    });
  }

  it('exits even when whoever read its logs is gone (`npm start | pino-pretty`, then Ctrl-C)', { timeout: 30_000 }, async () => {
    const [sqlite] = testDatabases();
    await withChild(SOURCE, sqlite!, async (child) => {
      child.process.stdout!.destroy(); // the log reader is gone: the next log line meets a broken pipe
      child.process.kill('SIGTERM');
      assert.equal(await child.exited, 0);
    });
  });

  it('Ctrl-C under npm (SIGINT twice: the terminal and npm both send it) still stops gracefully', async () => {
    const [sqlite] = testDatabases();
    await withChild(SOURCE, sqlite!, (child) => assertStopsGracefully(child, ['SIGINT', 'SIGINT']));
  });
});

describe('draining', () => {
  it('cuts off a request still running when the grace period ends', async () => {
    const server = createServer(() => {}); // never answers
    const requests = drainable(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const socket = await openSocket(port);
    const taken = new Promise<void>((resolve) => server.once('request', () => resolve()));
    socket.write(`GET /slow HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    await taken;
    const cutOff = new Promise<string>((resolve) => socket.once('close', () => resolve('connection closed')));
    await requests.drain(50);
    assert.equal(await cutOff, 'connection closed');
  });
});

describe('the built server (dist)', () => {
  let entry: string;
  let scratch: string | undefined;

  // CI starts without dist/: build into a scratch directory inside the repository (so the compiled
  // modules resolve node_modules) rather than replacing a dist/ someone may be running.
  before(() => {
    if (!isBuildStale()) {
      entry = join(DIST, 'main.js');
      return;
    }
    mkdirSync(join(REPO, 'tmp'), { recursive: true });
    scratch = mkdtempSync(join(REPO, 'tmp', 'dist-'));
    build(scratch);
    entry = join(scratch, 'main.js');
  });

  after(() => {
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('loads from dist what start-up leaves for later: the management API, sign-in pages, the common-password list', async () => {
    const [sqlite] = testDatabases();
    await withChild([process.execPath, entry, 'serve'], sqlite!, async (child) => {
      const base = `http://127.0.0.1:${child.port}`;
      const api = await managementApi(base, `http://localhost:${child.port}/api`);
      const user = await api('POST', '/user', { identities: [{ type: 'email', details: { email: 'dist@example.test' } }] });
      assert.equal(user.status, 200);
      const common = await api('PUT', `/users/${user.body.id}/password`, { password: 'Password123' });
      assert.equal(common.status, 400);
      assert.match(common.body.errors[0].message, /too common/, 'the blocklist file was copied to dist');
      assert.equal((await api('PUT', `/users/${user.body.id}/password`, { password: 'a long and unusual phrase 42' })).status, 200);

      const app = await api('POST', '/applications', { name: 'Dist app', type: 'reg' });
      const callback = 'http://localhost:8000/callback';
      await api('POST', `/applications/${app.body.application.id}/auth_redirect_urls`, { urls: [callback] });
      const query = new URLSearchParams({ response_type: 'code', client_id: app.body.application.id, redirect_uri: callback, scope: 'openid', state: 's' });
      const authorize = await fetch(`${base}/oauth2/auth?${query}`, { redirect: 'manual' });
      const page = await fetch(new URL(authorize.headers.get('location')!, base), { headers: { cookie: authorize.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ') } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<h1>Sign in<\/h1>/);

      child.process.kill('SIGTERM');
      assert.equal(await child.exited, 0);
    });
  });

  it('starts from the compiled JavaScript, serves a token and stops gracefully on SIGTERM', async () => {
    const [sqlite] = testDatabases();
    await withChild([process.execPath, entry, 'serve'], sqlite!, (child) => assertStopsGracefully(child, ['SIGTERM']));
  });
});

/**
 * What `node dist/main.js serve` loads before it is ready: src/main.ts and everything it imports
 * statically (not `import type`, not `await import()`), as repository paths and package names.
 */
function loadedAtStartUp(): Set<string> {
  const loaded = new Set<string>();
  const visit = (file: string) => {
    const name = relative(REPO, file);
    if (loaded.has(name)) return;
    loaded.add(name);
    const source = readFileSync(file, 'utf8');
    for (const [, specifier] of source.matchAll(/^(?:import|export)\s+(?!type\b)[^'"]*?from\s+'([^']+)'/gm)) {
      if (specifier!.startsWith('.')) visit(resolve(dirname(file), specifier!));
      else loaded.add(specifier!);
    }
  };
  visit(join(REPO, 'src', 'main.ts'));
  return loaded;
}

describe('npm start', () => {
  // What a newcomer does, and what killing "the npm start pid" meant before: npm, a shell, tsx and the
  // server, of which only npm stopped. It builds dist/ first when it is stale, as for a newcomer.
  it('runs the server as npm\'s own child: SIGTERM to npm reaches it, it stops gracefully and npm exits 0', async () => {
    const [sqlite] = testDatabases();
    await withChild(['npm', 'start', '--silent'], sqlite!, (child) => assertStopsGracefully(child, ['SIGTERM']));
  });
});

describe('start-up', () => {
  it('loads none of what only some requests need: they import it when they first need it', () => {
    const loaded = loadedAtStartUp();
    assert.ok(loaded.has('src/app.ts') && loaded.has('oidc-provider') && loaded.has('kysely'), 'the import graph is read');
    const firstNeed = ['pg', 'better-sqlite3', 'nodemailer', 'qrcode', 'libphonenumber-js/max', 'src/management/router.ts', 'src/sign-in/flow/routes.ts'];
    assert.deepEqual(firstNeed.filter((module) => loaded.has(module)), []);
  });
});
