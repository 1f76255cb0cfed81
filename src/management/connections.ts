import type Router from '@koa/router';
import { z } from 'zod';
import { type Connection, findConnection, listConnections } from '../domain/connections.ts';
import { DomainError } from '../domain/errors.ts';
import { changeSocialConnection, type ConnectionChange, connectionApplications, createSocialConnection, deleteConnection, findSocialConnection } from '../domain/social/connections.ts';
import { socialOptionsInput, visibleOptions } from '../domain/social/options.ts';
import type { Services } from '../services.ts';
import { cursorPage, cursorQuery, OK, oneCursorAtMost, readBody, readQuery } from './input.ts';

const listQuery = z
  .object({ ...cursorQuery, home_realm_domain: z.string().min(1).optional() })
  .refine(...oneCursorAtMost);

/** Kinde's `CreateConnectionData`/`UpdateConnectionData` bodies (social options only, so far). */
const connectionFields = {
  name: z.string().trim().min(1).max(200).optional(),
  display_name: z.string().trim().min(1).max(200).optional(),
  enabled_applications: z.array(z.string().min(1)).max(500).optional(),
  organization_code: z.string().min(1).nullable().optional(),
  options: socialOptionsInput.optional(),
};
const createBody = z.object({ ...connectionFields, strategy: z.string().min(1) }).strict();
const changeBody = z.object(connectionFields).strict();

export function connectionJson(connection: Connection) {
  return { id: connection.id, name: connection.name, display_name: connection.displayName, strategy: connection.strategy };
}

function change(body: z.infer<typeof changeBody>): ConnectionChange {
  return { name: body.name, displayName: body.display_name, enabledApplications: body.enabled_applications, organizationCode: body.organization_code, options: body.options };
}

export function connectionRoutes(router: Router, services: Services): void {
  const { db, masterKey } = services;
  /** One callback for every connection (issue 11): the flow is found from `state`. */
  const callbackUrl = `${services.config.issuer}/login/callback`;

  router.get('/connections', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    if (query.home_realm_domain) {
      // Home realm discovery applies to enterprise connections only; built-in and social ones have no domains.
      ctx.body = { ...OK, connections: [], has_more: false };
      return;
    }
    const page = cursorPage(await listConnections(db), query, 'connection');
    ctx.body = { ...OK, connections: page.items.map(connectionJson), has_more: page.hasMore };
  });

  router.post('/connections', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const { id } = await createSocialConnection(db, masterKey, { ...change(body), strategy: body.strategy });
    ctx.status = 201;
    ctx.body = { ...OK, message: 'Connection successfully created', connection: { id } };
  });

  router.get('/connections/:connection_id', async (ctx) => {
    const connection = await findConnection(db, ctx.params.connection_id!);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    const social = await findSocialConnection(db, masterKey, connection.id);
    // Social connections also show their options (never the secrets), where they are on, and the
    // callback URL to register at the provider.
    const details = social && {
      options: visibleOptions(social.options, social.isTrusted),
      organization_code: social.organizationCode,
      enabled_applications: await connectionApplications(db, connection.id),
      callback_url: callbackUrl,
    };
    ctx.body = { ...OK, connection: { ...connectionJson(connection), ...details } };
  });

  router.patch('/connections/:connection_id', async (ctx) => {
    const body = await readBody(ctx, changeBody);
    await changeSocialConnection(db, masterKey, ctx.params.connection_id!, change(body), 'merge');
    ctx.body = { ...OK, message: 'Connection successfully updated' };
  });

  router.put('/connections/:connection_id', async (ctx) => {
    const body = await readBody(ctx, changeBody);
    await changeSocialConnection(db, masterKey, ctx.params.connection_id!, change(body), 'replace');
    ctx.body = { ...OK, message: 'Connection successfully updated' };
  });

  router.delete('/connections/:connection_id', async (ctx) => {
    await deleteConnection(db, ctx.params.connection_id!);
    ctx.body = { ...OK, message: 'Connection successfully deleted' };
  });
}
