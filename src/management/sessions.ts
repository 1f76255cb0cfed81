import type Router from '@koa/router';
import { requireUser } from '../domain/users.ts';
import { endSessionsOf, sessionsOf } from '../protocol/adapter.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';

const iso = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : null);

/** `GET/DELETE /users/{user_id}/sessions`: a person's SSO sessions, in Kinde's shape. */
export function sessionRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/users/:user_id/sessions', async (ctx) => {
    const user = await requireUser(db, ctx.params.user_id!);
    const sessions = await sessionsOf(db, user.id);
    ctx.body = {
      ...OK,
      has_more: false,
      sessions: sessions.map(({ id, payload, expiresAt }) => ({
        user_id: user.id,
        session_id: id,
        started_on: iso(payload.loginTs),
        updated_on: iso(payload.iat ?? payload.loginTs),
        expires_on: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        org_code: null,
        client_id: null,
      })),
    };
  });

  router.delete('/users/:user_id/sessions', async (ctx) => {
    const user = await requireUser(db, ctx.params.user_id!);
    await endSessionsOf(db, user.id);
    ctx.body = OK;
  });
}
