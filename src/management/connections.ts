import type Router from '@koa/router';
import { z } from 'zod';
import { type Connection, findConnection, listConnections } from '../domain/connections.ts';
import { DomainError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import { cursorPage, cursorQuery, OK, oneCursorAtMost, readQuery } from './input.ts';

const listQuery = z
  .object({ ...cursorQuery, home_realm_domain: z.string().min(1).optional() })
  .refine(...oneCursorAtMost);

export function connectionJson(connection: Connection) {
  return { id: connection.id, name: connection.name, display_name: connection.displayName, strategy: connection.strategy };
}

export function connectionRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/connections', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    if (query.home_realm_domain) {
      // Home realm discovery applies to enterprise connections only; the built-ins have no domains.
      ctx.body = { ...OK, connections: [], has_more: false };
      return;
    }
    const page = cursorPage(await listConnections(db), query, 'connection');
    ctx.body = { ...OK, connections: page.items.map(connectionJson), has_more: page.hasMore };
  });

  router.get('/connections/:connection_id', async (ctx) => {
    const connection = await findConnection(db, ctx.params.connection_id!);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    ctx.body = { ...OK, connection: connectionJson(connection) };
  });
}
