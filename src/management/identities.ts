import type Router from '@koa/router';
import { z } from 'zod';
import { addIdentity, deleteIdentity, identityProblem, listIdentities, requireIdentity, setPrimaryIdentity } from '../domain/identities.ts';
import { findConnection } from '../domain/connections.ts';
import { preProvisionEnterpriseIdentity } from '../domain/enterprise/identities.ts';
import { DomainError } from '../domain/errors.ts';
import { isEnterpriseStrategy } from '../domain/strategies.ts';
import { type Identity, requireUser } from '../domain/users.ts';
import type { Services } from '../services.ts';
import { cursorPage, cursorQuery, OK, oneCursorAtMost, readBody, readQuery } from './input.ts';

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

/** Kinde's `identity`: `name` is the value itself; `email` is set for email identities. */
export function identityJson(identity: Identity) {
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

  router.get('/users/:user_id/identities', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const user = await requireUser(db, ctx.params.user_id!);
    const page = cursorPage(await listIdentities(db, user.id), query, 'identity');
    ctx.body = { ...OK, identities: page.items.map(identityJson), has_more: page.hasMore };
  });

  router.post('/users/:user_id/identities', async (ctx) => {
    const body = await readBody(ctx, createBody);
    if (body.type === 'enterprise') {
      ctx.status = 201;
      ctx.body = { ...OK, identity: { id: await preProvision(services, ctx.params.user_id!, body) } };
      return;
    }
    const identity = await addIdentity(db, ctx.params.user_id!, { type: body.type, value: body.value });
    ctx.status = 201;
    ctx.body = { ...OK, identity: { id: identity.id } };
  });

  // Kinde answers a bare `identity` here, not wrapped in `{code, message}` (the SDK's GetIdentityResponse).
  router.get('/identities/:identity_id', async (ctx) => {
    ctx.body = identityJson(await requireIdentity(db, ctx.params.identity_id!));
  });

  router.patch('/identities/:identity_id', async (ctx) => {
    const body = await readBody(ctx, updateBody);
    if (body.is_primary) await setPrimaryIdentity(db, ctx.params.identity_id!);
    else await requireIdentity(db, ctx.params.identity_id!);
    ctx.body = OK;
  });

  router.delete('/identities/:identity_id', async (ctx) => {
    await deleteIdentity(db, ctx.params.identity_id!);
    ctx.body = OK;
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
