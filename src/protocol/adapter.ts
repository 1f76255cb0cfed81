import { isDeepStrictEqual } from 'node:util';
import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { clock } from '../clock.ts';
import { type Db, inTransaction } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { rememberFlowState } from './interaction-flow-state.ts';
import { forgetModelRowsRead, modelRowRead, readModelRow, REDEEMED_ONCE, type StoredRow } from './model-reads.ts';
import { consumeModel, holdConsumption, holdModelRow, type ModelRow, saveModelRow, saveWithHeldConsumption, writeHeldModels } from './model-writes.ts';
import { listRevokedGrants } from './revocation-list.ts';

/**
 * oidc-provider saves the SSO session on every request that reads it, to slide its expiry to 30 days
 * from now: a row written per SSO round trip that changes nothing else (issue 13). Such a save is
 * skipped while it would move the stored expiry by less than SESSION_EXPIRY_STEP_MS, so an idle
 * session ends at most that much before its 30 days are up (its cookie says the later time; a browser
 * presenting it after the row is gone is asked to sign in). Any other change is written at once.
 */
const SESSION_EXPIRY_STEP_MS = 60 * 60_000;

function onlySlidesExpiry(stored: StoredRow | undefined, row: ModelRow, exp: unknown): boolean {
  if (!stored || stored.expires_at === null || row.expiresAt === null) return false;
  const slide = row.expiresAt - stored.expires_at;
  if (slide < 0 || slide >= SESSION_EXPIRY_STEP_MS) return false;
  // Compared as values: the engine's first save of a session lists its keys in another order.
  return isDeepStrictEqual({ ...(JSON.parse(stored.payload) as object), exp }, JSON.parse(row.payload));
}

export type ClientLookup = (clientId: string) => Promise<AdapterPayload | undefined>;

/**
 * Models whose expiry the engine reports itself: an expired device code is `expired_token` at the
 * token endpoint (RFC 8628 §3.5) and "expired" on the code page, not "not found". Such rows are still
 * found until the clean-up deletes them; every other expired row reads as missing.
 */
const EXPIRY_ANSWERED_BY_ENGINE = new Set(['DeviceCode']);

/**
 * The models looked up by whose they are (sessionsOf, endSessionsOf): the only rows that store
 * `account_id`, so its index holds nothing else (migration 0015).
 */
const LISTED_BY_ACCOUNT = new Set(['Session', 'Grant']);

/**
 * A grant and every token and code it issued, in one transaction (the engine's `revoke` does the same
 * in steps): stored tokens are deleted, and the access tokens (JWTs, not stored) go on the revocation list.
 */
export async function revokeGrant(db: Db, grantId: string): Promise<void> {
  forgetModelRowsRead();
  // Listed first and on its own: racing losers then never wait for one another while holding row
  // locks, and a failure in between leaves the grant revoked, never alive.
  await listRevokedGrants(db, [grantId]);
  await inTransaction(db, async (tx) => {
    await tx.deleteFrom('oidc_models').where('grant_id', '=', grantId).execute();
    await tx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('id', '=', grantId).execute();
  });
}

/**
 * Another request redeemed this code or refresh token first: the grant and all it issued end (RFC 9700
 * §4.14), and this request is answered `alreadyUsed`.
 */
export async function endRedeemedGrant(db: Db, { model, id }: { model: string; id: string }): Promise<void> {
  const row = await db.selectFrom('oidc_models').select('grant_id').where('model', '=', model).where('id', '=', id).executeTakeFirst();
  if (row?.grant_id) await revokeGrant(db, row.grant_id);
}

export const alreadyUsed = (model: string) => new errors.InvalidGrant(`${model === 'RefreshToken' ? 'refresh token' : 'code'} already used`);

const destroyModel = preparedQuery((db, { model, id }: { model: string; id: string }) => db.deleteFrom('oidc_models').where('model', '=', model).where('id', '=', id));

/**
 * oidc-provider's persistence, on our store. Every model (sessions, codes, refresh tokens, grants,
 * interactions) is a row in `oidc_models`, so any replica can continue what another started. Clients
 * are not stored here: they are read from `applications`.
 */
export function databaseAdapter(db: Db, findClient: ClientLookup) {
  return class DatabaseAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const row: ModelRow = {
        model: this.model,
        id,
        payload: JSON.stringify(payload),
        grantId: payload.grantId ?? null,
        userCode: payload.userCode ?? null,
        uid: payload.uid ?? null,
        accountId: LISTED_BY_ACCOUNT.has(this.model) && typeof payload.accountId === 'string' ? payload.accountId : null,
        expiresAt: expiresIn ? clock.now() + expiresIn * 1000 : null,
        consumedAt: typeof payload.consumed === 'number' ? payload.consumed * 1000 : null,
      };
      if (this.model === 'Session' && onlySlidesExpiry(modelRowRead('Session', id), row, payload.exp)) return;
      forgetModelRowsRead(this.model);
      if (holdModelRow(row)) return;
      const saved = await saveWithHeldConsumption(db, row);
      if (saved?.lost) {
        await endRedeemedGrant(db, saved.lost);
        throw alreadyUsed(saved.lost.model);
      }
      if (saved) return;
      const finished = this.model === 'Interaction' && payload.result !== undefined;
      if (finished) rememberFlowState(id, null);
      await saveModelRow(db, row, finished);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') return findClient(id);
      return this.findWhere('id', id);
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('user_code', userCode);
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.findWhere('uid', uid);
    }

    /**
     * A code or refresh token is redeemed once, however many requests race for it (RFC 6749 §4.1.2,
     * RFC 9700 §4.14): the engine checks `consumed` and then consumes, so the database decides with a
     * conditional update. The losers do what the engine does for a sequential reuse: revoke the grant
     * and everything it issued, then answer invalid_grant.
     */
    async consume(id: string): Promise<void> {
      forgetModelRowsRead(this.model);
      await writeHeldModels(db);
      const consumption = { now: clock.now(), model: this.model, id };
      if (holdConsumption(db, consumption)) return;
      const consumed = await consumeModel(db, consumption);
      if (consumed.numAffectedRows! > 0n || !REDEEMED_ONCE.has(this.model)) return;
      await endRedeemedGrant(db, consumption);
      throw alreadyUsed(this.model);
    }

    async destroy(id: string): Promise<void> {
      forgetModelRowsRead(this.model);
      await writeHeldModels(db);
      if (this.model === 'Interaction') rememberFlowState(id, null);
      await destroyModel(db, { model: this.model, id });
    }

    /**
     * The engine's `revoke` helper calls this for each token model when it ends a grant (a replayed
     * code or refresh token, a revoked refresh token): the grant's JWT access tokens end too.
     */
    async revokeByGrantId(grantId: string): Promise<void> {
      // Listed first, as in revokeGrant; the engine runs this for several models at once, and both
      // steps are idempotent.
      forgetModelRowsRead();
      await writeHeldModels(db);
      await listRevokedGrants(db, [grantId]);
      await db.deleteFrom('oidc_models').where('grant_id', '=', grantId).execute();
    }

    private async findWhere(column: 'id' | 'user_code' | 'uid', value: string): Promise<AdapterPayload | undefined> {
      const row = await readModelRow(db, this.model, column, value);
      if (!row) return undefined;
      let payload = JSON.parse(row.payload) as AdapterPayload;
      if (row.expires_at !== null && row.expires_at <= clock.now()) {
        if (!EXPIRY_ANSWERED_BY_ENGINE.has(this.model)) return undefined;
        // The engine judges expiry by its own time; make it agree with ours (tests move our clock).
        payload = { ...payload, exp: Math.min(payload.exp ?? 0, Math.floor(Date.now() / 1000) - 1) };
      }
      // The sign-in pages' state rides in the interaction's row: this request needs no read of its own.
      if (this.model === 'Interaction') rememberFlowState(value, row.flow_state);
      return row.consumed_at === null ? payload : { ...payload, consumed: Math.floor(row.consumed_at / 1000) };
    }
  };
}

/** A person's SSO sessions (newest first), for the management API. */
export async function sessionsOf(db: Db, accountId: string): Promise<Array<{ id: string; payload: AdapterPayload; expiresAt: number | null }>> {
  const rows = await db
    .selectFrom('oidc_models')
    .select(['id', 'payload', 'expires_at'])
    .where('model', '=', 'Session')
    .where('account_id', '=', accountId)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', clock.now())]))
    .execute();
  return rows
    .map((row) => ({ id: row.id, payload: JSON.parse(row.payload) as AdapterPayload, expiresAt: row.expires_at }))
    .sort((a, b) => Number(b.payload.loginTs ?? 0) - Number(a.payload.loginTs ?? 0));
}

/**
 * Ends every session of a person and the grants they made (their refresh and access tokens stop
 * working), in one transaction.
 */
export async function endSessionsOf(db: Db, accountId: string): Promise<number> {
  return inTransaction(db, async (tx) => {
    const grants = await tx.selectFrom('oidc_models').select('id').where('model', '=', 'Grant').where('account_id', '=', accountId).execute();
    const grantIds = grants.map((g) => g.id);
    if (grantIds.length > 0) await tx.deleteFrom('oidc_models').where('grant_id', 'in', grantIds).execute();
    await listRevokedGrants(tx, grantIds);
    await tx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('account_id', '=', accountId).execute();
    const ended = await tx.deleteFrom('oidc_models').where('model', '=', 'Session').where('account_id', '=', accountId).executeTakeFirst();
    return Number(ended.numDeletedRows);
  });
}

export async function deleteExpiredModels(db: Db): Promise<void> {
  await db.deleteFrom('oidc_models').where('expires_at', '<', clock.now()).execute();
}

/** A device code still waiting for the person (not approved, denied, redeemed or expired), and whose it is. */
export async function pendingDeviceCode(db: Db, deviceCode: string): Promise<{ clientId: string; expiresAt: number } | undefined> {
  const row = await db
    .selectFrom('oidc_models')
    .select(['payload', 'expires_at', 'consumed_at'])
    .where('model', '=', 'DeviceCode')
    .where('id', '=', deviceCode)
    .executeTakeFirst();
  if (!row || row.expires_at === null || row.expires_at <= clock.now() || row.consumed_at !== null) return undefined;
  const payload = JSON.parse(row.payload) as AdapterPayload;
  if (payload.accountId !== undefined || payload.error !== undefined || typeof payload.clientId !== 'string') return undefined;
  return { clientId: payload.clientId, expiresAt: row.expires_at };
}
