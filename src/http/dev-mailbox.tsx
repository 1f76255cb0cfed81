import Router from '@koa/router';
import type { DevMailbox } from '../domain/messaging/mailer.ts';
import { Layout } from '../ui/pages/layout.tsx';
import { renderPage } from '../ui/render.ts';

const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/**
 * Only mounted when no SMTP server is configured: the messages Gatehouse would have sent. They hold
 * sign-in codes, so only this machine may read them.
 */
export function devMailboxRoutes(mailbox: DevMailbox): Router {
  const router = new Router();
  router.get('/dev/mailbox', (ctx) => {
    if (!LOOPBACK.has(ctx.req.socket.remoteAddress ?? '')) return;
    renderPage(
      ctx,
      <Layout title="Dev mailbox">
        <h1>Dev mailbox</h1>
        <p>Messages sent while no SMTP server is configured. Newest first.</p>
        {mailbox.messages.map((m) => (
          <article style="border-top:1px solid #ddd;padding:.5rem 0">
            <p>
              <strong>{m.subject}</strong>
            </p>
            <p>
              To {m.to} · {new Date(m.sentAt).toISOString()}
            </p>
            <pre style="white-space:pre-wrap">{m.text}</pre>
          </article>
        ))}
      </Layout>,
    );
  });
  return router;
}
