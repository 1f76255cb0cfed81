import type Router from '@koa/router';
import { z } from 'zod';
import { type Connection, findConnection, listConnections } from '../domain/connections.ts';
import { DomainError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import { OK, readQuery } from './input.ts';

const listQuery = z
  .object({
    page_size: z.coerce.number().int().min(1).max(500).default(10),
    starting_after: z.string().min(1).optional(),
    ending_before: z.string().min(1).optional(),
    home_realm_domain: z.string().min(1).optional(),
  })
  .refine((q) => !(q.starting_after && q.ending_before), 'use starting_after or ending_before, not both');

export function connectionJson(connection: Connection) {
  return { id: connection.id, name: connection.name, display_name: connection.displayName, strategy: connection.strategy };
}

/**
 * Cursor pagination over a short, creation-ordered list (contract: connections page with
 * `starting_after`/`ending_before` + `has_more`, Stripe-style: `has_more` says whether more lie
 * beyond the page in the direction of travel).
 */
export function connectionsPage<T extends { id: string }>(
  all: T[],
  query: { page_size: number; starting_after?: string | undefined; ending_before?: string | undefined },
): { items: T[]; hasMore: boolean } {
  const cursor = query.starting_after ?? query.ending_before;
  const at = cursor === undefined ? -1 : all.findIndex((item) => item.id === cursor);
  if (cursor !== undefined && at === -1) throw new DomainError('INVALID_CURSOR', `No connection with id ${cursor}`, 400);
  if (query.ending_before !== undefined) {
    const start = Math.max(0, at - query.page_size);
    return { items: all.slice(start, at), hasMore: start > 0 };
  }
  const rest = all.slice(at + 1);
  return { items: rest.slice(0, query.page_size), hasMore: rest.length > query.page_size };
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
    const page = connectionsPage(await listConnections(db), query);
    ctx.body = { ...OK, connections: page.items.map(connectionJson), has_more: page.hasMore };
  });

  router.get('/connections/:connection_id', async (ctx) => {
    const connection = await findConnection(db, ctx.params.connection_id!);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    ctx.body = { ...OK, connection: connectionJson(connection) };
  });
}
