import type { Db } from '../../store/db.ts';
import { keysetPage, type Page, type PageRequest, toPage } from '../../store/pagination.ts';
import type { AuditEventsTable } from '../../store/schema.ts';
import type { EventSource } from './context.ts';

export interface RecordedEvent {
  id: string;
  type: string;
  source: EventSource | null;
  actor: string | null;
  subject: string | null;
  address: string | null;
  data: Record<string, unknown>;
  detail: Record<string, unknown> | null;
  createdAt: number;
}

const toEvent = (row: AuditEventsTable): RecordedEvent => ({
  id: row.id,
  type: row.type,
  source: row.source as EventSource | null,
  actor: row.actor,
  subject: row.subject,
  address: row.address,
  data: JSON.parse(row.data) as Record<string, unknown>,
  detail: row.detail === null ? null : (JSON.parse(row.detail) as Record<string, unknown>),
  createdAt: row.created_at,
});

export async function findEvent(db: Db, id: string): Promise<RecordedEvent | undefined> {
  const row = await db.selectFrom('audit_events').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toEvent(row);
}

export interface EventFilter {
  type?: string | undefined;
  subject?: string | undefined;
  /** Epoch milliseconds, inclusive. */
  from?: number | undefined;
  /** Epoch milliseconds, exclusive. */
  to?: number | undefined;
}

/** Oldest first, so a reader can follow the log with `next_token`. */
export async function listEvents(db: Db, filter: EventFilter, page: PageRequest): Promise<Page<RecordedEvent>> {
  let query = db.selectFrom('audit_events').selectAll();
  if (filter.type) query = query.where('type', '=', filter.type);
  if (filter.subject) query = query.where('subject', '=', filter.subject);
  if (filter.from !== undefined) query = query.where('created_at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('created_at', '<', filter.to);
  const rows = await keysetPage(query, page).execute();
  const result = toPage(rows, page.pageSize);
  return { items: result.items.map(toEvent), nextToken: result.nextToken };
}

/**
 * Retention (GATEHOUSE_EVENT_RETENTION_DAYS): events older than the cutoff go, with their finished
 * deliveries and attempts; an event a webhook still has to deliver stays until it is delivered or failed.
 */
export async function pruneEvents(db: Db, olderThan: number): Promise<void> {
  await db.deleteFrom('webhook_deliveries').where('status', '!=', 'pending').where('created_at', '<', olderThan).execute();
  await db
    .deleteFrom('audit_events')
    .where('created_at', '<', olderThan)
    .where(({ not, exists, selectFrom }) => not(exists(selectFrom('webhook_deliveries').select('position').whereRef('webhook_deliveries.event_id', '=', 'audit_events.id'))))
    .execute();
}
