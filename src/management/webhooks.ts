import type Router from '@koa/router';
import { z } from 'zod';
import { type DeliveryRecord, listDeliveries } from '../domain/webhooks/deliveries.ts';
import { createWebhook, deleteWebhook, type EndpointRule, listWebhooks, requireWebhook, updateWebhook, type Webhook } from '../domain/webhooks/registry.ts';
import { issuerOnLoopback } from '../http/outbound.ts';
import type { Services } from '../services.ts';
import { OK, readBody, readQuery } from './input.ts';

const name = z.string().trim().min(1).max(255);
const description = z.string().max(1024).nullable().optional();
const eventTypes = z.array(z.string().min(1)).min(1).max(50);

const createBody = z.object({ endpoint: z.string().min(1).max(2048), event_types: eventTypes, name, description });
const updateBody = z.object({ event_types: eventTypes.optional(), name: name.optional(), description });
const deliveriesQuery = z.object({
  page_size: z.coerce.number().int().min(1).max(500).default(10),
  next_token: z.string().regex(/^\d+$/, 'is not a token this server issued').optional(),
});

/** Kinde's `webhook`. */
function webhookJson(webhook: Webhook) {
  return { id: webhook.id, name: webhook.name, endpoint: webhook.endpoint, description: webhook.description, event_types: webhook.eventTypes, created_on: new Date(webhook.createdAt).toISOString() };
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function deliveryJson(delivery: DeliveryRecord) {
  return {
    id: String(delivery.position),
    event_id: delivery.eventId,
    event_type: delivery.eventType,
    status: delivery.status,
    created_on: iso(delivery.createdAt),
    next_attempt_on: iso(delivery.nextAttemptAt),
    finished_on: iso(delivery.finishedAt),
    attempts: delivery.attempts.map((attempt) => ({ attempt: attempt.attempt, attempted_on: iso(attempt.attemptedAt), status_code: attempt.statusCode, duration_ms: attempt.durationMs, error: attempt.error })),
  };
}

export function webhookRoutes(router: Router, services: Services): void {
  const { db, config } = services;
  const rule: EndpointRule = { issuer: config.issuer, allowPrivateNetwork: config.allowPrivateNetwork || issuerOnLoopback(config.issuer) };

  router.get('/webhooks', async (ctx) => {
    ctx.body = { ...OK, webhooks: (await listWebhooks(db)).map(webhookJson) };
  });

  router.post('/webhooks', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const webhook = await createWebhook(db, { name: body.name, endpoint: body.endpoint, description: body.description, eventTypes: body.event_types }, rule);
    ctx.body = { ...OK, webhook: { id: webhook.id, endpoint: webhook.endpoint } };
  });

  router.patch('/webhooks/:webhook_id', async (ctx) => {
    const body = await readBody(ctx, updateBody);
    const webhook = await updateWebhook(db, ctx.params.webhook_id!, { name: body.name, description: body.description, eventTypes: body.event_types });
    ctx.body = { ...OK, webhook: { id: webhook.id } };
  });

  router.delete('/webhooks/:webhook_id', async (ctx) => {
    await deleteWebhook(db, ctx.params.webhook_id!);
    ctx.body = OK;
  });

  // Gatehouse extension: every delivery of this webhook, newest first, with each attempt.
  router.get('/webhooks/:webhook_id/deliveries', async (ctx) => {
    const query = readQuery(ctx, deliveriesQuery);
    await requireWebhook(db, ctx.params.webhook_id!);
    const page = await listDeliveries(db, ctx.params.webhook_id!, { pageSize: query.page_size, before: query.next_token === undefined ? undefined : Number(query.next_token) });
    ctx.body = { ...OK, deliveries: page.items.map(deliveryJson), next_token: page.next === undefined ? undefined : String(page.next) };
  });
}
