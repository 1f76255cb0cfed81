import { type SelectQueryBuilder, type SqlBool, sql } from 'kysely';
import { z } from 'zod';

/**
 * Kinde's `page_size` + `next_token` pagination. The token is an opaque cursor over (created_at, id),
 * which is stable while rows are added.
 */
export interface PageRequest {
  pageSize: number;
  after: { createdAt: number; id: string } | undefined;
}

export interface Page<T> {
  items: T[];
  nextToken: string | undefined;
}

const cursor = z.object({ c: z.number(), i: z.string() });

export function decodeNextToken(token: string | undefined): PageRequest['after'] | null {
  if (!token) return undefined;
  try {
    const parsed = cursor.parse(JSON.parse(Buffer.from(token, 'base64url').toString('utf8')));
    return { createdAt: parsed.c, id: parsed.i };
  } catch {
    return null;
  }
}

export function toPage<T extends { created_at: number; id: string }>(rows: T[], pageSize: number): Page<T> {
  const items = rows.slice(0, pageSize);
  const last = items[items.length - 1];
  const nextToken =
    rows.length > pageSize && last ? Buffer.from(JSON.stringify({ c: last.created_at, i: last.id })).toString('base64url') : undefined;
  return { items, nextToken };
}

/** Orders by (created_at, id) and continues after the cursor: one more row than the page tells whether there is a next one. */
export function keysetPage<DB, TB extends keyof DB, O>(query: SelectQueryBuilder<DB, TB, O>, page: PageRequest): SelectQueryBuilder<DB, TB, O> {
  const ordered = query.orderBy(sql`created_at`).orderBy(sql`id`).limit(page.pageSize + 1);
  return page.after ? ordered.where(sql<SqlBool>`(created_at, id) > (${page.after.createdAt}, ${page.after.id})`) : ordered;
}
