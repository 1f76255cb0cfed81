import type Router from '@koa/router';
import { z } from 'zod';
import { requireUser } from '../domain/users.ts';
import type { AdapterPayload } from 'oidc-provider';
import { endSessionsOf, sessionsOf } from '../protocol/adapter.ts';
import { organizationsOfGrants } from '../protocol/grant-organizations.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { dateTime, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

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

const sessionSchema = z.object({
  user_id: z.string(),
  session_id: z.string(),
  started_on: dateTime.nullable(),
  updated_on: dateTime.nullable(),
  expires_on: dateTime.nullable(),
  org_code: z.string().nullable(),
  client_id: z.string().nullable(),
});

/** `GET/DELETE /users/{user_id}/sessions`: a person's SSO sessions, in Kinde's shape. */
export function sessionRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(
    router,
    { method: 'GET', path: '/users/:user_id/sessions', scope: 'read:users', summary: "List a user's sessions", response: okWith({ has_more: z.boolean(), sessions: z.array(sessionSchema) }) },
    async ({ params }) => {
      const user = await requireUser(db, params.user_id);
      const sessions = (await sessionsOf(db, user.id)).map((session) => ({ ...session, first: firstAuthorization(session.payload) }));
      const organizations = await organizationsOfGrants(db, sessions.flatMap(({ first }) => (first?.grantId ? [first.grantId] : [])));
      return {
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
    },
  );

  route(router, { method: 'DELETE', path: '/users/:user_id/sessions', scope: 'update:users', summary: "End a user's sessions", response: okResponse }, async ({ params }) => {
    const user = await requireUser(db, params.user_id);
    await endSessionsOf(db, user.id);
    return OK;
  });
}
