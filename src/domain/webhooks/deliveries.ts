import { clock } from '../../clock.ts';
import { type Db, type Dialect, inTransaction, type Tx } from '../../store/db.ts';
import { DomainError } from '../errors.ts';
import { WEBHOOK_EVENT_TYPES } from '../events/catalogue.ts';
import { queueDeliveries, subscribedWebhooks } from '../events/outbox.ts';
import type { WebhookPayload } from './signing.ts';

/** One delivery claimed by this worker: where to send what, and the lease that proves the claim. */
export interface ClaimedDelivery {
  position: number;
  attempts: number;
  createdAt: number;
  lease: number;
  endpoint: string;
  payload: WebhookPayload;
}

/**
 * Claims up to `limit` deliveries that are due: the oldest pending one of each (webhook, subject),
 * so a subject's events arrive in the order they happened. A claim is a lease (`leased_until`):
 * another worker skips it until it runs out, which also hands back the deliveries of a replica that
 * died mid-send (at least once). On PostgreSQL `FOR UPDATE OF d SKIP LOCKED` lets replicas claim side
 * by side without waiting on each other or claiming the same row; SQLite has one writer anyway.
 * Two statements a batch: the due rows with what is sent (endpoint, event), then the lease.
 */
export async function claimDueDeliveries(db: Db, dialect: Dialect, limit: number, leaseMs: number): Promise<ClaimedDelivery[]> {
  const now = clock.now();
  const lease = now + leaseMs;
  const rows = await inTransaction(db, async (tx) => {
    const due = tx
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .innerJoin('audit_events as e', 'e.id', 'd.event_id')
      .select(['d.position', 'd.attempts', 'd.created_at', 'w.endpoint', 'e.id as event_id', 'e.type', 'e.source', 'e.data', 'e.created_at as event_created_at'])
      .where('d.status', '=', 'pending')
      .where('d.next_attempt_at', '<=', now)
      .where((eb) => eb.or([eb('d.leased_until', 'is', null), eb('d.leased_until', '<', now)]))
      .where(({ not, exists, selectFrom }) =>
        not(
          exists(
            selectFrom('webhook_deliveries as earlier')
              .select('earlier.position')
              .whereRef('earlier.webhook_id', '=', 'd.webhook_id')
              .whereRef('earlier.subject', '=', 'd.subject')
              .where('earlier.status', '=', 'pending')
              .whereRef('earlier.position', '<', 'd.position'),
          ),
        ),
      )
      // The due index's own order ((status, next_attempt_at), then the row id on SQLite): the claim reads
      // `limit` rows and stops, where ordering by position alone read and sorted the whole backlog on each
      // claim. Order across subjects is free; within a subject the NOT EXISTS above keeps it.
      .orderBy('d.next_attempt_at')
      .orderBy('d.position')
      .limit(limit);
    const found = await (dialect === 'postgres' ? due.forUpdate('d').skipLocked() : due).execute();
    if (found.length > 0) {
      await tx
        .updateTable('webhook_deliveries')
        .set({ leased_until: lease })
        .where('position', 'in', found.map((row) => row.position))
        .execute();
    }
    return found;
  });
  return rows.map((row) => ({
    position: row.position,
    attempts: row.attempts,
    createdAt: row.created_at,
    lease,
    endpoint: row.endpoint,
    payload: {
      type: row.type,
      event_id: row.event_id,
      // Kinde's sources are api, admin and user; what Gatehouse does by itself is the operator's doing.
      source: row.source ?? 'admin',
      timestamp: new Date(row.event_created_at).toISOString(),
      data: JSON.parse(row.data) as Record<string, unknown>,
    },
  }));
}

export interface AttemptOutcome {
  statusCode: number | null;
  durationMs: number;
  error: string | null;
}

export interface RetryPolicy {
  /** First retry after about this long; each next one twice as late (with jitter), up to `maxDelayMs`. */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Retried for at least this long after the event, then marked failed (issue 14: 24 hours). */
  retryForMs: number;
}

/** Exponential backoff with "equal jitter": half the delay fixed, half random, so receivers coming back are not stampeded. */
export function retryDelay(policy: RetryPolicy, attempts: number, random = Math.random()): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(exponential / 2 + (exponential / 2) * random);
}

type AttemptResult = 'delivered' | 'retry' | 'failed' | 'lost';

/**
 * Records each attempt and what it means: delivered on a 2xx, else retried later, or failed once the
 * retry window is over. Nothing is written for a delivery whose lease was lost (this worker stalled
 * past it and another took the delivery over). One transaction for a batch, and the deliveries of a
 * burst (one lease, all delivered) in two statements: the store pays per batch, not per delivery.
 */
export async function recordAttempts(db: Db, attempts: ReadonlyArray<{ delivery: ClaimedDelivery; outcome: AttemptOutcome }>, policy: RetryPolicy): Promise<AttemptResult[]> {
  return inTransaction(db, async (tx) => {
    const results = new Map<number, AttemptResult>();
    const deliveredByLease = new Map<number, Array<{ delivery: ClaimedDelivery; outcome: AttemptOutcome }>>();
    for (const attempt of attempts) {
      if (attempt.outcome.error !== null) results.set(attempt.delivery.position, await recordUnsuccessfulAttempt(tx, attempt.delivery, attempt.outcome, policy));
      else {
        const sameLease = deliveredByLease.get(attempt.delivery.lease);
        if (sameLease) sameLease.push(attempt);
        else deliveredByLease.set(attempt.delivery.lease, [attempt]);
      }
    }
    for (const [lease, delivered] of deliveredByLease) {
      const now = clock.now();
      const kept = await tx
        .updateTable('webhook_deliveries')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), leased_until: null, status: 'delivered' as const, finished_at: now }))
        .where('position', 'in', delivered.map(({ delivery }) => delivery.position))
        .where('leased_until', '=', lease)
        .returning('position')
        .execute();
      const recorded = new Set(kept.map((row) => Number(row.position)));
      const rows = delivered.filter(({ delivery }) => recorded.has(Number(delivery.position)));
      if (rows.length > 0) await tx.insertInto('webhook_attempts').values(rows.map(({ delivery, outcome }) => attemptRow(delivery, outcome, now))).execute();
      for (const { delivery } of delivered) results.set(delivery.position, recorded.has(Number(delivery.position)) ? 'delivered' : 'lost');
    }
    return attempts.map(({ delivery }) => results.get(delivery.position)!);
  });
}

function attemptRow(delivery: ClaimedDelivery, outcome: AttemptOutcome, now: number) {
  return { delivery_position: delivery.position, attempt: delivery.attempts + 1, attempted_at: now, status_code: outcome.statusCode, duration_ms: outcome.durationMs, error: outcome.error };
}

async function recordUnsuccessfulAttempt(tx: Tx, delivery: ClaimedDelivery, outcome: AttemptOutcome, policy: RetryPolicy): Promise<AttemptResult> {
  const now = clock.now();
  const attempt = delivery.attempts + 1;
  const failed = now - delivery.createdAt >= policy.retryForMs;
  const update = await tx
    .updateTable('webhook_deliveries')
    .set({ attempts: attempt, leased_until: null, ...(failed ? { status: 'failed' as const, finished_at: now } : { next_attempt_at: now + retryDelay(policy, attempt) }) })
    .where('position', '=', delivery.position)
    .where('leased_until', '=', delivery.lease)
    .executeTakeFirst();
  if (update.numUpdatedRows === 0n) return 'lost';
  await tx.insertInto('webhook_attempts').values(attemptRow(delivery, outcome, now)).execute();
  return failed ? 'failed' : 'retry';
}

/** A delivery interrupted by shutdown goes back as it was, for this or another replica to send. */
export async function releaseDelivery(db: Db, delivery: ClaimedDelivery): Promise<void> {
  await db.updateTable('webhook_deliveries').set({ leased_until: null }).where('position', '=', delivery.position).where('leased_until', '=', delivery.lease).execute();
}

/** When the worker has something to do next, if anything is pending at all. */
export async function nextDeliveryDue(db: Db): Promise<number | undefined> {
  const row = await db.selectFrom('webhook_deliveries').select(({ fn }) => fn.min('next_attempt_at').as('due')).where('status', '=', 'pending').executeTakeFirst();
  const due = row?.due;
  return due === null || due === undefined ? undefined : Number(due);
}

export interface DeliveryRecord {
  position: number;
  eventId: string;
  eventType: string;
  status: 'pending' | 'delivered' | 'failed';
  createdAt: number;
  nextAttemptAt: number | null;
  finishedAt: number | null;
  attempts: Array<{ attempt: number; attemptedAt: number; statusCode: number | null; durationMs: number; error: string | null }>;
}

/** A webhook's deliveries, newest first, with every attempt (GET /api/v1/webhooks/{id}/deliveries). */
export async function listDeliveries(db: Db, webhookId: string, page: { pageSize: number; before: number | undefined }): Promise<{ items: DeliveryRecord[]; next: number | undefined }> {
  let query = db
    .selectFrom('webhook_deliveries as d')
    .innerJoin('audit_events as e', 'e.id', 'd.event_id')
    .select(['d.position', 'd.event_id', 'e.type', 'd.status', 'd.created_at', 'd.next_attempt_at', 'd.finished_at'])
    .where('d.webhook_id', '=', webhookId)
    .orderBy('d.position', 'desc')
    .limit(page.pageSize + 1);
  if (page.before !== undefined) query = query.where('d.position', '<', page.before);
  const rows = await query.execute();
  const items = rows.slice(0, page.pageSize);
  const attempts = items.length
    ? await db.selectFrom('webhook_attempts').selectAll().where('delivery_position', 'in', items.map((row) => row.position)).orderBy('attempt').execute()
    : [];
  return {
    items: items.map((row) => ({
      position: row.position,
      eventId: row.event_id,
      eventType: row.type,
      status: row.status,
      createdAt: row.created_at,
      nextAttemptAt: row.status === 'pending' ? row.next_attempt_at : null,
      finishedAt: row.finished_at,
      attempts: attempts
        .filter((attempt) => attempt.delivery_position === row.position)
        .map((attempt) => ({ attempt: attempt.attempt, attemptedAt: attempt.attempted_at, statusCode: attempt.status_code, durationMs: attempt.duration_ms, error: attempt.error })),
    })),
    next: rows.length > page.pageSize ? items.at(-1)?.position : undefined,
  };
}

/**
 * Sends an event again to every webhook now listening for its type (POST /api/v1/events/{id}/redeliver):
 * new deliveries, so the failed ones keep their history. Returns how many were queued.
 */
export async function redeliverEvent(db: Db, eventId: string): Promise<number> {
  return inTransaction(db, async (tx) => {
    const event = await tx.selectFrom('audit_events').select(['id', 'type', 'subject']).where('id', '=', eventId).executeTakeFirst();
    if (!event) throw new DomainError('EVENT_NOT_FOUND', 'Event not found', 404);
    if (!WEBHOOK_EVENT_TYPES.has(event.type)) throw new DomainError('EVENT_NOT_DELIVERABLE', `${event.type} events are not sent to webhooks`, 400);
    const webhookIds = await subscribedWebhooks(tx, event.type);
    if (webhookIds.length > 0) await queueDeliveries(tx, webhookIds, { id: event.id, subject: event.subject ?? event.id }, clock.now());
    return webhookIds.length;
  });
}
