import type Router from '@koa/router';
import { z } from 'zod';
import { type DeliveryRecord, listDeliveries } from '../domain/webhooks/deliveries.ts';
import { createWebhook, deleteWebhook, type EndpointRule, listWebhooks, requireWebhook, updateWebhook, type Webhook } from '../domain/webhooks/registry.ts';
import { issuerOnLoopback } from '../http/outbound.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { dateTime, nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

const name = z.string().trim().min(1).max(255);
const description = z.string().max(1024).nullable().optional();
const eventTypes = z.array(z.string().min(1)).min(1).max(50);

const createBody = z.object({ endpoint: z.string().min(1).max(2048), event_types: eventTypes, name, description });
const updateBody = z.object({ event_types: eventTypes.optional(), name: name.optional(), description });
const deliveriesQuery = z.object({
  page_size: z.coerce.number().int().min(1).max(500).default(10),
  next_token: z.string().regex(/^\d+$/, 'is not a token this server issued').optional(),
});

const webhookSchema = z.object({ id: z.string(), name: z.string(), endpoint: z.string(), description: z.string().nullable(), event_types: z.array(z.string()), created_on: dateTime });
const deliverySchema = z.object({
  id: z.string(),
  event_id: z.string(),
  event_type: z.string(),
  status: z.enum(['pending', 'delivered', 'failed']),
  created_on: dateTime.nullable(),
  next_attempt_on: dateTime.nullable(),
  finished_on: dateTime.nullable(),
  attempts: z.array(z.object({ attempt: z.number().int(), attempted_on: dateTime.nullable(), status_code: z.number().int().nullable(), duration_ms: z.number(), error: z.string().nullable() })),
});

/** Kinde's `webhook`. */
function webhookJson(webhook: Webhook): z.input<typeof webhookSchema> {
  return { id: webhook.id, name: webhook.name, endpoint: webhook.endpoint, description: webhook.description, event_types: webhook.eventTypes, created_on: new Date(webhook.createdAt).toISOString() };
}

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function deliveryJson(delivery: DeliveryRecord): z.input<typeof deliverySchema> {
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

  route(router, { method: 'GET', path: '/webhooks', scope: 'read:webhooks', summary: 'List webhooks', response: okWith({ webhooks: z.array(webhookSchema) }) }, async () => {
    return { ...OK, webhooks: (await listWebhooks(db)).map(webhookJson) };
  });

  route(
    router,
    { method: 'POST', path: '/webhooks', scope: 'create:webhooks', summary: 'Create a webhook', body: createBody, response: okWith({ webhook: z.object({ id: z.string(), endpoint: z.string() }) }) },
    async ({ body }) => {
      const webhook = await createWebhook(db, { name: body.name, endpoint: body.endpoint, description: body.description, eventTypes: body.event_types }, rule);
      return { ...OK, webhook: { id: webhook.id, endpoint: webhook.endpoint } };
    },
  );

  route(
    router,
    { method: 'PATCH', path: '/webhooks/:webhook_id', scope: 'update:webhooks', summary: 'Update a webhook', body: updateBody, response: okWith({ webhook: z.object({ id: z.string() }) }) },
    async ({ params, body }) => {
      const webhook = await updateWebhook(db, params.webhook_id, { name: body.name, description: body.description, eventTypes: body.event_types });
      return { ...OK, webhook: { id: webhook.id } };
    },
  );

  route(router, { method: 'DELETE', path: '/webhooks/:webhook_id', scope: 'delete:webhooks', summary: 'Delete a webhook', response: okResponse }, async ({ params }) => {
    await deleteWebhook(db, params.webhook_id);
    return OK;
  });

  // Gatehouse extension: every delivery of this webhook, newest first, with each attempt.
  route(
    router,
    {
      method: 'GET',
      path: '/webhooks/:webhook_id/deliveries',
      scope: 'read:webhooks',
      summary: "List a webhook's deliveries",
      query: deliveriesQuery,
      response: okWith({ deliveries: z.array(deliverySchema), next_token: nextToken }),
    },
    async ({ params, query }) => {
      await requireWebhook(db, params.webhook_id);
      const page = await listDeliveries(db, params.webhook_id, { pageSize: query.page_size, before: query.next_token === undefined ? undefined : Number(query.next_token) });
      return { ...OK, deliveries: page.items.map(deliveryJson), next_token: page.next === undefined ? undefined : String(page.next) };
    },
  );
}
