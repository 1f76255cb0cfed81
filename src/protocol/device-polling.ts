import type { Context, Next } from 'koa';
import { errors } from 'oidc-provider';
import { clock } from '../clock.ts';
import type { FormParams } from '../http/forms.ts';
import type { Db } from '../store/db.ts';
import { pendingDeviceCode } from './adapter.ts';
import { protocolRecords } from './protocol-records.ts';
import { POLLING_INTERVAL_SECONDS, SLOW_DOWN_SECONDS } from './device-flow.ts';
import { oauthError } from './kinde-requests.ts';
import { ROUTES } from './provider-routes.ts';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const PACE = 'DeviceCodePace';
/** Requests sent `interval` apart can arrive a little closer together; this much early still counts as in time. */
const ARRIVAL_JITTER_MS = 500;

export interface PollingPace {
  /** Seconds the device must now wait between polls. */
  interval: number;
  lastPollAt: number;
}

/**
 * RFC 8628 §3.5 (and section 029): a poll sooner than `interval` after the previous one is
 * `slow_down`, and the interval grows by 5 seconds for that and every later poll.
 */
export function nextPace(pace: PollingPace, now: number): { tooFast: boolean; pace: PollingPace } {
  const tooFast = now - pace.lastPollAt < pace.interval * 1000 - ARRIVAL_JITTER_MS;
  return { tooFast, pace: { interval: tooFast ? pace.interval + SLOW_DOWN_SECONDS : pace.interval, lastPollAt: now } };
}

/**
 * Records one poll of a pending device code, atomically (every replica sees the same pace): true when
 * it came too soon. Two polls at the same moment are too fast by definition, so losing the race is too.
 */
async function pollTooSoon(db: Db, deviceCode: string, expiresAt: number): Promise<boolean> {
  const now = clock.now();
  const stored = await protocolRecords.read(db, PACE, deviceCode);
  if (stored === undefined) {
    const first: PollingPace = { interval: POLLING_INTERVAL_SECONDS, lastPollAt: now };
    return !(await protocolRecords.create(db, PACE, deviceCode, JSON.stringify(first), expiresAt));
  }
  const { tooFast, pace } = nextPace(JSON.parse(stored) as PollingPace, now);
  const recorded = await protocolRecords.replace(db, PACE, deviceCode, stored, JSON.stringify(pace));
  return tooFast || !recorded;
}

/**
 * The engine has no polling pace of its own: this step, before it, answers `slow_down` for a pending
 * code polled too soon. `slow_down` is a kind of `authorization_pending`, so an approved, denied,
 * redeemed or expired code always gets the engine's own answer at once.
 */
export function deviceCodePollingPace(db: Db) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || ctx.path !== ROUTES.token) return next();
    const params = (ctx.request as { body?: FormParams }).body;
    if (params?.grant_type !== DEVICE_CODE_GRANT || typeof params.device_code !== 'string') return next();
    const pending = await pendingDeviceCode(db, params.device_code);
    // Someone else's device code is the engine's to refuse (invalid_grant), never ours to pace.
    if (!pending || pending.clientId !== params.client_id) return next();
    if (await pollTooSoon(db, params.device_code, pending.expiresAt)) {
      const slowDown = new errors.SlowDown();
      return oauthError(ctx, slowDown.statusCode, slowDown.error, slowDown.error_description ?? slowDown.message);
    }
    return next();
  };
}
