import type { Context, Next } from 'koa';
import { withEventContext } from '../domain/events/context.ts';

/**
 * Every event recorded while a request runs says where it came from (its client address) and
 * through what: the management API (`api`, the application filled in once authenticated) or the
 * sign-in pages (`user`), in Kinde's `source` terms.
 */
export function recordingEventContext(ctx: Context, next: Next): Promise<unknown> {
  return withEventContext({ source: ctx.path.startsWith('/api/') ? 'api' : 'user', actor: null, address: ctx.ip }, next);
}
