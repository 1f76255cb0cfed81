import { clock } from '../clock.ts';
import type { Db, Tx } from '../store/db.ts';

/**
 * Gatehouse's own short-lived protocol records (a device code's polling pace, wrong user-code
 * entries) live beside the engine's models under kinds of their own, so they expire and are cleaned
 * up the same way, and every replica sees them.
 */
export const protocolRecords = {
  async read(db: Db, kind: string, id: string): Promise<string | undefined> {
    const row = await db.selectFrom('oidc_models').select(['payload', 'expires_at']).where('model', '=', kind).where('id', '=', id).executeTakeFirst();
    return row && (row.expires_at === null || row.expires_at > clock.now()) ? row.payload : undefined;
  },

  /** False when a record of this kind and id exists already (another replica was first). */
  async create(db: Db | Tx, kind: string, id: string, payload: string, expiresAt: number, group?: string): Promise<boolean> {
    const result = await db
      .insertInto('oidc_models')
      .values({ model: kind, id, payload, grant_id: null, user_code: null, uid: group ?? null, account_id: null, expires_at: expiresAt, consumed_at: null })
      .onConflict((oc) => oc.columns(['model', 'id']).doNothing())
      .executeTakeFirst();
    return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
  },

  /** Compare-and-set: false when the record no longer holds `expected` (a concurrent change won). */
  async replace(db: Db, kind: string, id: string, expected: string, next: string): Promise<boolean> {
    const result = await db.updateTable('oidc_models').set({ payload: next }).where('model', '=', kind).where('id', '=', id).where('payload', '=', expected).executeTakeFirst();
    return result.numUpdatedRows > 0n;
  },

  /** Live records of a kind in one group (`uid` column). */
  async count(db: Db, kind: string, group: string): Promise<number> {
    const row = await db
      .selectFrom('oidc_models')
      .select((eb) => eb.fn.countAll<string | number>().as('n'))
      .where('model', '=', kind)
      .where('uid', '=', group)
      .where('expires_at', '>', clock.now())
      .executeTakeFirstOrThrow();
    return Number(row.n);
  },

  /** True when a live record of this kind has any of these ids: one primary-key lookup. */
  async anyLive(db: Db, kind: string, ids: readonly string[]): Promise<boolean> {
    if (ids.length === 0) return false;
    const row = await db
      .selectFrom('oidc_models')
      .select('id')
      .where('model', '=', kind)
      .where('id', 'in', ids)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', clock.now())]))
      .limit(1)
      .executeTakeFirst();
    return row !== undefined;
  },

  async remove(db: Db, kind: string, id: string): Promise<void> {
    await db.deleteFrom('oidc_models').where('model', '=', kind).where('id', '=', id).execute();
  },
};
