import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { decodeWebhook } from '@kinde/webhooks';
import { decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT } from 'jose';
import { clock } from '../src/clock.ts';
import { loadKeySet } from '../src/domain/signing-keys.ts';
import { checkEndpoint } from '../src/domain/webhooks/registry.ts';
import { retryDelay } from '../src/domain/webhooks/deliveries.ts';
import { restAfterBatch } from '../src/domain/webhooks/pacing.ts';
import { webhookSigner } from '../src/domain/webhooks/signing.ts';
import type { SigningJwk } from '../src/domain/signing-keys.ts';
import { recordEvent } from '../src/domain/events/outbox.ts';
import { inTransaction } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, startTestServer, type TestServer } from './support/server.ts';
import { type Delivery, WebhookReceiver } from './support/webhook-receiver.ts';

const claimsOf = (delivery: Delivery) => decodeJwt(delivery.body) as { type: string; event_id: string; source: string; timestamp: string; data: any; iat: number; exp: number };

/** For what the server records after answering (an attempt's outcome): checked every 10 ms, bounded. */
async function eventually<T>(read: () => Promise<T>, holds: (value: T) => boolean, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (holds(value)) return value;
    if (Date.now() > deadline) throw new Error(`still not so after ${ms} ms: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function register(server: TestServer, receiver: WebhookReceiver, eventTypes: string[], name = 'Test hook'): Promise<string> {
  const created = await server.api('POST', '/webhooks', { endpoint: receiver.url, event_types: eventTypes, name });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body.webhook.id;
}

const newUser = async (server: TestServer, email: string) => {
  const created = await server.api('POST', '/user', { identities: [{ type: 'email', details: { email } }] });
  assert.equal(created.status, 200, JSON.stringify(created.body));
  return created.body.id as string;
};

/** A server of its own on SQLite, started with `env`, and a receiver: both stopped once `work` is done. */
async function withOwnServer(env: Record<string, string>, work: (server: TestServer, receiver: WebhookReceiver) => Promise<void>): Promise<void> {
  const db = await testDatabases()[0]!.create();
  const receiver = await new WebhookReceiver().start();
  const server = await startTestServer({ databaseUrl: db.url, env });
  try {
    await work(server, receiver);
  } finally {
    await server.close();
    await receiver.stop();
    await db.drop();
  }
}

for (const database of testDatabases()) {
  describe(`webhooks (${database.name})`, () => {
    let server: TestServer;
    const receiver = new WebhookReceiver();
    before(() => receiver.start());
    after(() => receiver.stop());
    serverForSuite(database, (started) => (server = started), { env: { GATEHOUSE_WEBHOOK_RETRY_BASE_MS: '20' } });

    it('registers, lists, updates and deletes webhooks in Kinde’s shapes', async () => {
      const created = await server.api('POST', '/webhooks', { endpoint: receiver.url, event_types: ['user.created', 'role.created'], name: 'Sync', description: 'Keeps us in sync' });
      assert.equal(created.status, 200, JSON.stringify(created.body));
      const { id } = created.body.webhook;
      assert.match(id, /^webhook_[0-9a-f]{32}$/);
      assert.deepEqual(created.body, { code: 'OK', message: 'Success', webhook: { id, endpoint: receiver.url } });

      const listed = (await server.api('GET', '/webhooks')).body.webhooks.find((hook: any) => hook.id === id);
      assert.deepEqual(listed, { id, name: 'Sync', endpoint: receiver.url, description: 'Keeps us in sync', event_types: ['user.created', 'role.created'], created_on: listed.created_on });
      assert.ok(!Number.isNaN(Date.parse(listed.created_on)));

      assert.deepEqual((await server.api('PATCH', `/webhooks/${id}`, { event_types: ['user.deleted'], description: null })).body, { code: 'OK', message: 'Success', webhook: { id } });
      const updated = (await server.api('GET', '/webhooks')).body.webhooks.find((hook: any) => hook.id === id);
      assert.deepEqual([updated.event_types, updated.description, updated.name], [['user.deleted'], null, 'Sync']);

      assertKindeError(await server.api('POST', '/webhooks', { endpoint: receiver.url, event_types: ['user.exploded'], name: 'Bad' }), 400, 'INVALID_EVENT_TYPE');
      assertKindeError(await server.api('POST', '/webhooks', { endpoint: 'not a url', event_types: ['user.created'], name: 'Bad' }), 400, 'INVALID_ENDPOINT');
      assertKindeError(await server.api('POST', '/webhooks', { endpoint: receiver.url, event_types: [], name: 'Bad' }), 400);
      assertKindeError(await server.api('PATCH', '/webhooks/webhook_nope', { name: 'x' }), 404, 'WEBHOOK_NOT_FOUND');

      assert.deepEqual((await server.api('DELETE', `/webhooks/${id}`)).body, { code: 'OK', message: 'Success' });
      assertKindeError(await server.api('DELETE', `/webhooks/${id}`), 404, 'WEBHOOK_NOT_FOUND');
    });

    it('delivers each event as an RS256 JWT that @kinde/webhooks decodes against the issuer', async () => {
      const hook = await register(server, receiver, ['user.created', 'organization.created']);
      const userId = await newUser(server, 'hooked@example.test');
      await receiver.until((requests) => requests.some((r) => claimsOf(r).data.user?.id === userId));
      const delivery = receiver.requests.find((r) => claimsOf(r).data.user?.id === userId)!;
      assert.equal(delivery.contentType, 'application/jwt');

      const decoded = await decodeWebhook<any>(delivery.body, server.services.config.issuer);
      assert.ok(decoded, 'decodeWebhook accepts it');
      assert.equal(decoded.type, 'user.created');
      assert.equal(decoded.source, 'api');
      assert.match(decoded.event_id, /^event_[0-9a-f]{32}$/);
      assert.ok(!Number.isNaN(Date.parse(decoded.timestamp)));
      assert.equal(decoded.data.user.id, userId);
      assert.equal(decoded.data.user.email, 'hooked@example.test');
      assert.ok(decoded.exp > decoded.iat);
      const stored = (await server.api('GET', `/events/${decoded.event_id}`)).body.event;
      assert.deepEqual(stored.data, decoded.data, 'the webhook carries what GET /events/{id} shows');

      // A type the webhook does not listen for is not sent.
      const before = receiver.requests.length;
      await server.api('POST', '/roles', { key: 'unheard', name: 'Unheard' });
      const code = (await server.api('POST', '/organization', { name: 'Heard' })).body.organization.code;
      await receiver.until((requests) => requests.some((r) => claimsOf(r).data.organization?.code === code));
      assert.ok(receiver.requests.slice(before).every((r) => claimsOf(r).type !== 'role.created'));

      const deliveries = (await server.api('GET', `/webhooks/${hook}/deliveries`)).body.deliveries;
      const ofUser = deliveries.find((d: any) => d.event_id === decoded.event_id);
      assert.equal(ofUser.status, 'delivered');
      assert.equal(ofUser.event_type, 'user.created');
      assert.equal(ofUser.attempts.length, 1);
      assert.equal(ofUser.attempts[0].status_code, 200);
      assert.equal(typeof ofUser.attempts[0].duration_ms, 'number');
      await server.api('DELETE', `/webhooks/${hook}`);
    });

    it('makes decodeWebhook refuse a delivery signed by another key, expired, or altered', async () => {
      const hook = await register(server, receiver, ['user.created']);
      const userId = await newUser(server, 'forged@example.test');
      await receiver.until((requests) => requests.some((r) => claimsOf(r).data.user?.id === userId));
      const genuine = receiver.requests.find((r) => claimsOf(r).data.user?.id === userId)!.body;
      const issuer = server.services.config.issuer;
      const [header, payload, signature] = genuine.split('.');
      const { kid } = JSON.parse(Buffer.from(header!, 'base64url').toString());

      const stranger = await generateKeyPair('RS256');
      const forged = await new SignJWT(claimsOf({ body: genuine, contentType: undefined })).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(stranger.privateKey);
      assert.equal(await decodeWebhook(forged, issuer), null, 'signed by another key');

      const { privateKeys } = await loadKeySet(server.services.db, server.services.masterKey);
      const ours = await importJWK(privateKeys[0]!, 'RS256');
      const expired = await new SignJWT({ ...claimsOf({ body: genuine, contentType: undefined }), iat: Math.floor(Date.now() / 1000) - 3600, exp: Math.floor(Date.now() / 1000) - 60 })
        .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid })
        .sign(ours);
      assert.equal(await decodeWebhook(expired, issuer), null, 'expired');

      const altered = Buffer.from(JSON.stringify({ ...claimsOf({ body: genuine, contentType: undefined }), type: 'user.deleted' })).toString('base64url');
      assert.equal(await decodeWebhook(`${header}.${altered}.${signature}`, issuer), null, 'altered');
      assert.ok(await decodeWebhook(`${header}.${payload}.${signature}`, issuer), 'the genuine one still passes');
      await server.api('DELETE', `/webhooks/${hook}`);
    });

    it('retries with backoff until the receiver answers 2xx, keeps each subject’s order, and lists every attempt', async () => {
      const flaky = await new WebhookReceiver().start();
      try {
        let refusals = 0;
        flaky.answer = () => (refusals++ < 3 ? { status: 503 } : { status: 204 });
        const hook = await register(server, flaky, ['user.created', 'user.updated']);
        const userId = await newUser(server, 'ordered@example.test');
        for (const name of ['One', 'Two', 'Three']) assert.equal((await server.api('PATCH', `/user?id=${userId}`, { given_name: name })).status, 200);

        const accepted = (requests: Delivery[]) => requests.filter((_, index) => index >= 3);
        await flaky.until((requests) => accepted(requests).length >= 4);
        const order = accepted(flaky.requests).map((r) => [claimsOf(r).type, claimsOf(r).data.user.first_name]);
        assert.deepEqual(order, [['user.created', null], ['user.updated', 'One'], ['user.updated', 'Two'], ['user.updated', 'Three']], 'one subject, in the order it happened');
        assert.ok(flaky.requests.slice(0, 3).every((r) => claimsOf(r).type === 'user.created'), 'later events waited for the first');

        const deliveries = await eventually(
          async () => (await server.api('GET', `/webhooks/${hook}/deliveries`)).body.deliveries,
          (list: any[]) => list.length === 4 && list.every((d) => d.status === 'delivered'),
        );
        const first = deliveries.at(-1);
        assert.deepEqual(first.attempts.map((a: any) => a.status_code), [503, 503, 503, 204]);
        assert.match(first.attempts[0].error, /503/);
        assert.equal(first.attempts[3].error, null);
        const ids = new Set(flaky.requests.map((r) => claimsOf(r).event_id));
        assert.equal(ids.size, 4, 'retries carry the same event_id, so a receiver can de-duplicate');
      } finally {
        await flaky.stop();
      }
    });

    it('waits out a receiver that is down, then delivers everything, losing nothing', async () => {
      const down = await new WebhookReceiver().start();
      const port = down.port;
      const hook = await register(server, down, ['role.created']);
      await down.stop();
      const roles: string[] = [];
      for (let i = 0; i < 5; i++) roles.push((await server.api('POST', '/roles', { key: `down-${i}`, name: `Down ${i}` })).body.role.id);
      await eventually(
        async () => (await server.api('GET', `/webhooks/${hook}/deliveries?page_size=10`)).body.deliveries,
        (list: any[]) => list.filter((d) => d.attempts.some((a: any) => /ECONNREFUSED|connect/i.test(a.error ?? ''))).length >= 1,
      );
      const up = await new WebhookReceiver().start(port);
      try {
        await up.until((requests) => new Set(requests.map((r) => claimsOf(r).data.role.id)).size === 5);
        assert.deepEqual([...new Set(up.requests.map((r) => claimsOf(r).data.role.id))].sort(), [...roles].sort());
      } finally {
        await up.stop();
        await server.api('DELETE', `/webhooks/${hook}`);
      }
    });

    it('reads at most 64 KB of an answer and follows no redirect', async () => {
      const odd = await new WebhookReceiver().start();
      try {
        odd.answer = (delivery) => (claimsOf(delivery).data.permission.key === 'big' ? { status: 200, body: Buffer.alloc(1024 * 1024, 'x') } : { status: 307, headers: { location: receiver.url } });
        const hook = await register(server, odd, ['permission.created']);
        await server.api('POST', '/permissions', { key: 'big', name: 'Big answer' });
        await server.api('POST', '/permissions', { key: 'moved', name: 'Redirected' });
        const list = await eventually(
          async () => (await server.api('GET', `/webhooks/${hook}/deliveries`)).body.deliveries,
          (deliveries: any[]) => deliveries.length === 2 && deliveries.every((d) => d.attempts.length > 0),
        );
        const [moved, big] = list;
        assert.equal(big.status, 'delivered', 'a 2xx with a huge body still counts');
        assert.equal(moved.attempts[0].status_code, 307);
        assert.notEqual(moved.status, 'delivered', 'a redirect is not followed nor taken as success');
        assert.ok(!receiver.requests.some((r) => claimsOf(r).data.permission?.key === 'moved'), 'nothing reached the redirect target');
        await server.api('DELETE', `/webhooks/${hook}`);
      } finally {
        await odd.stop();
      }
    });

    it('marks a delivery failed after 24 hours of failures, and sends it again on request', async () => {
      const broken = await new WebhookReceiver().start();
      try {
        let healthy = false;
        broken.answer = () => ({ status: healthy ? 200 : 500 });
        const hook = await register(server, broken, ['permission.deleted']);
        const permission = (await server.api('POST', '/permissions', { key: 'doomed', name: 'Doomed' })).body.permission.id;
        await server.api('DELETE', `/permissions/${permission}`);
        await broken.until((requests) => requests.length >= 1);
        const { db } = server.services;
        const delivery = () => db.selectFrom('webhook_deliveries').selectAll().where('webhook_id', '=', hook).executeTakeFirstOrThrow();
        clock.advance(25 * 60 * 60_000);
        try {
          await eventually(delivery, (row) => row.status === 'failed');
        } finally {
          clock.reset();
        }
        const eventId = (await delivery()).event_id;
        const listed = (await server.api('GET', `/webhooks/${hook}/deliveries`)).body.deliveries[0];
        assert.equal(listed.status, 'failed');
        assert.ok(listed.attempts.length >= 1);
        assert.ok(listed.attempts.every((a: any) => a.status_code === 500));

        healthy = true;
        const seen = broken.requests.length;
        const redelivered = await server.api('POST', `/events/${eventId}/redeliver`);
        assert.deepEqual(redelivered.body, { code: 'OK', message: 'Success', deliveries_queued: 1 });
        await broken.until((requests) => requests.length > seen);
        assert.equal(claimsOf(broken.requests.at(-1)!).event_id, eventId);
        assertKindeError(await server.api('POST', `/events/event_${'0'.repeat(32)}/redeliver`), 404, 'EVENT_NOT_FOUND');
        await server.api('DELETE', `/webhooks/${hook}`);
      } finally {
        await broken.stop();
      }
    });
  });
}

describe('webhook endpoint safety', () => {
  const publicIssuer = { issuer: 'https://id.example.com', allowPrivateNetwork: false };
  for (const [endpoint, why] of [
    ['http://hooks.example.com/in', 'plain http'],
    ['https://127.0.0.1/in', 'loopback'],
    ['https://localhost:8443/in', 'localhost'],
    ['https://10.1.2.3/in', 'private'],
    ['https://169.254.169.254/latest/meta-data', 'the metadata service'],
    ['https://[::1]/in', 'IPv6 loopback'],
    ['https://[fd00::1]/in', 'IPv6 unique local'],
    ['https://user:pass@hooks.example.com/in', 'credentials in the URL'],
  ]) {
    it(`refuses ${why} when the issuer is public`, async () => {
      await assert.rejects(checkEndpoint(endpoint!, publicIssuer), { code: 'INVALID_ENDPOINT' });
    });
  }

  it('allows private addresses with GATEHOUSE_ALLOW_PRIVATE_NETWORK, but still only https', async () => {
    await checkEndpoint('https://10.1.2.3/in', { issuer: 'https://id.example.com', allowPrivateNetwork: true });
    await assert.rejects(checkEndpoint('http://10.1.2.3/in', { issuer: 'https://id.example.com', allowPrivateNetwork: true }), { code: 'INVALID_ENDPOINT' });
  });

  it('allows plain http on loopback while the issuer is on loopback', async () => {
    await checkEndpoint('http://127.0.0.1:9/in', { issuer: 'http://localhost:3000', allowPrivateNetwork: true });
  });

  it('backs off exponentially with jitter, capped', () => {
    const policy = { baseDelayMs: 10_000, maxDelayMs: 3_600_000, retryForMs: 86_400_000 };
    assert.deepEqual([1, 2, 3].map((n) => retryDelay(policy, n, 0)), [5_000, 10_000, 20_000]);
    assert.deepEqual([1, 2, 3].map((n) => retryDelay(policy, n, 1)), [10_000, 20_000, 40_000]);
    assert.equal(retryDelay(policy, 40, 1), 3_600_000);
  });

  it('checks addresses again at delivery, after DNS: a receiver on loopback is refused when the issuer is public', async () => {
    await withOwnServer({ ISSUER_URL: 'https://id.example.com', GATEHOUSE_WEBHOOK_RETRY_BASE_MS: '3600000' }, async (server, receiver) => {
      // Registered before the rule could see it (say, a name that resolved publicly then).
      await server.services.db.insertInto('webhooks').values({ id: 'webhook_rebound', name: 'Rebound', endpoint: `https://localtest.me:${receiver.port}/x`, description: null, event_types: '["user.created"]', created_at: Date.now() }).execute();
      await server.services.db
        .insertInto('webhooks')
        .values({ id: 'webhook_literal', name: 'Literal', endpoint: `https://127.0.0.1:${receiver.port}/x`, description: null, event_types: '["user.created"]', created_at: Date.now() })
        .execute();
      const { createUser } = await import('../src/domain/users.ts');
      const user = await createUser(server.services.db, { identities: [{ type: 'email', value: 'ssrf@example.test', isVerified: true }] });
      await recordEvent(server.services.db, { type: 'user.created', subject: user.id, data: { user: { id: user.id } } });
      const attempts = await eventually(
        () => server.services.db.selectFrom('webhook_attempts').selectAll().execute(),
        (rows) => rows.length >= 2,
      );
      for (const attempt of attempts) assert.match(attempt.error ?? '', /not a public address|ENOTFOUND|EAI_AGAIN/, attempt.error ?? '');
      assert.ok(attempts.some((a) => /not a public address/.test(a.error ?? '')));
      assert.equal(receiver.requests.length, 0, 'nothing reached the private network');
    });
  });

  it('stops promptly on shutdown while a receiver hangs, handing the delivery back', async () => {
    const database = testDatabases()[0]!;
    const db = await database.create();
    const receiver = await new WebhookReceiver().start();
    receiver.answer = () => 'hang';
    const server = await startTestServer({ databaseUrl: db.url });
    try {
      await register(server, receiver, ['role.created']);
      await server.api('POST', '/roles', { key: 'hung', name: 'Hung' });
      await receiver.until((requests) => requests.length === 1);
      const started = Date.now();
      await server.close();
      assert.ok(Date.now() - started < 3_000, `closed in ${Date.now() - started} ms`);
    } finally {
      await receiver.stop();
      await db.drop();
    }
  });
});

const postgres = testDatabases().find((kind) => kind.name === 'postgres');
if (postgres) {
  describe('webhooks across replicas (postgres)', () => {
    it('two replicas on one database deliver each event once', async () => {
      const db = await postgres.create();
      const receiver = await new WebhookReceiver().start();
      const env = { GATEHOUSE_MASTER_KEY: randomBytes(32).toString('base64url') };
      const first = await startTestServer({ databaseUrl: db.url, env });
      const second = await startTestServer({ databaseUrl: db.url, env });
      try {
        await register(first, receiver, ['permission.created']);
        const keys: string[] = [];
        for (let i = 0; i < 40; i++) {
          const server = i % 2 === 0 ? first : second;
          keys.push(`replica:${i}`);
          assert.equal((await server.api('POST', '/permissions', { key: `replica:${i}`, name: `Replica ${i}` })).status, 201);
        }
        await receiver.until((requests) => new Set(requests.map((r) => claimsOf(r).data.permission.key)).size === 40);
        const rows = await eventually(
          () => first.services.db.selectFrom('webhook_deliveries').select(['status', 'attempts']).execute(),
          (list) => list.length === 40 && list.every((row) => row.status === 'delivered'),
        );
        assert.ok(rows.every((row) => row.attempts === 1));
        assert.equal(receiver.requests.length, 40, 'no event sent twice');
      } finally {
        await first.close();
        await second.close();
        await receiver.stop();
        await db.drop();
      }
    });
  });
}

describe('webhook signing', () => {
  it('makes byte for byte the JWT jose’s SignJWT makes (header alg, typ, kid; iat and exp after the payload)', async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const jwk = { ...(await exportJWK(privateKey)), kid: 'kid-1', alg: 'RS256', use: 'sig' } as unknown as SigningJwk;
    const payload = { type: 'user.updated', event_id: `event_${'a'.repeat(32)}`, source: 'api', timestamp: new Date().toISOString(), data: { user: { id: 'kp_1', name: 'Zoë “quoted”' } } };
    const token = await webhookSigner(() => jwk)(payload);
    const { iat } = decodeJwt(token) as { iat: number };
    const byJose = await new SignJWT({ ...payload }).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: 'kid-1' }).setIssuedAt(iat).setExpirationTime(iat + 15 * 60).sign(privateKey);
    assert.equal(token, byJose);
  });
});

describe('webhook delivery pace (GATEHOUSE_WEBHOOK_MAX_RATE)', () => {
  const batch = { count: 32, started: 10_000, now: 10_030, maxRate: 200, idle: false, due: undefined };
  for (const [why, input, expected] of [
    ['no cap: no rest', { ...batch, maxRate: 0 }, { restMs: 0, due: undefined }],
    ['no request since the last batch: the cap lifts', { ...batch, idle: true, due: 9_990 }, { restMs: 0, due: undefined }],
    ['first batch under the cap: 32 at 200/s take 160 ms, 30 of them spent', batch, { restMs: 130, due: 10_160 }],
    ['the previous rest overran by 12 ms: made up now', { ...batch, started: 10_172, now: 10_200, due: 10_160 }, { restMs: 120, due: 10_320 }],
    ['a batch slower than its share: no rest, and the schedule goes on', { ...batch, started: 10_160, now: 10_400, due: 10_160 }, { restMs: 0, due: 10_320 }],
    ['more than a second behind: a new schedule from this batch', { ...batch, started: 12_000, now: 12_030, due: 10_160 }, { restMs: 130, due: 12_160 }],
  ] as const) {
    it(why, () => assert.deepEqual(restAfterBatch(input), expected));
  }

  /** `count` events for one webhook, each its own subject, committed at once; resolves with the ms until the receiver has them all. */
  async function burst(server: TestServer, receiver: WebhookReceiver, count: number): Promise<number> {
    await register(server, receiver, ['user.updated']);
    await inTransaction(server.services.db, async (tx) => {
      for (let i = 0; i < count; i++) await recordEvent(tx, { type: 'user.updated', subject: `kp_pace_${i}`, data: { user: { id: `kp_pace_${i}` } } });
    });
    const started = Date.now();
    await receiver.until((requests) => requests.length >= count, 120_000);
    return Date.now() - started;
  }

  it('delivers no faster than the cap while the process serves requests', async () => {
    await withOwnServer({ GATEHOUSE_WEBHOOK_MAX_RATE: '100' }, async (server, receiver) => {
      let serving = true;
      const busy = Array.from({ length: 3 }, async () => {
        while (serving) await (await fetch(`${server.url}/.well-known/jwks.json`)).arrayBuffer();
      });
      try {
        // 100 deliveries in batches of 32 at 100/s: the fourth batch starts 0.96 s after the first.
        const ms = await burst(server, receiver, 100);
        assert.ok(ms >= 900, `100 deliveries took ${ms} ms`);
        assert.equal(new Set(receiver.requests.map((r) => claimsOf(r).event_id)).size, 100);
      } finally {
        serving = false;
        await Promise.all(busy);
      }
    });
  });

  it('lifts the cap while nothing else asks the process for work', async () => {
    await withOwnServer({ GATEHOUSE_WEBHOOK_MAX_RATE: '1' }, async (server, receiver) => {
      // Under the cap (1/s) these would take over a minute.
      const ms = await burst(server, receiver, 100);
      assert.ok(ms < 30_000, `100 deliveries took ${ms} ms`);
    });
  });
});
