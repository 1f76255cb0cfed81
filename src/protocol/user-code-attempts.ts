import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import { clock } from '../clock.ts';
import { hmacHex } from '../crypto/secrets.ts';
import { DEVICE_PAGE_STATE } from './device-pages.ts';
import { MessagePage } from '../ui/pages/message.tsx';
import { renderPage } from '../ui/render.ts';
import type { Db } from '../store/db.ts';
import { networkOf } from '../http/networks.ts';
import { protocolRecords } from './protocol-records.ts';
import { ROUTES } from './provider-routes.ts';

/**
 * Brute-force protection for user codes (RFC 8628 §5.1): 20^8 codes, of which a handful are live at
 * any time, must not be guessable by trying. Each network (an IPv4 address, an IPv6 /64) may enter 5
 * wrong codes in any 10 minutes, counted in the database so the limit holds on every replica.
 */
export const WRONG_USER_CODES = { limit: 5, windowMs: 10 * 60_000 };

const WRONG_USER_CODE = 'WrongUserCode';

/** Networks are kept as keyed digests for the window only: the limiter needs to recognise one, not to know it. */
const sourceOf = (ctx: Context, key: Buffer) => `net:${hmacHex(key, networkOf(ctx.ip))}`;

/**
 * Counts the attempt before the code is looked at, so parallel guesses cannot slip past the limit;
 * false (and nothing counted) when the address has used up its wrong entries.
 */
async function reserveAttempt(db: Db, source: string): Promise<string | false> {
  const id = randomUUID();
  await protocolRecords.create(db, WRONG_USER_CODE, id, '{}', clock.now() + WRONG_USER_CODES.windowMs, source);
  if ((await protocolRecords.count(db, WRONG_USER_CODE, source)) <= WRONG_USER_CODES.limit) return id;
  await protocolRecords.remove(db, WRONG_USER_CODE, id);
  return false;
}

/**
 * Wraps the engine's code check on `POST /device`. Once the limit is reached every entry, right or
 * wrong, gets the same answer without being looked up, so the page tells nothing about which codes
 * exist; an entry that was not a wrong code (a right one, an empty or stale form) is not counted.
 */
export function limitWrongUserCodes(db: Db, addressKey: Buffer) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || ctx.path !== ROUTES.code_verification) return next();
    const attempt = await reserveAttempt(db, sourceOf(ctx, addressKey));
    if (!attempt) {
      ctx.status = 429;
      ctx.set('Retry-After', String(WRONG_USER_CODES.windowMs / 1000));
      return renderPage(
        ctx,
        MessagePage({
          title: 'Too many wrong codes',
          message: 'Too many wrong codes were entered from your network. Wait 10 minutes, then enter the code shown on your device again.',
          backUrl: ROUTES.code_verification,
          backLabel: 'Enter a code',
        }),
      );
    }
    try {
      await next();
    } finally {
      if (!ctx.state[DEVICE_PAGE_STATE.userCodeRejected]) await protocolRecords.remove(db, WRONG_USER_CODE, attempt);
    }
  };
}
