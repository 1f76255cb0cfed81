import { sql } from 'kysely';
import { type Adapter, type AdapterPayload, errors } from 'oidc-provider';
import { clock } from '../clock.ts';
import { type Db, inTransaction, onPostgres } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { rememberStanding } from './account-standing.ts';
import { claimSetColumns, rememberClaimSet, toClaimSet } from './claim-sources.ts';
import { rememberGrantFacts, toGrantFacts } from './grant-organizations.ts';
import { rememberFlowState } from './interaction-flow-state.ts';
import { consumeModel, heldModelRow, holdConsumption, holdModelRow, type ModelRow, saveModelRow, saveWithHeldConsumption, writeHeldModels } from './model-writes.ts';
import { readAlong } from './request-reads.ts';
import { listRevokedGrants } from './revocation-list.ts';

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
 * The models an authorization request saves and nobody else reads before it answers: their saves wait
 * for the request's other writes (model-writes.ts). An Interaction is saved at once (its row carries
 * the sign-in pages' state, which a held save would not know).
 */
const HELD_MODELS = new Set(['Session', 'Grant', 'AuthorizationCode']);

/** One-time credentials a client redeems at the token endpoint. */
const REDEEMED_ONCE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode']);

/**
 * A grant and every token and code it issued, in one transaction (the engine's `revoke` does the same
 * in steps): stored tokens are deleted, and the access tokens (JWTs, not stored) go on the revocation list.
 */
/**
 * Another request redeemed this code or refresh token first: the grant and all it issued end (RFC 9700
 * §4.14), and this request is answered `alreadyUsed`.
 */
export async function endRedeemedGrant(db: Db, { model, id }: { model: string; id: string }): Promise<void> {
  const row = await db.selectFrom('oidc_models').select('grant_id').where('model', '=', model).where('id', '=', id).executeTakeFirst();
  if (row?.grant_id) await revokeGrant(db, row.grant_id);
}

export const alreadyUsed = (model: string) => new errors.InvalidGrant(`${model === 'RefreshToken' ? 'refresh token' : 'code'} already used`);

export async function revokeGrant(db: Db, grantId: string): Promise<void> {
  modelRowsRead.forgetAll();
  // Listed first and on its own: racing losers then never wait for one another while holding row
  // locks, and a failure in between leaves the grant revoked, never alive.
  await listRevokedGrants(db, [grantId]);
  await inTransaction(db, async (tx) => {
    await tx.deleteFrom('oidc_models').where('grant_id', '=', grantId).execute();
    await tx.deleteFrom('oidc_models').where('model', '=', 'Grant').where('id', '=', grantId).execute();
  });
}

// The engine's reads and writes, on every token request: compiled once (store/prepared.ts).
const findModel = (column: 'id' | 'user_code' | 'uid') =>
  preparedQuery((db, { model, value }: { model: string; value: string }) =>
    db.selectFrom('oidc_models').select(['payload', 'expires_at', 'consumed_at', 'flow_state']).where('model', '=', model).where(column, '=', value),
  );
const findModelBy = { id: findModel('id'), user_code: findModel('user_code'), uid: findModel('uid') };

interface StoredRow {
  payload: string;
  expires_at: number | null;
  consumed_at: number | null;
  flow_state: string | null;
}

/**
 * What the engine reads next, read along (request-reads.ts): after a session, the authorization
 * request asks whether its holder's account stands; after a grant, which organization it speaks for;
 * after a code or refresh token, its grant and the session it is bound to.
 */
const sessionWithStanding = (db: Db, id: string) =>
  db
    .selectFrom('oidc_models as m')
    .leftJoin('users', 'users.id', 'm.account_id')
    .select(['m.payload', 'm.expires_at', 'm.consumed_at', 'm.flow_state', 'm.account_id', 'users.is_suspended'])
    .where('m.model', '=', 'Session')
    .where('m.id', '=', id);

/** The session's grant for a client (`authorizations[clientId].grantId` in its payload). */
const grantOfClientIn = (db: Db, clientId: string) =>
  onPostgres(db)
    ? sql<string | null>`(m.payload::json -> 'authorizations' -> cast(${clientId} as text) ->> 'grantId')`
    : sql<string | null>`json_extract(m.payload, '$.authorizations."' || ${clientId} || '".grantId')`;

const findSession = {
  withStanding: preparedQuery((db, { id }: { id: string }) => sessionWithStanding(db, id)),
  // An authorization request reads the session, then its grant for the requested client and that
  // grant's organization (provider.ts, loadExistingGrant): one statement.
  withStandingAndGrant: preparedQuery((db, { id, clientId }: { id: string; clientId: string }) =>
    sessionWithStanding(db, id)
      .leftJoin('oidc_models as g', (join) => join.on('g.model', '=', 'Grant').on('g.id', '=', grantOfClientIn(db, clientId)))
      .leftJoin('grant_organizations', 'grant_organizations.grant_id', 'g.id')
      .select(['g.id as grant_id', 'g.payload as grant_payload', 'g.expires_at as grant_expires_at', 'g.consumed_at as grant_consumed_at'])
      .select(['grant_organizations.organization_code', 'grant_organizations.external_groups']),
  ),
};

/** The client an authorization request names: its grant is read with the session (`findSession`). */
const requestedClient = readAlong<'client_id', string>('the client an authorization request names');

// Only ids that need no quoting inside a JSON path; any other is looked up the engine's way.
const PLAIN_CLIENT_ID = /^[\w.:~-]{1,200}$/;

export function readGrantWithSessionFor(clientId: unknown): void {
  if (typeof clientId === 'string' && PLAIN_CLIENT_ID.test(clientId)) requestedClient.remember('client_id', clientId);
}

const findGrantWithFacts = preparedQuery((db, { id }: { id: string }) =>
  db
    .selectFrom('oidc_models as m')
    .leftJoin('grant_organizations', 'grant_organizations.grant_id', 'm.id')
    .select(['m.payload', 'm.expires_at', 'm.consumed_at', 'm.flow_state', 'grant_organizations.organization_code', 'grant_organizations.external_groups'])
    .where('m.model', '=', 'Grant')
    .where('m.id', '=', id),
);

const sessionUidIn = (db: Db) =>
  onPostgres(db) ? sql<string>`(m.payload::json ->> 'sessionUid')` : sql<string>`json_extract(m.payload, '$.sessionUid')`;

const redeemableWithGrantAndSession = (db: Db, model: string, id: string) =>
  db
    .selectFrom('oidc_models as m')
    .leftJoin('oidc_models as g', (join) => join.on('g.model', '=', 'Grant').onRef('g.id', '=', 'm.grant_id'))
    .leftJoin('oidc_models as s', (join) => join.on('s.model', '=', 'Session').on('s.uid', '=', sessionUidIn(db)))
    .select(['m.payload', 'm.expires_at', 'm.consumed_at', 'm.flow_state', 'm.grant_id'])
    .select(['g.payload as grant_payload', 'g.expires_at as grant_expires_at', 'g.consumed_at as grant_consumed_at', 'g.account_id as grant_account_id'])
    .select(['s.uid as session_uid', 's.payload as session_payload', 's.expires_at as session_expires_at', 's.consumed_at as session_consumed_at'])
    .where('m.model', '=', model)
    .where('m.id', '=', id);

/**
 * A code or refresh token is redeemed for tokens at once: the tokens' claims, for the person and grant
 * of its row, come with it (accounts.ts and token-claims.ts ask next). A device code is read every few
 * seconds while it waits for the person: it comes with its grant and session only.
 */
const findRedeemable = {
  withClaims: preparedQuery((db, { model, id }: { model: string; id: string }) =>
    redeemableWithGrantAndSession(db, model, id).select(claimSetColumns(db, sql.ref<string>('g.account_id'), sql.ref<string | null>('m.grant_id'))),
  ),
  alone: preparedQuery((db, { model, id }: { model: string; id: string }) => redeemableWithGrantAndSession(db, model, id)),
};

/** Rows read along, by model, then by `${column} ${value}`: a write to a model forgets its rows. */
const modelRowsRead = readAlong<string, Map<string, StoredRow>>('oidc_models rows');

function rememberModelRow(model: string, column: 'id' | 'uid', value: string, row: StoredRow): void {
  let rows = modelRowsRead.recall(model)?.value;
  if (!rows) modelRowsRead.remember(model, (rows = new Map()));
  rows.set(`${column} ${value}`, row);
}

async function findRedeemableWithClaims(db: Db, model: string, id: string) {
  const [row] = (await findRedeemable.withClaims(db, { model, id })).rows;
  if (row?.grant_id && row.grant_account_id) rememberClaimSet(row.grant_account_id, row.grant_id, toClaimSet(row));
  return row;
}

const rememberFacts = (grantId: string, row: { organization_code: string | null; external_groups: string | null }) =>
  rememberGrantFacts(grantId, row.organization_code === null ? undefined : toGrantFacts({ organization_code: row.organization_code, external_groups: row.external_groups }));

async function readSession(db: Db, id: string): Promise<StoredRow | undefined> {
  const clientId = requestedClient.recall('client_id')?.value;
  const row = clientId ? await readSessionWithGrant(db, id, clientId) : (await findSession.withStanding(db, { id })).rows[0];
  if (row?.account_id) rememberStanding(row.account_id, row.is_suspended === null ? undefined : row.is_suspended === 1);
  return row;
}

async function readSessionWithGrant(db: Db, id: string, clientId: string) {
  const [row] = (await findSession.withStandingAndGrant(db, { id, clientId })).rows;
  if (row?.grant_id && row.grant_payload !== null) {
    rememberModelRow('Grant', 'id', row.grant_id, { payload: row.grant_payload, expires_at: row.grant_expires_at, consumed_at: row.grant_consumed_at, flow_state: null });
    rememberFacts(row.grant_id, row);
  }
  return row;
}

async function readModelRow(db: Db, model: string, column: 'id' | 'user_code' | 'uid', value: string): Promise<StoredRow | undefined> {
  const held = heldModelRow(model, column, value);
  if (held) return { payload: held.payload, expires_at: held.expiresAt, consumed_at: held.consumedAt, flow_state: null };
  const read = modelRowsRead.recall(model)?.value.get(`${column} ${value}`);
  if (read) return read;
  if (column !== 'id') return (await findModelBy[column](db, { model, value })).rows[0];
  if (model === 'Session') return readSession(db, value);
  if (model === 'Grant') {
    const [row] = (await findGrantWithFacts(db, { id: value })).rows;
    if (row) rememberFacts(value, row);
    return row;
  }
  if (!REDEEMED_ONCE.has(model)) return (await findModelBy.id(db, { model, value })).rows[0];
  const row = model === 'DeviceCode' ? (await findRedeemable.alone(db, { model, id: value })).rows[0] : await findRedeemableWithClaims(db, model, value);
  if (row?.grant_id && row.grant_payload !== null) {
    rememberModelRow('Grant', 'id', row.grant_id, { payload: row.grant_payload, expires_at: row.grant_expires_at, consumed_at: row.grant_consumed_at, flow_state: null });
  }
  if (row?.session_uid && row.session_payload !== null) {
    rememberModelRow('Session', 'uid', row.session_uid, { payload: row.session_payload, expires_at: row.session_expires_at, consumed_at: row.session_consumed_at, flow_state: null });
  }
  return row;
}

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
      modelRowsRead.forget(this.model);
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
      if (HELD_MODELS.has(this.model) && holdModelRow(row)) return;
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
      modelRowsRead.forget(this.model);
      await writeHeldModels(db);
      const consumption = { now: clock.now(), model: this.model, id };
      if (holdConsumption(db, consumption)) return;
      const consumed = await consumeModel(db, consumption);
      if (consumed.numAffectedRows! > 0n || !REDEEMED_ONCE.has(this.model)) return;
      await endRedeemedGrant(db, consumption);
      throw alreadyUsed(this.model);
    }

    async destroy(id: string): Promise<void> {
      modelRowsRead.forget(this.model);
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
      modelRowsRead.forgetAll();
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
