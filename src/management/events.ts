import type Router from '@koa/router';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import { EVENT_TYPES } from '../domain/events/catalogue.ts';
import { findEvent, listEvents, type RecordedEvent } from '../domain/events/queries.ts';
import { redeliverEvent } from '../domain/webhooks/deliveries.ts';
import type { Services } from '../services.ts';
import { OK, pageQuery, pageRequest } from './input.ts';
import { dateTime, nextToken, okWith } from './responses.ts';
import { route } from './route.ts';

/** An ISO 8601 date-time, or seconds since the epoch as Kinde's `timestamp`s are. */
const moment = z
  .string()
  .transform((value, ctx) => {
    const at = /^\d+$/.test(value) ? Number(value) * 1000 : Date.parse(value);
    if (Number.isNaN(at)) ctx.addIssue({ code: 'custom', message: 'must be an ISO 8601 date-time or seconds since the epoch' });
    return at;
  })
  .optional();

const listQuery = z.object({ ...pageQuery, type: z.string().min(1).optional(), subject: z.string().min(1).optional(), from: moment, to: moment });

const kindeEventSchema = z.object({
  type: z.string(),
  source: z.enum(['api', 'admin', 'user']),
  event_id: z.string(),
  /** Seconds since the epoch. */
  timestamp: z.number().int(),
  data: z.record(z.string(), z.unknown()),
});
const auditEventSchema = kindeEventSchema.extend({
  subject: z.string().nullable(),
  actor: z.string().nullable(),
  address: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()).nullable(),
  created_on: dateTime,
});
/** Kinde's event type: its code, name and the JSON Schema of its `data` (catalogue.ts). */
const eventTypeSchema = z.object({ id: z.string(), code: z.string(), name: z.string(), origin: z.literal('kinde'), schema: z.record(z.string(), z.unknown()) });

/** Kinde's `event` (GET /api/v1/events/{id}): `timestamp` in seconds. */
function kindeEventJson(event: RecordedEvent): z.input<typeof kindeEventSchema> {
  return { type: event.type, source: event.source ?? 'admin', event_id: event.id, timestamp: Math.floor(event.createdAt / 1000), data: event.data };
}

/** Gatehouse's audit view of an event (GET /api/v1/events): also who, to what, from where, and the context. */
function auditEventJson(event: RecordedEvent): z.input<typeof auditEventSchema> {
  return { ...kindeEventJson(event), subject: event.subject, actor: event.actor, address: event.address, detail: event.detail, created_on: new Date(event.createdAt).toISOString() };
}

export function eventRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(router, { method: 'GET', path: '/event_types', scope: 'read:events', summary: 'List the event types webhooks can listen for', response: okWith({ event_types: z.array(eventTypeSchema) }) }, () => {
    return { ...OK, event_types: [...EVENT_TYPES] };
  });

  route(router, { method: 'GET', path: '/events/:event_id', scope: 'read:events', summary: 'Get an event', response: okWith({ event: kindeEventSchema }) }, async ({ params }) => {
    const event = await findEvent(db, params.event_id);
    if (!event) throw new DomainError('EVENT_NOT_FOUND', 'Event not found', 404);
    return { ...OK, event: kindeEventJson(event) };
  });

  // Gatehouse extension: the audit log, filtered and paged oldest first.
  route(
    router,
    { method: 'GET', path: '/events', scope: 'read:events', summary: 'List the audit log', query: listQuery, response: okWith({ events: z.array(auditEventSchema), next_token: nextToken }) },
    async ({ query }) => {
      const page = await listEvents(db, { type: query.type, subject: query.subject, from: query.from, to: query.to }, pageRequest(query));
      return { ...OK, events: page.items.map(auditEventJson), next_token: page.nextToken };
    },
  );

  // Gatehouse extension: send an event again to the webhooks listening for its type.
  route(
    router,
    { method: 'POST', path: '/events/:event_id/redeliver', scope: 'update:webhooks', summary: 'Send an event to its webhooks again', response: okWith({ deliveries_queued: z.number().int() }) },
    async ({ params }) => {
      const queued = await redeliverEvent(db, params.event_id);
      return { ...OK, deliveries_queued: queued };
    },
  );
}
