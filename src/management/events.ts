import type Router from '@koa/router';
import { z } from 'zod';
import { DomainError } from '../domain/errors.ts';
import { EVENT_TYPES } from '../domain/events/catalogue.ts';
import { findEvent, listEvents, type RecordedEvent } from '../domain/events/queries.ts';
import { redeliverEvent } from '../domain/webhooks/deliveries.ts';
import type { Services } from '../services.ts';
import { OK, pageQuery, pageRequest, readQuery } from './input.ts';

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

/** Kinde's `event` (GET /api/v1/events/{id}): `timestamp` in seconds. */
function kindeEventJson(event: RecordedEvent) {
  return { type: event.type, source: event.source ?? 'admin', event_id: event.id, timestamp: Math.floor(event.createdAt / 1000), data: event.data };
}

/** Gatehouse's audit view of an event (GET /api/v1/events): also who, to what, from where, and the context. */
function auditEventJson(event: RecordedEvent) {
  return { ...kindeEventJson(event), subject: event.subject, actor: event.actor, address: event.address, detail: event.detail, created_on: new Date(event.createdAt).toISOString() };
}

export function eventRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/event_types', (ctx) => {
    ctx.body = { ...OK, event_types: EVENT_TYPES };
  });

  router.get('/events/:event_id', async (ctx) => {
    const event = await findEvent(db, ctx.params.event_id!);
    if (!event) throw new DomainError('EVENT_NOT_FOUND', 'Event not found', 404);
    ctx.body = { ...OK, event: kindeEventJson(event) };
  });

  // Gatehouse extension: the audit log, filtered and paged oldest first.
  router.get('/events', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await listEvents(db, { type: query.type, subject: query.subject, from: query.from, to: query.to }, pageRequest(query));
    ctx.body = { ...OK, events: page.items.map(auditEventJson), next_token: page.nextToken };
  });

  // Gatehouse extension: send an event again to the webhooks listening for its type.
  router.post('/events/:event_id/redeliver', async (ctx) => {
    const queued = await redeliverEvent(db, ctx.params.event_id!);
    ctx.body = { ...OK, deliveries_queued: queued };
  });
}
