import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';

/** At most `limit` events per subject in each fixed window of `windowMs`. */
export interface RateLimit {
  name: string;
  limit: number;
  windowMs: number;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAt: number };

const windowOf = (limit: RateLimit, now: number) => Math.floor(now / limit.windowMs) * limit.windowMs;

/**
 * Counts one event in the subject's current window, in the database so every replica shares the
 * count; the event that goes past the limit, and every one after it in the window, is refused.
 */
export async function countEvent(db: Db, limit: RateLimit, subject: string): Promise<RateDecision> {
  const start = windowOf(limit, clock.now());
  const expiresAt = start + limit.windowMs;
  const counted = await db
    .insertInto('rate_counters')
    .values({ key: `${limit.name}:${subject}:${start}`, count: 1, expires_at: expiresAt })
    .onConflict((oc) => oc.column('key').doUpdateSet((eb) => ({ count: eb('rate_counters.count', '+', 1) })))
    .returning('count')
    .executeTakeFirstOrThrow();
  return counted.count <= limit.limit ? { allowed: true } : { allowed: false, retryAt: expiresAt };
}

export async function deleteExpiredRateCounters(db: Db): Promise<void> {
  await db.deleteFrom('rate_counters').where('expires_at', '<=', clock.now()).execute();
}
