import type { Context, Next } from 'koa';
import { clock, utcClockTime } from '../clock.ts';
import type { NetworkFailures } from '../domain/attack-protection.ts';
import { MessagePage } from '../ui/pages/message.tsx';
import { renderPage } from '../ui/render.ts';
import { networkOf } from './networks.ts';

const secondsUntil = (at: number) => String(Math.max(1, Math.ceil((at - clock.now()) / 1000)));

/**
 * Sign-in form posts from a network that has failed too often, across every account, are refused
 * before anything is checked: a page for people, 429 with `Retry-After` (RFC 6585 §4).
 */
export function throttleSignInPosts(failures: NetworkFailures) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const until = ctx.method === 'POST' ? failures.refused(networkOf(ctx.ip)) : undefined;
    if (until === undefined) return next();
    ctx.status = 429;
    ctx.set('Retry-After', secondsUntil(until));
    renderPage(
      ctx,
      MessagePage({
        title: 'Too many attempts',
        message: `Too many sign-in attempts failed from your network. Try again at ${utcClockTime(until)} UTC.`,
        backUrl: `/interaction/${encodeURIComponent(String(ctx.params?.uid ?? ''))}`,
        backLabel: 'Back to sign-in',
      }),
    );
  };
}

/**
 * Endpoints where a client authenticates (token, introspection, revocation, device authorization):
 * a network whose failed client authentications went past the limit gets RFC 6749-shaped JSON with
 * 429 until its window ends; every `invalid_client` answer counts. Requests that succeed never touch
 * the database here.
 */
export function throttleClientAuthentication(failures: NetworkFailures, paths: ReadonlySet<string>) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || !paths.has(ctx.path)) return next();
    const network = networkOf(ctx.ip);
    const until = failures.refused(network);
    if (until !== undefined) {
      ctx.status = 429;
      ctx.set('Retry-After', secondsUntil(until));
      ctx.body = { error: 'temporarily_unavailable', error_description: `too many failed client authentications from this network; try again at ${utcClockTime(until)} UTC` };
      return;
    }
    await next();
    if (ctx.status === 401 && (ctx.body as { error?: string } | undefined)?.error === 'invalid_client') await failures.count(network);
  };
}
