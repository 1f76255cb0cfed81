import { sql } from 'kysely';
import { scopedValue } from '../async-scope.ts';
import { type SessionActivity, sessionActivityUpsert, sessionActivityUpsertQuery } from '../domain/sessions.ts';
import { type Db, onPostgres } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';

/** One row of `oidc_models`, as the adapter writes it. */
export interface ModelRow {
  model: string;
  id: string;
  payload: string;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  accountId: string | null;
  expiresAt: number | null;
  consumedAt: number | null;
}

const columnsOf = (row: ModelRow) => ({
  model: row.model,
  id: row.id,
  payload: row.payload,
  grant_id: row.grantId,
  user_code: row.userCode,
  uid: row.uid,
  account_id: row.accountId,
  expires_at: row.expiresAt,
  consumed_at: row.consumedAt,
});

// A consumption is never undone by saving the model again: `consumed_at` is left as it is. An
// interaction with a result is over: the hosted pages' state for it (`flow_state`) goes with that write.
const upsertModelRows = (db: Pick<Db, 'insertInto'>, rows: ModelRow[], endsFlow: boolean) =>
  db
    .insertInto('oidc_models')
    .values(rows.map(columnsOf))
    .onConflict((oc) =>
      oc.columns(['model', 'id']).doUpdateSet((eb) => ({
        payload: eb.ref('excluded.payload'),
        grant_id: eb.ref('excluded.grant_id'),
        user_code: eb.ref('excluded.user_code'),
        uid: eb.ref('excluded.uid'),
        account_id: eb.ref('excluded.account_id'),
        expires_at: eb.ref('excluded.expires_at'),
        ...(endsFlow ? { flow_state: null } : {}),
      })),
    );

const upsertModel = preparedQuery((db, row: ModelRow) => upsertModelRows(db, [row], false));
const upsertFinishedInteraction = preparedQuery((db, row: ModelRow) => upsertModelRows(db, [row], true));

/** Saves one model now (`endsFlow`: an interaction with its result, whose page state goes). */
export async function saveModelRow(db: Db, row: ModelRow, endsFlow: boolean): Promise<void> {
  await (endsFlow ? upsertFinishedInteraction : upsertModel)(db, row);
}

/**
 * The writes of one request to the authorization or token endpoint, held until the engine has answered
 * and then written together, before the answer goes out (issue 13; docs/benchmarks.md, session 7). An
 * SSO round trip's authorization writes the code, the session the engine saves on every request, and
 * the session's activity: three round trips to PostgreSQL, three commits on SQLite. Held, the models
 * are one multi-row statement, with the activity in it on PostgreSQL (a data-modifying CTE). On SQLite
 * the rows share their index pages' writes (two rows ≈ 120 µs, against 2 × 80 µs one by one; a
 * transaction around the three statements saved nothing, its commit writes the same pages).
 */
interface WriteBatch {
  models: Map<string, ModelRow>;
  activity: SessionActivity | undefined;
  /** A code or refresh token consumed, waiting for the refresh token it issues (`holdConsumption`). */
  consumption?: Consumption;
}

export interface Consumption {
  model: string;
  id: string;
  now: number;
}

const currentBatch = scopedValue<WriteBatch>('writes held until the engine has answered');
const keyOf = (model: string, id: string) => `${model} ${id}`;

/**
 * Runs `work` (the engine's handling of one request) with its model writes held, then writes them.
 * Answers what it redeemed if another request had consumed that first: the engine's answer must not go out.
 */
export async function withHeldWrites(db: Db, work: () => Promise<void>): Promise<{ lostRedemption?: Consumption }> {
  const batch: WriteBatch = { models: new Map(), activity: undefined };
  let lostRedemption: Consumption | undefined;
  try {
    await currentBatch.run(batch, work);
  } finally {
    // The engine saves its session even when it answers with an error: so do we.
    await flush(db, batch);
    // Consumed without a refresh token to go with: now, on its own.
    const { consumption } = batch;
    if (consumption && (await consumeModel(db, consumption)).numAffectedRows === 0n) lostRedemption = consumption;
  }
  return { lostRedemption };
}

/**
 * The models an authorization request saves and nobody else reads before it answers. An Interaction
 * is saved at once (its row carries the sign-in pages' state, which a held save would not know).
 */
const HELD_MODELS = new Set(['Session', 'Grant', 'AuthorizationCode']);

/** Holds a model's save until the request's writes go together; false for other models, or outside such a request. */
export function holdModelRow(row: ModelRow): boolean {
  const batch = currentBatch.get();
  if (!batch || !HELD_MODELS.has(row.model)) return false;
  batch.models.set(keyOf(row.model, row.id), row);
  return true;
}

/** Holds a session's activity likewise; false outside such a request. */
export function holdSessionActivity(activity: SessionActivity): boolean {
  const batch = currentBatch.get();
  if (batch) batch.activity = activity;
  return batch !== undefined;
}

/** A held row the engine reads back in the same request (read your own writes). */
export function heldModelRow(model: string, column: 'id' | 'user_code' | 'uid', value: string): ModelRow | undefined {
  const models = currentBatch.get()?.models;
  if (!models?.size) return undefined;
  if (column === 'id') return models.get(keyOf(model, value));
  const field = column === 'uid' ? 'uid' : 'userCode';
  for (const row of models.values()) if (row.model === model && row[field] === value) return row;
  return undefined;
}

/** Before anything else touches `oidc_models` in this request (a consume, a delete): what was held. */
export async function writeHeldModels(db: Db): Promise<void> {
  const held = currentBatch.get()?.models;
  if (!held?.size) return;
  const rows = [...held.values()];
  held.clear();
  await batchStatement(rows.length, false)(db, { rows, activity: undefined });
}

export const consumeModel = preparedQuery((db, { now, model, id }: Consumption) =>
  db.updateTable('oidc_models').set({ consumed_at: now }).where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null),
);

/**
 * PostgreSQL: a redemption in one statement with what it issues (3 → 2 round trips per refresh, one
 * fewer per code). The engine consumes a refresh token and at once saves its successor; it consumes a
 * code, works out the tokens, and saves the refresh token they include. Held, the consumption goes with
 * that save as a conditional update in a data-modifying CTE, and the refresh token is written only if
 * this request consumed what it redeems: a racing loser writes nothing and is told so. A code whose
 * tokens include no refresh token is consumed once the engine has answered, and a loser's answer is
 * replaced (`withHeldWrites`). SQLite has no data-modifying CTE, and no round trips to save: it
 * consumes at once. Device codes are consumed at once too (a poll may race with nothing issued yet).
 */
const CONSUMED_WITH_WHAT_THEY_ISSUE = new Set(['RefreshToken', 'AuthorizationCode']);

export function holdConsumption(db: Db, consumption: Consumption): boolean {
  const batch = currentBatch.get();
  if (!batch || !CONSUMED_WITH_WHAT_THEY_ISSUE.has(consumption.model) || !onPostgres(db)) return false;
  batch.consumption = consumption;
  return true;
}

/**
 * Saves a refresh token together with the held consumption of what issued it. Undefined when nothing
 * was held; else what it redeemed, when another request had consumed that first (nothing was saved).
 */
export async function saveWithHeldConsumption(db: Db, row: ModelRow): Promise<{ lost: Consumption | undefined } | undefined> {
  const batch = currentBatch.get();
  const consumption = batch?.consumption;
  if (!consumption || row.model !== 'RefreshToken') return undefined;
  batch.consumption = undefined;
  const { rows } = await consumeThenInsert(db, { ...row, consumedModel: consumption.model, consumedId: consumption.id, now: consumption.now });
  return { lost: rows.length > 0 ? undefined : consumption };
}

const consumeThenInsert = preparedQuery((db, row: ModelRow & { consumedModel: string; consumedId: string; now: number }) => {
  // Parameters in a SELECT list have no type of their own: each is cast to its column's.
  const text = (value: string | null) => sql<string>`cast(${value} as text)`;
  const bigint = (value: number | null) => sql<number>`cast(${value} as bigint)`;
  return db
    .with('consumed', (qc) =>
      qc.updateTable('oidc_models').set({ consumed_at: row.now }).where('model', '=', row.consumedModel).where('id', '=', row.consumedId).where('consumed_at', 'is', null).returning('id'),
    )
    .insertInto('oidc_models')
    .columns(['model', 'id', 'payload', 'grant_id', 'user_code', 'uid', 'account_id', 'expires_at', 'consumed_at'])
    .expression((eb) =>
      eb
        .selectFrom('consumed')
        .select([
          text(row.model).as('model'),
          text(row.id).as('id'),
          text(row.payload).as('payload'),
          text(row.grantId).as('grant_id'),
          text(row.userCode).as('user_code'),
          text(row.uid).as('uid'),
          text(row.accountId).as('account_id'),
          bigint(row.expiresAt).as('expires_at'),
          bigint(row.consumedAt).as('consumed_at'),
        ]),
    )
    .returning('id');
});

async function flush(db: Db, batch: WriteBatch): Promise<void> {
  const rows = [...batch.models.values()];
  const { activity } = batch;
  // SQLite has no data-modifying CTE: there the activity is a statement of its own.
  const activityWithRows = activity !== undefined && rows.length > 0 && onPostgres(db);
  if (rows.length > 0) await batchStatement(rows.length, activityWithRows)(db, { rows, activity });
  if (activity && !activityWithRows) await sessionActivityUpsert(db, activity);
}

type BatchParams = { rows: ModelRow[]; activity: SessionActivity | undefined };
const batchStatements = new Map<string, ReturnType<typeof batchStatementFor>>();

/** One statement per shape (how many rows, with or without activity), compiled once each. */
function batchStatement(rowCount: number, withActivity: boolean) {
  const shape = `${rowCount} ${withActivity}`;
  let statement = batchStatements.get(shape);
  if (!statement) batchStatements.set(shape, (statement = batchStatementFor(rowCount, withActivity)));
  return statement;
}

// preparedQuery reads parameters by name: each row's fields become `r<i>.<field>` stand-ins.
function batchStatementFor(rowCount: number, withActivity: boolean) {
  const compiled = preparedQuery((db, flat: Record<string, unknown>) => {
    const rows = Array.from({ length: rowCount }, (_, i) => rowOfParameters(flat, `r${i}.`));
    if (!withActivity) return upsertModelRows(db, rows, false);
    const activity = { sessionUid: flat['a.sessionUid'] as string, lastSeenAt: flat['a.lastSeenAt'] as number, expiresAt: flat['a.expiresAt'] as number };
    // PostgreSQL runs every data-modifying CTE of a statement, whether or not the rest reads it.
    return upsertModelRows(db.with('held_activity', () => sessionActivityUpsertQuery(db, activity)) as unknown as Db, rows, false);
  });
  return (db: Db, { rows, activity }: BatchParams) => {
    const flat: Record<string, unknown> = {};
    rows.forEach((row, i) => {
      for (const [field, value] of Object.entries(row)) flat[`r${i}.${field}`] = value;
    });
    if (activity) for (const [field, value] of Object.entries(activity)) flat[`a.${field}`] = value;
    return compiled(db, flat);
  };
}

const ROW_FIELDS = ['model', 'id', 'payload', 'grantId', 'userCode', 'uid', 'accountId', 'expiresAt', 'consumedAt'] as const;

function rowOfParameters(flat: Record<string, unknown>, prefix: string): ModelRow {
  return Object.fromEntries(ROW_FIELDS.map((field) => [field, flat[`${prefix}${field}`]])) as unknown as ModelRow;
}
