/** What the worker knows after a batch, to decide how long to rest before the next one. */
export interface BatchDone {
  /** Deliveries the batch sent. */
  count: number;
  /** When the batch began, and now (performance.now() milliseconds). */
  started: number;
  now: number;
  /** GATEHOUSE_WEBHOOK_MAX_RATE: deliveries a second at most while requests come in (0: no cap). */
  maxRate: number;
  /** No request came in since the last batch: nothing else waits on this process. */
  idle: boolean;
  /** When the batches paced so far may all have been sent under the cap (undefined after a pause). */
  due: number | undefined;
}

/** A lag longer than this is a new stretch of work, not one to make up. */
const CATCH_UP_MS = 1_000;

/**
 * Issue 14: a burst drains within a minute while the token endpoint keeps ≥ 90% of its rate. So while
 * requests come in, deliveries keep to the cap on a schedule (a rest that overran, because a busy event
 * loop wakes timers late, is made up by the next ones, so the rate is the cap rather than drifting under
 * it); with no request since the last batch the cap lifts.
 */
export function restAfterBatch(batch: BatchDone): { restMs: number; due: number | undefined } {
  if (batch.maxRate <= 0 || batch.idle) return { restMs: 0, due: undefined };
  const from = batch.due !== undefined && batch.started - batch.due < CATCH_UP_MS ? batch.due : batch.started;
  const due = from + (batch.count * 1000) / batch.maxRate;
  return { restMs: Math.max(0, due - batch.now), due };
}
