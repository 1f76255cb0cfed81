import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import { databaseAdapter, deleteExpiredModels } from '../src/protocol/adapter.ts';
import { migrateToLatest, openStore, type Store } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';

for (const database of testDatabases()) {
  describe(`oidc-provider persistence (${database.name})`, () => {
    let store: Store;
    let drop: () => Promise<void>;

    before(async () => {
      const db = await database.create();
      drop = db.drop;
      store = openStore(db.url);
      await migrateToLatest(store.db);
    });

    after(async () => {
      clock.reset();
      await store?.close();
      await drop?.();
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
