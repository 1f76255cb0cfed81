import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import type { Db, Tx } from '../store/db.ts';

export interface AuditEvent {
  type: string;
  actor?: string | null;
  subject?: string | null;
  /** Never secrets, codes or tokens (DESIGN.md §5). */
  data?: Record<string, unknown>;
}

export async function recordAudit(db: Db | Tx, event: AuditEvent): Promise<void> {
  await db
    .insertInto('audit_events')
    .values({
      id: newId.event(),
      type: event.type,
      actor: event.actor ?? null,
      subject: event.subject ?? null,
      data: JSON.stringify(event.data ?? {}),
      created_at: clock.now(),
    })
    .execute();
}
