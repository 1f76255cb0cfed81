import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { setImmediate, setTimeout } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import { databaseAdapter, deleteExpiredModels } from '../src/protocol/adapter.ts';
import { Migrator, sql } from 'kysely';
import { createApi, machineAudienceGrants, setApplicationAuthorization } from '../src/domain/apis.ts';
import { createApplication } from '../src/domain/applications.ts';
import { migrationProvider } from '../src/store/migrations.ts';
import { type Db, inTransaction, migrateToLatest, openStore, type Store, type Tx } from '../src/store/db.ts';
import { preparedQuery } from '../src/store/prepared.ts';
import { cached } from '../src/store/read-cache.ts';
import { testDatabases } from './support/databases.ts';
import { storeForSuite } from './support/store-suite.ts';

for (const database of testDatabases()) {
  describe(`oidc-provider persistence (${database.name})`, () => {
    let store: Store;
    storeForSuite(database, (opened) => {
      store = opened;
    });

    const Adapter = () => databaseAdapter(store.db, async () => undefined);

    it('finds models by id, uid and user code until they expire, then cleans them up', async () => {
      const sessions = new (Adapter())('Session');
      await sessions.upsert('s1', { uid: 'u1', accountId: 'kp_1' } as never, 60);
      assert.equal((await sessions.find('s1'))?.accountId, 'kp_1');
      assert.equal((await sessions.findByUid('u1'))?.accountId, 'kp_1');
      const devices = new (Adapter())('DeviceCode');
      await devices.upsert('d1', { userCode: 'ABCDEFGH' } as never, 600);
      assert.ok(await devices.findByUserCode('ABCDEFGH'));

      clock.advance(61_000);
      assert.equal(await sessions.find('s1'), undefined, 'expired models are not returned');
      assert.ok(await devices.find('d1'), 'others live on');
      await deleteExpiredModels(store.db);
      const left = await store.db.selectFrom('oidc_models').select('id').execute();
      assert.deepEqual(left.map((row) => row.id), ['d1']);
      clock.reset();
    });

    it('marks consumed models and revokes everything of a grant', async () => {
      const codes = new (Adapter())('AuthorizationCode');
      const refresh = new (Adapter())('RefreshToken');
      await codes.upsert('c1', { grantId: 'g1' } as never, 60);
      await refresh.upsert('r1', { grantId: 'g1' } as never, 600);
      await refresh.upsert('r2', { grantId: 'g2' } as never, 600);
      await codes.consume('c1');
      assert.equal(typeof (await codes.find('c1'))?.consumed, 'number');
      await refresh.revokeByGrantId('g1');
      assert.equal(await codes.find('c1'), undefined);
      assert.equal(await refresh.find('r1'), undefined);
      assert.ok(await refresh.find('r2'));
    });
  });
}

for (const database of testDatabases()) {
  describe(`configuration read cache (${database.name})`, () => {
    let store: Store;
    storeForSuite(database, (opened) => {
      store = opened;
    });

    const settingRead = (key: string) =>
      cached(store.db, 'test-settings', key, async () => (await store.db.selectFrom('settings').select('value').where('key', '=', key).executeTakeFirst())?.value);

    it('answers from memory until configuration is written through the store', async () => {
      await store.db.insertInto('settings').values({ key: 'cache-a', value: '"one"' }).execute();
      assert.equal(await settingRead('cache-a'), '"one"');
      // Another replica's write: not seen through this store's watcher, so the cached value stays.
      await sql`update settings set value = '"two"' where key = 'cache-a'`.execute(store.db);
      assert.equal(await settingRead('cache-a'), '"one"');
      await store.db.updateTable('settings').set({ value: '"three"' }).where('key', '=', 'cache-a').execute();
      assert.equal(await settingRead('cache-a'), '"three"');
    });

    it('forgets, at commit, what was cached while a transaction was writing configuration', async () => {
      await store.db.insertInto('settings').values({ key: 'cache-b', value: '"old"' }).execute();
      assert.equal(await settingRead('cache-b'), '"old"');
      await inTransaction(store.db, async (tx) => {
        await tx.updateTable('settings').set({ value: '"new"' }).where('key', '=', 'cache-b').execute();
        // SQLite has one connection (it waits for the commit); PostgreSQL reads the committed "old".
        if (database.name === 'postgres') assert.equal(await settingRead('cache-b'), '"old"');
      });
      assert.equal(await settingRead('cache-b'), '"new"');
    });

    it('keeps the cache through transactions that write no configuration', async () => {
      await store.db.insertInto('settings').values({ key: 'cache-c', value: '"kept"' }).execute();
      assert.equal(await settingRead('cache-c'), '"kept"');
      await sql`update settings set value = '"elsewhere"' where key = 'cache-c'`.execute(store.db);
      await inTransaction(store.db, async (tx) => {
        await tx.insertInto('audit_events').values({ id: 'ev_cache_test', type: 'test', actor: null, subject: null, data: '{}', created_at: Date.now() }).execute();
      });
      assert.equal(await settingRead('cache-c'), '"kept"');
    });
  });
}

for (const database of testDatabases()) {
  describe(`prepared queries (${database.name})`, () => {
    let store: Store;
    storeForSuite(database, (opened) => {
      store = opened;
    });
    const settingValue = preparedQuery((db, params: { key: string }) => db.selectFrom('settings').select('value').where('key', '=', params.key));
    const valueOf = async (db: Db | Tx, key: string) => (await settingValue(db, { key })).rows[0]?.value;

    it("see their own transaction's writes, and never run inside another's", async () => {
      let inserted!: () => void;
      let release!: () => void;
      const insertedNow = new Promise<void>((resolve) => (inserted = resolve));
      const held = new Promise<void>((resolve) => (release = resolve));
      const seenInside: unknown[] = [];
      const transaction = store.db
        .transaction()
        .execute(async (tx) => {
          await tx.insertInto('settings').values({ key: 'prepared-uncommitted', value: '"x"' }).execute();
          seenInside.push(await valueOf(tx, 'prepared-uncommitted'));
          inserted();
          await held;
          throw new Error('roll back');
        })
        .then(() => 'committed', () => 'rolled back');
      await insertedNow;
      // Issued while the other transaction is open: it must wait for it, not read its uncommitted row.
      const outside = valueOf(store.db, 'prepared-uncommitted');
      release();
      assert.equal(await transaction, 'rolled back');
      assert.deepEqual(seenInside, ['"x"']);
      assert.equal(await outside, undefined);
    });
  });
}

for (const database of testDatabases()) {
  describe(`migration 0007: application scopes (${database.name})`, () => {
    it('lets every authorization made before it keep every scope of its API; new ones hold none', async () => {
      const created = await database.create();
      const store = openStore(created.url);
      try {
        const migrator = new Migrator({ db: store.db, provider: migrationProvider });
        const { error } = await migrator.migrateTo('0006_mfa');
        assert.ifError(error);
        const api = await createApi(store.db, { name: 'Orders', audience: 'https://orders.example.test', scopes: ['read:orders', 'write:orders'] });
        const { application: before } = await createApplication(store.db, { name: 'Before', type: 'm2m' });
        await setApplicationAuthorization(store.db, api.id, before.id, true);

        await migrateToLatest(store.db);
        const { application: after } = await createApplication(store.db, { name: 'After', type: 'm2m' });
        await setApplicationAuthorization(store.db, api.id, after.id, true);
        const held = async (applicationId: string) => {
          const grants = await machineAudienceGrants(store.db, applicationId, ['https://orders.example.test']);
          return 'refused' in grants ? grants : grants[0]!.scopes;
        };
        assert.deepEqual(await held(before.id), ['read:orders', 'write:orders']);
        assert.deepEqual(await held(after.id), []);
      } finally {
        await store.close();
        await created.drop();
      }
    });
  });
}

describe('SQLite checkpoints (store/sqlite-checkpoints.ts)', () => {
  const sqliteDatabase = testDatabases().find((kind) => kind.name === 'sqlite')!;
  const fileOf = (url: string) => url.slice('sqlite:'.length);

  it('folds the write-ahead log into the database file from its own thread, and leaves no log after closing', async () => {
    const created = await sqliteDatabase.create();
    const path = fileOf(created.url);
    const store = openStore(created.url);
    try {
      await sql`create table filler (id integer primary key, payload text not null)`.execute(store.db);
      const payload = 'x'.repeat(1024);
      for (let i = 0; i < 600; i++) await sql`insert into filler (payload) values (${payload})`.execute(store.db);
      // 600 KB is far below the 4 MB at which SQLite's own checkpoint (now turned off on the store's
      // connection) would have run: only the checkpointing thread puts the rows in the file.
      const deadline = Date.now() + 10_000;
      while (statSync(path).size < 600 * 1024 && Date.now() < deadline) await setTimeout(25);
      assert.ok(statSync(path).size >= 600 * 1024, `the database file holds the rows (${statSync(path).size} bytes)`);
    } finally {
      await store.close();
    }
    assert.equal(existsSync(`${path}-wal`), false, 'the last connection to close folded the log and removed it');
    const reopened = openStore(created.url);
    try {
      const { rows } = await sql<{ n: number }>`select count(*) as n from filler`.execute(reopened.db);
      assert.equal(rows[0]!.n, 600);
    } finally {
      await reopened.close();
    }
  });

  /** The WAL header's checkpoint sequence number: SQLite adds one each time a writer starts the log over. */
  const logRestarts = (walPath: string) => {
    const header = Buffer.alloc(16);
    const fd = openSync(walPath, 'r');
    try {
      readSync(fd, header, 0, 16, 0);
    } finally {
      closeSync(fd);
    }
    return header.readUInt32BE(12);
  };

  it('starts the log over while writes never pause, and gives its space back', async () => {
    const created = await sqliteDatabase.create();
    const path = fileOf(created.url);
    const restartFrames = 64;
    const store = openStore(created.url, { sqliteCheckpoints: { everyMs: 100, restartFrames } });
    try {
      await sql`create table filler (id integer primary key, payload text not null)`.execute(store.db);
      const payload = 'x'.repeat(1024);
      const first = logRestarts(`${path}-wal`);
      const restarts = () => logRestarts(`${path}-wal`) - first;
      let written = 0;
      // One autocommit after another, yielding only to let messages in (a server under steady load):
      // every write lands while the thread copies, so it never finds the whole log copied by itself.
      while (restarts() < 3 && written < 20_000) {
        await sql`insert into filler (payload) values (${payload})`.execute(store.db);
        written++;
        await setImmediate();
      }
      assert.ok(restarts() >= 3, `the log was started over ${restarts()} times while ${written} rows were written`);
      // Each insert writes at least one 4 KB page to the log; after a restart the file is cut back.
      const walBytes = statSync(`${path}-wal`).size;
      assert.ok(walBytes <= restartFrames * (4096 + 24) + 32 + 4 * 4120, `the log file (${walBytes} bytes) was cut back after ${written} writes`);
      const { rows } = await sql<{ n: number }>`select count(*) as n from filler`.execute(store.db);
      assert.equal(rows[0]!.n, written);
    } finally {
      await store.close();
      await created.drop();
    }
  });
});
