import { scopedValue } from '../../async-scope.ts';
import { type Insertable, sql } from 'kysely';
import { clock } from '../../clock.ts';
import { newId } from '../../crypto/ids.ts';
import { afterCommit, type Db, inTransaction, onPostgres, storeOf, type Tx } from '../../store/db.ts';
import { cached } from '../../store/read-cache.ts';
import { preparedQuery } from '../../store/prepared.ts';
import type { Database } from '../../store/schema.ts';
import { WEBHOOK_EVENT_TYPES } from './catalogue.ts';
import { eventContext, type EventSource } from './context.ts';

export interface NewEvent {
  /** A Kinde event type (catalogue.ts) or one of Gatehouse's own (catalogue.ts `GATEHOUSE_EVENT_TYPES`, `user.mfa_enrolled`, `management_api.write`). */
  type: string;
  /** Who did it: an application id, a user id; by default the request's (events/context.ts). */
  actor?: string | null;
  /** The resource it happened to. Deliveries of one subject keep their order. */
  subject?: string | null;
  /** For Kinde's types, exactly what Kinde sends as `data`. Never secrets, codes or tokens (DESIGN.md §5). */
  data?: Record<string, unknown>;
  /** Gatehouse's audit context (application, method, reason): kept, listed, never sent to webhooks. */
  detail?: Record<string, unknown>;
  source?: EventSource | null;
  address?: string | null;
}

const committedListeners = new Set<() => void>();

/** Called after each commit that queued webhook deliveries (the workers of this process wake up). */
export function onDeliveriesQueued(listener: () => void): () => void {
  committedListeners.add(listener);
  return () => committedListeners.delete(listener);
}

export function notifyDeliveriesQueued(): void {
  for (const listener of committedListeners) listener();
}

const tallies = scopedValue<{ recorded: number }>('events recorded');

/**
 * Runs `work` and says how many events it recorded: a management write whose domain code already
 * recorded what it did (an MFA reset, an identity edit) needs no generic `management_api.write`.
 */
export async function countingEvents<T>(work: () => Promise<T>): Promise<{ result: T; recorded: number }> {
  const tally = { recorded: 0 };
  const result = await tallies.run(tally, work);
  return { result, recorded: tally.recorded };
}

/**
 * Records one event in the transaction of the change it describes (DESIGN.md §5b: a crash loses both
 * or neither) and, for the types webhooks may carry, one pending delivery per subscribed webhook.
 */
type EventRow = Insertable<Database['audit_events']>;

// Every sign-in records one: compiled once (store/prepared.ts).
const insertEvent = preparedQuery((db, row: Required<EventRow>) =>
  db.insertInto('audit_events').values({
    id: row.id,
    type: row.type,
    actor: row.actor,
    subject: row.subject,
    data: row.data,
    detail: row.detail,
    source: row.source,
    address: row.address,
    created_at: row.created_at,
  }),
);

export async function recordEvent(db: Db | Tx, event: NewEvent): Promise<string> {
  const context = eventContext();
  const tally = tallies.get();
  if (tally) tally.recorded += 1;
  const id = newId.event();
  const now = clock.now();
  const row = {
    id,
    type: event.type,
    actor: event.actor !== undefined ? event.actor : (context?.actor ?? null),
    subject: event.subject ?? null,
    data: JSON.stringify(event.data ?? {}),
    detail: event.detail === undefined ? null : JSON.stringify(event.detail),
    source: event.source !== undefined ? event.source : (context?.source ?? null),
    address: event.address !== undefined ? event.address : (context?.address ?? null),
    created_at: now,
  };
  const webhookIds = WEBHOOK_EVENT_TYPES.has(event.type) ? await subscribedWebhooks(db, event.type) : [];
  // One statement where the database allows it: no transaction of its own is needed, and on
  // PostgreSQL each statement (BEGIN and COMMIT too) is a round trip to a backend on the same cores.
  if (webhookIds.length === 0) {
    await insertEvent(db, row);
  } else if (onPostgres(db)) {
    await db
      .with('event', (q) => q.insertInto('audit_events').values(row))
      .with('deliveries', (q) => q.insertInto('webhook_deliveries').values(deliveryRows(webhookIds, { id, subject: event.subject ?? id }, now)))
      .selectNoFrom(notifyWorkers().as('notified'))
      .execute();
    afterCommit(db, notifyDeliveriesQueued);
  } else {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('audit_events').values(row).execute();
      await queueDeliveries(tx, webhookIds, { id, subject: event.subject ?? id }, now);
    });
  }
  return id;
}

/**
 * Every webhook listening for `type`. Few rows, read on every sign-in's event: kept in the store's
 * configuration cache (store/read-cache.ts), which any write to `webhooks` empties.
 */
export async function subscribedWebhooks(db: Db | Tx, type: string): Promise<string[]> {
  const subscriptions = await cached(storeOf(db), 'webhooks', 'subscriptions', async () => {
    const rows = await db.selectFrom('webhooks').select(['id', 'event_types']).execute();
    return rows.map((row) => ({ id: row.id, eventTypes: new Set(JSON.parse(row.event_types) as string[]) }));
  });
  return subscriptions.filter((webhook) => webhook.eventTypes.has(type)).map((webhook) => webhook.id);
}

/** The PostgreSQL channel on which a commit that queued deliveries wakes every replica's workers. */
export const DELIVERIES_CHANNEL = 'gatehouse_deliveries';

const deliveryRows = (webhookIds: readonly string[], event: { id: string; subject: string }, now: number) =>
  webhookIds.map((webhookId) => ({ webhook_id: webhookId, event_id: event.id, subject: event.subject, status: 'pending' as const, attempts: 0, next_attempt_at: now, leased_until: null, created_at: now, finished_at: null }));

/**
 * Other replicas' workers (store/notifications.ts): NOTIFY is delivered at commit, and not at all on
 * rollback, so they wake exactly when the deliveries can be read (PostgreSQL folds a transaction's
 * equal notifications into one). This process's workers wake through `afterCommit`.
 */
const notifyWorkers = () => sql<unknown>`pg_notify(${DELIVERIES_CHANNEL}, '')`;

export async function queueDeliveries(db: Db | Tx, webhookIds: readonly string[], event: { id: string; subject: string }, now: number): Promise<void> {
  await db.insertInto('webhook_deliveries').values(deliveryRows(webhookIds, event, now)).execute();
  if (onPostgres(db)) await db.selectNoFrom(notifyWorkers().as('notified')).execute();
  afterCommit(db, notifyDeliveriesQueued);
}
