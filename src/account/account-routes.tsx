import Router from '@koa/router';
import type { Context } from 'koa';
import { hmacHex, safeEqual } from '../crypto/secrets.ts';
import { regenerateRecoveryCodes } from '../domain/mfa.ts';
import { field, readForm } from '../http/forms.ts';
import type { Services } from '../services.ts';
import { Layout } from '../ui/pages/layout.tsx';
import { MessagePage } from '../ui/pages/message.tsx';
import { RecoveryCodesPage } from '../ui/pages/mfa.tsx';
import { renderPage } from '../ui/render.ts';

const SESSION_COOKIE = '_session';

/**
 * Self-service for the person signed in to this browser (issue 6: recovery codes "regenerable by the
 * user"). Only a session that passed two-step verification may create new codes.
 */
export function accountRoutes(services: Services): Router {
  const router = new Router({ prefix: '/account' });
  const csrfFor = (sessionUid: string) => hmacHex(services.csrfKey, `account:${sessionUid}`).slice(0, 40);

  async function verifiedSession(ctx: Context): Promise<{ accountId: string; uid: string } | undefined> {
    const id = ctx.cookies.get(SESSION_COOKIE, { signed: true });
    const session = id ? await services.provider().Session.find(id) : undefined;
    if (!session?.accountId || !(session.amr ?? []).includes('mfa')) {
      ctx.status = 403;
      renderPage(ctx, MessagePage({ title: 'Sign in first', message: 'Sign in to your application with two-step verification, then come back to this page in the same browser.' }));
      return undefined;
    }
    return { accountId: session.accountId, uid: session.uid };
  }

  router.get('/recovery-codes', async (ctx) => {
    const session = await verifiedSession(ctx);
    if (!session) return;
    renderPage(
      ctx,
      <Layout title="Recovery codes">
        <h1>Recovery codes</h1>
        <p>Lost your codes, or used most of them? Create a new set. The codes you have now will stop working.</p>
        <form method="post" action="/account/recovery-codes">
          <input type="hidden" name="csrf" value={csrfFor(session.uid)} />
          <button type="submit">Create new recovery codes</button>
        </form>
      </Layout>,
    );
  });

  router.post('/recovery-codes', async (ctx) => {
    const form = await readForm(ctx);
    const session = await verifiedSession(ctx);
    if (!session) return;
    const csrf = typeof form === 'object' ? field(form, 'csrf') : undefined;
    if (!csrf || !safeEqual(csrf, csrfFor(session.uid))) {
      ctx.status = 403;
      renderPage(ctx, MessagePage({ title: 'Please try again', message: 'This form was not sent from the recovery codes page, so we did not act on it.', backUrl: '/account/recovery-codes', backLabel: 'Back' }));
      return;
    }
    const codes = await regenerateRecoveryCodes(services.db, services.masterKey, session.accountId);
    renderPage(ctx, RecoveryCodesPage({ csrf: csrfFor(session.uid), codes }));
  });

  return router;
}
