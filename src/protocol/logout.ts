import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { isRegisteredLogoutUrl } from '../domain/applications.ts';
import type { Db } from '../store/db.ts';
import { renderPage } from '../ui/render.ts';
import { MessagePage } from '../ui/pages/message.tsx';
import { endSessionsOf } from './adapter.ts';
import type { BrowserRefreshCookies } from './spa-refresh-cookie.ts';

const SESSION_COOKIE = '_session';

function safeDecode(value: string): string | undefined {
  try {
    return decodeURIComponent(value.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/**
 * Kinde's SDKs may send `redirect` without encoding it, so a `&` inside it splits the query. The
 * candidates are the parsed value and everything after `redirect=`; a registered logout URL must
 * match one of them exactly.
 */
export function redirectCandidates(querystring: string): string[] {
  const candidates = new Set<string>();
  const parsed = new URLSearchParams(querystring).get('redirect');
  if (parsed) candidates.add(parsed);
  const rest = /(?:^|&)redirect=(.*)$/.exec(querystring)?.[1];
  if (rest) {
    const withoutKnownParams = rest.replace(/&all_sessions=[^&]*$/, '');
    for (const raw of [rest, withoutKnownParams]) {
      candidates.add(raw);
      const decoded = safeDecode(raw);
      if (decoded) candidates.add(decoded);
    }
  }
  return [...candidates];
}

export function logout(db: Db, provider: () => Provider, refreshCookies: BrowserRefreshCookies) {
  return async (ctx: Context): Promise<void> => {
    const candidates = redirectCandidates(ctx.querystring);
    let target: string | undefined;
    for (const candidate of candidates) {
      if (await isRegisteredLogoutUrl(db, candidate)) {
        target = candidate;
        break;
      }
    }
    if (candidates.length > 0 && !target) {
      ctx.status = 400;
      renderPage(ctx, MessagePage({ title: 'Sign-out link not recognised', message: 'This sign-out link points somewhere this service does not know, so we did not follow it.' }));
      return;
    }

    const sessionId = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = sessionId ? await provider().Session.find(sessionId) : undefined;
    // `all_sessions=true` (the PKCE SDK): every session of this person, in every browser, ends.
    if (session?.accountId && new URLSearchParams(ctx.querystring).get('all_sessions') === 'true') await endSessionsOf(db, session.accountId);
    await session?.destroy();
    ctx.cookies.set(SESSION_COOKIE, null, { signed: true, httpOnly: true, sameSite: 'lax' });
    refreshCookies.clear(ctx);

    if (target) {
      // Exactly the registered URL: Koa's redirect() would normalise it (e.g. add a trailing slash).
      ctx.status = 302;
      ctx.set('Location', target);
      return;
    }
    renderPage(ctx, MessagePage({ title: 'You are signed out', message: 'You can close this window.' }));
  };
}
