import type Router from '@koa/router';
import { requireUser } from '../domain/users.ts';
import type { AdapterPayload } from 'oidc-provider';
import { endSessionsOf, sessionsOf } from '../protocol/adapter.ts';
import { organizationsOfGrants } from '../protocol/grant-organizations.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';

/**
 * Kinde lists one application per session: the one the person signed in to, whose grant names the
 * organization. The engine keeps a session's applications in the order they joined it.
 */
function firstAuthorization(payload: AdapterPayload): { clientId: string; grantId: string | undefined } | undefined {
  const authorizations = (payload.authorizations ?? {}) as Record<string, { grantId?: string }>;
  const clientId = Object.keys(authorizations)[0];
  return clientId === undefined ? undefined : { clientId, grantId: authorizations[clientId]?.grantId };
}

const iso = (seconds: unknown) => (typeof seconds === 'number' ? new Date(seconds * 1000).toISOString() : null);

/** `GET/DELETE /users/{user_id}/sessions`: a person's SSO sessions, in Kinde's shape. */
export function sessionRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/users/:user_id/sessions', async (ctx) => {
    const user = await requireUser(db, ctx.params.user_id!);
    const sessions = (await sessionsOf(db, user.id)).map((session) => ({ ...session, first: firstAuthorization(session.payload) }));
    const organizations = await organizationsOfGrants(db, sessions.flatMap(({ first }) => (first?.grantId ? [first.grantId] : [])));
    ctx.body = {
      ...OK,
      has_more: false,
      sessions: sessions.map(({ id, payload, expiresAt, first }) => ({
        user_id: user.id,
        session_id: id,
        started_on: iso(payload.loginTs),
        updated_on: iso(payload.iat ?? payload.loginTs),
        expires_on: expiresAt === null ? null : new Date(expiresAt).toISOString(),
        org_code: (first?.grantId && organizations.get(first.grantId)) ?? null,
        client_id: first?.clientId ?? null,
      })),
    };
  });

  router.delete('/users/:user_id/sessions', async (ctx) => {
    const user = await requireUser(db, ctx.params.user_id!);
    await endSessionsOf(db, user.id);
    ctx.body = OK;
  });
}
