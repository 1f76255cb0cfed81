import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeWebhook } from '@kinde/webhooks';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { recordEvent } from '../src/domain/events/outbox.ts';
import type { Database } from '../src/store/schema.ts';
import { testDatabases } from './support/databases.ts';
import { freePort } from './support/ports.ts';
import { startReplica } from './support/replica.ts';
import { BOOTSTRAP } from './support/server.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

const postgres = testDatabases().find((kind) => kind.name === 'postgres');

/**
 * PostgreSQL LISTEN/NOTIFY (issue 14): an event committed by another process wakes a replica's
 * webhook worker at once. The replica polls only every 10 minutes here, so a delivery within the
 * receiver's 15 s can only come from the notification.
 */
describe('webhook workers woken by PostgreSQL NOTIFY', { skip: postgres ? false : 'needs TEST_DATABASE_URL' }, () => {
  let replica: { child: ChildProcess; url: string };
  let drop: () => Promise<void>;
  let other: Kysely<Database>;
  let issuer: string;
  const receiver = new WebhookReceiver();

  before(async () => {
    await receiver.start();
    const db = await postgres!.create();
    drop = db.drop;
    const port = await freePort();
    issuer = `http://127.0.0.1:${port}`;
    replica = await startReplica(
      {
        DATABASE_URL: db.url,
        ISSUER_URL: issuer,
        GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url'),
        GATEHOUSE_BOOTSTRAP_CLIENT_ID: BOOTSTRAP.id,
        GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: BOOTSTRAP.secret,
        GATEHOUSE_WEBHOOK_POLL_MS: '600000',
      },
      port,
    );
    // Another process's writes: this test's own connection, with no worker behind it.
    other = new Kysely<Database>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: db.url, max: 2 }) }) });
  });

  after(async () => {
    await new Promise<void>((resolve) => (replica.child.exitCode !== null ? resolve() : (replica.child.once('exit', () => resolve()), replica.child.kill('SIGTERM'))));
    await other?.destroy();
    await receiver.stop();
    await drop?.();
  });

  /** Resolves once the replica's session is listening (its last statement, as PostgreSQL reports it). */
  async function replicaListening(): Promise<void> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where query = 'LISTEN gatehouse_deliveries'`.execute(other);
      if (rows[0]!.n > 0) return;
      if (Date.now() > deadline) throw new Error('the replica never listened');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('delivers an event another process committed without waiting for the poll', async () => {
    const token = await fetch(`${replica.url}/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${issuer}/api` }),
    }).then((response) => response.json() as Promise<{ access_token: string }>);
    const hook = await fetch(`${replica.url}/api/v1/webhooks`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token.access_token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: receiver.url, event_types: ['role.deleted'], name: 'Woken' }),
    });
    assert.equal(hook.status, 200);
    await replicaListening();

    const eventId = await recordEvent(other, { type: 'role.deleted', subject: 'notified-role', data: { role: { id: 'notified-role' } } });
    await receiver.until((requests) => requests.length > 0);
    const decoded = (await decodeWebhook(receiver.requests[0]!.body, issuer)) as any;
    assert.equal(decoded.event_id, eventId);
    assert.deepEqual(decoded.data, { role: { id: 'notified-role' } });

    // A rolled-back write notifies nobody: nothing more arrives (the committed event after it proves the worker was awake).
    await assert.rejects(
      other.transaction().execute(async (tx) => {
        await recordEvent(tx, { type: 'role.deleted', subject: 'rolled-back', data: { role: { id: 'rolled-back' } } });
        throw new Error('rolled back');
      }),
      /rolled back/,
    );
    const second = await recordEvent(other, { type: 'role.deleted', subject: 'after-rollback', data: { role: { id: 'after-rollback' } } });
    await receiver.until((requests) => requests.length >= 2);
    const ids = await Promise.all(receiver.requests.map(async (request) => ((await decodeWebhook(request.body, issuer)) as any).event_id));
    assert.deepEqual(ids, [eventId, second]);
  });
});
