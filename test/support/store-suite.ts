import { after, before } from 'node:test';
import { clock } from '../../src/clock.ts';
import { migrateToLatest, openStore, type Store } from '../../src/store/db.ts';
import type { DatabaseKind } from './databases.ts';

/**
 * For tests of the store and the domain without a server, registered in the current `describe`: a
 * fresh database of this kind, migrated; closed and dropped afterwards, with the clock put back.
 * `ready` receives the store.
 */
export function storeForSuite(database: DatabaseKind, ready: (store: Store) => void | Promise<void>): void {
  let store: Store | undefined;
  let drop: (() => Promise<void>) | undefined;
  before(async () => {
    const created = await database.create();
    drop = created.drop;
    store = openStore(created.url);
    await migrateToLatest(store.db);
    await ready(store);
  });
  after(async () => {
    clock.reset();
    await store?.close();
    await drop?.();
  });
}
