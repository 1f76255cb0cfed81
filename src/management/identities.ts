import type Router from '@koa/router';
import { z } from 'zod';
import { addIdentity, deleteIdentity, identityProblem, listIdentities, requireIdentity, setPrimaryIdentity } from '../domain/identities.ts';
import { findConnection } from '../domain/connections.ts';
import { preProvisionEnterpriseIdentity } from '../domain/enterprise/identities.ts';
import { DomainError } from '../domain/errors.ts';
import { isEnterpriseStrategy } from '../domain/strategies.ts';
import { type Identity, requireUser } from '../domain/users.ts';
import type { Services } from '../services.ts';
import { cursorPage, cursorQuery, OK, oneCursorAtMost } from './input.ts';
import { dateTime, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

const listQuery = z.object(cursorQuery).refine(...oneCursorAtMost);

const typeError = (issue: { input?: unknown }) =>
  issue.input === 'social' ? 'social identities are created when the person signs in through the connection' : 'must be email, username, phone or enterprise';

/**
 * Kinde's create-identity body. `connection_id` only applies to social and enterprise identities,
 * and `phone_country_id` to national phone forms; phones are taken in E.164 for now, so both are
 * accepted and have nothing to change.
 */
const createBody = z.object({
  value: z.string().max(320),
  type: z.enum(['email', 'username', 'phone', 'enterprise'], { error: typeError }),
  phone_country_id: z.string().regex(/^[A-Za-z]{2}$/, 'must be an ISO 3166 two-letter country code').optional(),
  connection_id: z.string().optional(),
});

const valueIsPermanent = 'an identity cannot be edited (section 004): add the new one, then delete the old one';
const updateBody = z.object({
  is_primary: z.literal(true, { error: 'can only be true: make another identity primary instead' }).optional(),
  value: z.undefined({ error: valueIsPermanent }).optional(),
  name: z.undefined({ error: valueIsPermanent }).optional(),
  email: z.undefined({ error: valueIsPermanent }).optional(),
});

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const identitySchema = z.object({
  id: z.string(),
  type: z.string(),
  is_confirmed: z.boolean(),
  created_on: dateTime.nullable(),
  last_login_on: dateTime.nullable(),
  total_logins: z.number().int(),
  name: z.string(),
  email: z.string().nullable(),
  connection_id: z.string().nullable(),
  is_primary: z.boolean(),
});

/** Kinde's `identity`: `name` is the value itself; `email` is set for email identities. */
export function identityJson(identity: Identity): z.input<typeof identitySchema> {
  return {
    id: identity.id,
    type: identity.type,
    is_confirmed: identity.isVerified,
    created_on: isoOrNull(identity.createdAt),
    last_login_on: isoOrNull(identity.lastLoginAt),
    total_logins: identity.totalLogins,
    name: identity.value,
    email: identity.type === 'email' ? identity.value : null,
    connection_id: identity.connectionId,
    is_primary: identity.isPrimary,
  };
}

export function identityRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(
    router,
    { method: 'GET', path: '/users/:user_id/identities', scope: 'read:users', summary: "List a user's identities", query: listQuery, response: okWith({ identities: z.array(identitySchema), has_more: z.boolean() }) },
    async ({ params, query }) => {
      const user = await requireUser(db, params.user_id);
      const page = cursorPage(await listIdentities(db, user.id), query, 'identity');
      return { ...OK, identities: page.items.map(identityJson), has_more: page.hasMore };
    },
  );

  route(
    router,
    { method: 'POST', path: '/users/:user_id/identities', scope: 'update:users', summary: 'Add an identity to a user', body: createBody, status: 201, response: okWith({ identity: z.object({ id: z.string() }) }) },
    async ({ params, body }) => {
      if (body.type === 'enterprise') return { ...OK, identity: { id: await preProvision(services, params.user_id, body) } };
      const identity = await addIdentity(db, params.user_id, { type: body.type, value: body.value });
      return { ...OK, identity: { id: identity.id } };
    },
  );

  // Kinde answers a bare `identity` here, not wrapped in `{code, message}` (the SDK's GetIdentityResponse).
  route(router, { method: 'GET', path: '/identities/:identity_id', scope: 'read:users', summary: 'Get an identity', response: identitySchema }, async ({ params }) => {
    return identityJson(await requireIdentity(db, params.identity_id));
  });

  route(router, { method: 'PATCH', path: '/identities/:identity_id', scope: 'update:users', summary: 'Make an identity primary', body: updateBody, response: okResponse }, async ({ params, body }) => {
    if (body.is_primary) await setPrimaryIdentity(db, params.identity_id);
    else await requireIdentity(db, params.identity_id);
    return OK;
  });

  route(router, { method: 'DELETE', path: '/identities/:identity_id', scope: 'update:users', summary: 'Delete an identity', response: okResponse }, async ({ params }) => {
    await deleteIdentity(db, params.identity_id);
    return OK;
  });
}

/**
 * Section 042, pre-provisioning: `{type: "enterprise", value: <email>, connection_id}` — the person
 * who signs in through that enterprise connection with that email lands in this user.
 */
async function preProvision(services: Services, userId: string, body: { value: string; connection_id?: string | undefined }): Promise<string> {
  const problem = identityProblem('email', body.value);
  if (problem) throw new DomainError('INVALID_IDENTITY', `value: the email ${problem}`, 400);
  const connection = body.connection_id ? await findConnection(services.db, body.connection_id) : undefined;
  if (!connection || !isEnterpriseStrategy(connection.strategy)) throw new DomainError('CONNECTION_INVALID', 'connection_id: must name an enterprise connection', 400);
  await requireUser(services.db, userId);
  return preProvisionEnterpriseIdentity(services.db, userId, connection, body.value);
}
