/** The audit log is the event outbox (domain/events/outbox.ts); this name stays for its many callers. */
export { type NewEvent as AuditEvent, recordEvent as recordAudit } from './events/outbox.ts';
