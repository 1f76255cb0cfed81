import { sql } from 'kysely';
import { type Db, onPostgres } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { rememberStanding } from './account-standing.ts';
import { claimSetColumns, rememberClaimSet, toClaimSet } from './claim-sources.ts';
import { rememberGrantFacts, toGrantFacts } from './grant-organizations.ts';
import { heldModelRow } from './model-writes.ts';
import { readAlong } from './request-reads.ts';

/** One-time credentials a client redeems at the token endpoint. */
export const REDEEMED_ONCE = new Set(['AuthorizationCode', 'RefreshToken', 'DeviceCode']);

// The engine's reads, on every request it serves: compiled once (store/prepared.ts).
const findModel = (column: 'id' | 'user_code' | 'uid') =>
  preparedQuery((db, { model, value }: { model: string; value: string }) =>
    db.selectFrom('oidc_models').select(['payload', 'expires_at', 'consumed_at', 'flow_state']).where('model', '=', model).where(column, '=', value),
  );
const findModelBy = { id: findModel('id'), user_code: findModel('user_code'), uid: findModel('uid') };

export interface StoredRow {
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

interface JoinedGrant {
  grant_id: string | null;
  grant_payload: string | null;
  grant_expires_at: number | null;
  grant_consumed_at: number | null;
}

/** The grant a statement joined, for the engine's next read of it; whether there was one. */
function rememberJoinedGrant(row: JoinedGrant): row is JoinedGrant & { grant_id: string } {
  if (!row.grant_id || row.grant_payload === null) return false;
  rememberModelRow('Grant', 'id', row.grant_id, { payload: row.grant_payload, expires_at: row.grant_expires_at, consumed_at: row.grant_consumed_at, flow_state: null });
  return true;
}

async function findRedeemableWithClaims(db: Db, model: string, id: string) {
  const [row] = (await findRedeemable.withClaims(db, { model, id })).rows;
  if (row?.grant_id && row.grant_account_id) rememberClaimSet(row.grant_account_id, row.grant_id, toClaimSet(row));
  return row;
}

const rememberFacts = (grantId: string, row: { organization_code: string | null; external_groups: string | null }) =>
  rememberGrantFacts(grantId, row.organization_code === null ? undefined : toGrantFacts({ organization_code: row.organization_code, external_groups: row.external_groups }));

/** A row of `model` this request read by id and has not written since (undefined: none). */
export function modelRowRead(model: string, id: string): StoredRow | undefined {
  return modelRowsRead.recall(model)?.value.get(`id ${id}`);
}

async function readSession(db: Db, id: string): Promise<StoredRow | undefined> {
  const clientId = requestedClient.recall('client_id')?.value;
  const row = clientId ? await readSessionWithGrant(db, id, clientId) : (await findSession.withStanding(db, { id })).rows[0];
  if (row?.account_id) rememberStanding(row.account_id, row.is_suspended === null ? undefined : row.is_suspended === 1);
  if (row) rememberModelRow('Session', 'id', id, row);
  return row;
}

async function readSessionWithGrant(db: Db, id: string, clientId: string) {
  const [row] = (await findSession.withStandingAndGrant(db, { id, clientId })).rows;
  if (row && rememberJoinedGrant(row)) rememberFacts(row.grant_id, row);
  return row;
}

/**
 * The engine's read of one model row: what this request holds to write, or read along, or else from
 * the database — with what the engine reads next (request-reads.ts).
 */
export async function readModelRow(db: Db, model: string, column: 'id' | 'user_code' | 'uid', value: string): Promise<StoredRow | undefined> {
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
  if (row) rememberJoinedGrant(row);
  if (row?.session_uid && row.session_payload !== null) {
    rememberModelRow('Session', 'uid', row.session_uid, { payload: row.session_payload, expires_at: row.session_expires_at, consumed_at: row.session_consumed_at, flow_state: null });
  }
  return row;
}

/** This request wrote to `model` (or, without one, to any model): what was read along of it is stale. */
export function forgetModelRowsRead(model?: string): void {
  if (model === undefined) modelRowsRead.forgetAll();
  else modelRowsRead.forget(model);
}
