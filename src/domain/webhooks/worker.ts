import { setMaxListeners } from 'node:events';
import type { Logger } from 'pino';
import type { Db, Dialect } from '../../store/db.ts';
import { clock } from '../../clock.ts';
import { onDeliveriesQueued } from '../events/outbox.ts';
import { type AttemptOutcome, claimDueDeliveries, type ClaimedDelivery, nextDeliveryDue, recordAttempts, releaseDelivery, type RetryPolicy } from './deliveries.ts';
import { restAfterBatch } from './pacing.ts';
import type { WebhookPayload } from './signing.ts';

/** POSTs a delivery and answers with the receiver's status (app.ts: outboundPoster, under the SSRF rule). */
export type SendDelivery = (endpoint: string, body: string, contentType: string, signal: AbortSignal) => Promise<number>;

export interface WorkerOptions {
  db: Db;
  dialect: Dialect;
  logger: Logger;
  sign: (payload: WebhookPayload) => Promise<string>;
  /** Under the SSRF rule: 10 s, 64 KB, no redirects, addresses checked after DNS. */
  send: SendDelivery;
  retry: RetryPolicy;
  /** Deliveries sent at once (to different subjects; one subject's go one after another). */
  batchSize?: number;
  /** How often to look for work nobody told this process about (another replica's events, retries). */
  pollMs?: number;
  /** At most this many deliveries a second while the process serves requests (0: no cap). */
  maxRate?: number;
  /** HTTP requests this process has received so far: while it does not move, nothing waits on the worker and the cap lifts. */
  requestsReceived?: () => number;
}

/** Longer than a send may take (10 s) plus signing and recording: a lease only runs out when a worker died. */
const LEASE_MS = 60_000;

/**
 * Sends webhook deliveries from the outbox, in every replica. It wakes when an event commits in this
 * process (outbox.ts), when a retry falls due, and every `pollMs` for what other replicas queued, so
 * nothing waits on a fixed sleep. `stop()` interrupts the sends in flight and gives their claims back.
 */
export class WebhookWorker {
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly inFlight = (() => {
    const controller = new AbortController();
    // Every send of a batch listens to it (one per claimed delivery).
    setMaxListeners(Infinity, controller.signal);
    return controller;
  })();
  private unsubscribe: (() => void) | undefined;
  /** Requests received when the current stretch of work began: at its first batch, then at each batch's pacing. */
  private requestsSeen: number | undefined;
  /** When the batches paced so far may all have been sent under the cap (performance.now()). */
  private paceDue: number | undefined;

  constructor(private readonly options: WorkerOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.unsubscribe = onDeliveriesQueued(() => this.wake());
    this.loop = this.run();
  }

  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.unsubscribe?.();
    this.inFlight.abort();
    this.wakeUp?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { logger } = this.options;
    while (this.running) {
      this.woken = false;
      let sent = 0;
      try {
        sent = await this.deliverDue();
      } catch (err) {
        if (this.running) logger.error({ err }, 'webhook delivery failed; retrying shortly');
      }
      if (!this.running) break;
      if (sent > 0 || this.woken) continue;
      this.requestsSeen = undefined;
      await this.idle(await this.untilNextDue());
    }
  }

  private async untilNextDue(): Promise<number> {
    const pollMs = this.options.pollMs ?? 1_000;
    const due = await nextDeliveryDue(this.options.db).catch(() => undefined);
    return due === undefined ? pollMs : Math.max(0, Math.min(pollMs, due - clock.now()));
  }

  /** A pause that only stopping cuts short (new events do not: that is the point of pacing). */
  private rest(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const signal = this.inFlight.signal;
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private idle(ms: number): Promise<void> {
    if (this.woken || !this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      timer.unref();
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = () => {
        this.wakeUp = undefined;
        done();
      };
    });
  }

  /**
   * One batch: claim, send side by side, record the outcomes together, then pace: at most `maxRate`
   * a second (default 200: 10,000 in 50 s) while requests share the process, leaving them the rest
   * of the CPU; a replica with nothing else to do drains a backlog at full speed (pacing.ts).
   */
  private async deliverDue(): Promise<number> {
    const { db, dialect, batchSize = 32, retry, logger } = this.options;
    const started = performance.now();
    this.requestsSeen ??= this.options.requestsReceived?.();
    const claimed = await claimDueDeliveries(db, dialect, batchSize, LEASE_MS);
    if (claimed.length === 0) return 0;
    const sent = (await Promise.all(claimed.map((delivery) => this.send(delivery)))).filter((attempt) => attempt !== undefined);
    const results = sent.length > 0 ? await recordAttempts(db, sent, retry) : [];
    results.forEach((result, index) => {
      const { delivery, outcome } = sent[index]!;
      if (result === 'failed') logger.warn({ event_id: delivery.payload.event_id, receiver: new URL(delivery.endpoint).host, error: outcome.error }, 'webhook delivery failed for good');
    });
    await this.pace(claimed.length, started);
    return claimed.length;
  }

  /** Rests as pacing.ts says: under the cap while requests come in, not at all when none did since the last batch. */
  private async pace(count: number, started: number): Promise<void> {
    const { maxRate = 0, requestsReceived } = this.options;
    const requests = requestsReceived?.();
    const idle = requests !== undefined && requests === this.requestsSeen;
    this.requestsSeen = requests;
    const { restMs, due } = restAfterBatch({ count, started, now: performance.now(), maxRate, idle, due: this.paceDue });
    this.paceDue = due;
    if (restMs > 0) await this.rest(restMs);
  }

  /** One attempt; undefined when shutdown interrupted it (the delivery is handed back, not counted). */
  private async send(delivery: ClaimedDelivery): Promise<{ delivery: ClaimedDelivery; outcome: AttemptOutcome } | undefined> {
    const { db, sign, send } = this.options;
    const started = performance.now();
    try {
      const status = await send(delivery.endpoint, await sign(delivery.payload), 'application/jwt', this.inFlight.signal);
      const ok = status >= 200 && status < 300;
      return { delivery, outcome: { statusCode: status, durationMs: Math.round(performance.now() - started), error: ok ? null : `the receiver answered ${status}` } };
    } catch (error) {
      if (!this.running) {
        await releaseDelivery(db, delivery);
        return undefined;
      }
      return { delivery, outcome: { statusCode: null, durationMs: Math.round(performance.now() - started), error: error instanceof Error ? error.message : String(error) } };
    }
  }
}
