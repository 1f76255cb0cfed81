import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Gatehouse, startGatehouse } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Logger } from 'pino';
import type { DatabaseKind } from './databases.ts';
import { TestSmtp } from './smtp.ts';

export const BOOTSTRAP = {
  id: 'test-bootstrap-client',
  secret: 'BootstrapSecret0123456789abcdefghijklmnopqrstuv',
};

export interface TestServer extends Gatehouse {
  /** A management API token for the bootstrap client. */
  managementToken(): Promise<string>;
  api<T = any>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }>;
  /** Names are not asked unless `askForNames` (most tests are not about them). */
  /** Turns exactly these sign-in methods on for the application, e.g. ['phone:otp', 'username:password']. */
  useSignInMethods(applicationId: string, strategies: string[]): Promise<void>;
  createApplication(input: { name?: string; type: 'reg' | 'spa' | 'm2m' | 'device'; redirectUrls?: string[]; logoutUrls?: string[]; askForNames?: boolean }): Promise<{ id: string; secret?: string }>;
}

export async function startTestServer(options: { databaseUrl: string; env?: Record<string, string>; logger?: Logger }): Promise<TestServer> {
  const config = loadConfig({
    PORT: '0',
    HOST: '127.0.0.1',
    DATABASE_URL: options.databaseUrl,
    GATEHOUSE_DATA_DIR: mkdtempSync(join(tmpdir(), 'gatehouse-data-')),
    GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
    GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
    GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
    LOG_LEVEL: 'silent',
    GATEHOUSE_CHECK_RESPONSES: 'true',
    ...options.env,
  });
  const gatehouse = await startGatehouse(config, { logger: options.logger });
  let token: string | undefined;

  async function managementToken(): Promise<string> {
    if (token) return token;
    const response = await fetch(`${gatehouse.url}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: BOOTSTRAP.id,
        client_secret: BOOTSTRAP.secret,
        audience: `${gatehouse.services.config.issuer}/api`,
      }),
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`no management token: ${JSON.stringify(body)}`);
    token = body.access_token;
    return token;
  }

  async function api<T>(method: string, path: string, body?: unknown) {
    const response = await fetch(`${gatehouse.url}/api/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${await managementToken()}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  }

  async function useSignInMethods(applicationId: string, strategies: string[]): Promise<void> {
    const { applicationConnections, disableConnection, enableConnection, listConnections } = await import('../../src/domain/connections.ts');
    const { db } = gatehouse.services;
    for (const connection of await applicationConnections(db, applicationId)) await disableConnection(db, applicationId, connection.id);
    const all = await listConnections(db);
    for (const strategy of strategies) await enableConnection(db, applicationId, all.find((c) => c.strategy === strategy)!.id);
  }

  return { ...gatehouse, managementToken, api, useSignInMethods, createApplication: (input) => createTestApplication(gatehouse, input) };
}

/** Test-side shortcut through the domain (the management API has its own tests). */
async function createTestApplication(
  gatehouse: Gatehouse,
  input: { name?: string; type: 'reg' | 'spa' | 'm2m' | 'device'; redirectUrls?: string[]; logoutUrls?: string[]; askForNames?: boolean },
) {
  const { createApplication, updateApplication } = await import('../../src/domain/applications.ts');
  const { db } = gatehouse.services;
  const { application, clientSecret } = await createApplication(db, { name: input.name ?? `Test ${input.type} app`, type: input.type });
  await updateApplication(db, application.id, { redirectUrls: input.redirectUrls ?? [], logoutUrls: input.logoutUrls ?? [], askForNames: input.askForNames ?? false });
  return { id: application.id, secret: clientSecret };
}

/**
 * The usual suite setup, registered in the current `describe`: a fresh database of this kind, a
 * server on it, and everything closed and dropped afterwards. `ready` receives the server.
 */
export function serverForSuite(database: DatabaseKind, ready: (server: TestServer) => void, options: { env?: Record<string, string> | (() => Record<string, string>) } = {}): void {
  let server: TestServer | undefined;
  let drop: (() => Promise<void>) | undefined;
  before(async () => {
    const db = await database.create();
    drop = db.drop;
    server = await startTestServer({ databaseUrl: db.url, env: typeof options.env === 'function' ? options.env() : options.env });
    ready(server);
  });
  after(async () => {
    await server?.close();
    await drop?.();
  });
}

/**
 * The suite setup for sign-in tests: a real SMTP server that receives the codes, and a server on a
 * fresh database of this kind that sends to it; everything stopped and dropped afterwards.
 */
export function serverWithMailForSuite(database: DatabaseKind, ready: (server: TestServer, smtp: TestSmtp) => void, options: { env?: Record<string, string> } = {}): void {
  let smtp: TestSmtp | undefined;
  before(async () => {
    smtp = await new TestSmtp().start();
  });
  serverForSuite(database, (server) => ready(server, smtp!), { env: () => ({ SMTP_URL: smtp!.url, ...options.env }) });
  after(async () => {
    await smtp?.stop();
  });
}

/** Kinde's management API error body: `{errors:[{code, message}]}` with this status (and code). */
export function assertKindeError(response: { status: number; body: any }, status: number, code?: string): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.ok(Array.isArray(response.body.errors) && response.body.errors.length > 0, 'a Kinde error body');
  assert.equal(typeof response.body.errors[0].message, 'string');
  if (code) assert.equal(response.body.errors[0].code, code);
}

/** Creates a role through the management API; returns its id. */
export async function newRole(server: TestServer, key: string, extra: Record<string, unknown> = {}): Promise<string> {
  const { status, body } = await server.api('POST', '/roles', { key, name: `Role ${key}`, ...extra });
  assert.equal(status, 201, JSON.stringify(body));
  return body.role.id;
}

/** Creates a permission through the management API; returns its id. */
export async function newPermission(server: TestServer, key: string): Promise<string> {
  const { status, body } = await server.api('POST', '/permissions', { key, name: `Permission ${key}` });
  assert.equal(status, 201, JSON.stringify(body));
  return body.permission.id;
}
