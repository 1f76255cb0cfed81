import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { clock } from '../../clock.ts';
import { newId } from '../../crypto/ids.ts';
import { addressProblem, issuerOnLoopback } from '../../http/outbound.ts';
import type { Db } from '../../store/db.ts';
import type { WebhooksTable } from '../../store/schema.ts';
import { assertThat, DomainError } from '../errors.ts';
import { WEBHOOK_EVENT_TYPES } from '../events/catalogue.ts';

export interface Webhook {
  id: string;
  name: string;
  endpoint: string;
  description: string | null;
  eventTypes: string[];
  createdAt: number;
}

/** Where webhooks may point: the issuer and the private-network switch decide (issue 14, "Safety"). */
export interface EndpointRule {
  issuer: string;
  /** GATEHOUSE_ALLOW_PRIVATE_NETWORK, or the issuer on loopback. */
  allowPrivateNetwork: boolean;
}

const toWebhook = (row: WebhooksTable): Webhook => ({
  id: row.id,
  name: row.name,
  endpoint: row.endpoint,
  description: row.description,
  eventTypes: JSON.parse(row.event_types) as string[],
  createdAt: row.created_at,
});

/**
 * A receiver must be https (plain http only while the issuer itself is on loopback) and must not be
 * on the private network unless allowed: checked here for a clear answer, and again at every delivery
 * after DNS resolution (a name re-pointed after this check is refused then).
 */
export async function checkEndpoint(endpoint: string, rule: EndpointRule): Promise<void> {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new DomainError('INVALID_ENDPOINT', 'endpoint must be an absolute URL', 400);
  }
  const plainHttpAllowed = issuerOnLoopback(rule.issuer);
  assertThat(url.protocol === 'https:' || (plainHttpAllowed && url.protocol === 'http:'), 'INVALID_ENDPOINT', 'endpoint must be an https:// URL');
  assertThat(!url.username && !url.password, 'INVALID_ENDPOINT', 'endpoint must not carry credentials');
  if (rule.allowPrivateNetwork) return;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addresses = isIP(host) ? [host] : await resolveBriefly(host);
  const problem = addresses.map((address) => addressProblem(address, { allowPrivateNetwork: false })).find(Boolean);
  if (problem || host === 'localhost') throw new DomainError('INVALID_ENDPOINT', `endpoint must be on the public internet (${problem ?? 'localhost'})`, 400);
}

/** The management write waits on this (in its transaction): a slow resolver gets 2 s, then delivery's own check decides. */
function resolveBriefly(host: string): Promise<string[]> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string[]>((resolve) => (timer = setTimeout(() => resolve([]), 2_000)));
  const resolved = lookup(host, { all: true }).then((found) => found.map((entry) => entry.address), () => []);
  return Promise.race([resolved, timeout]).finally(() => clearTimeout(timer));
}

function checkEventTypes(eventTypes: readonly string[]): void {
  const unknown = eventTypes.filter((type) => !WEBHOOK_EVENT_TYPES.has(type));
  assertThat(unknown.length === 0, 'INVALID_EVENT_TYPE', `Unknown event types: ${unknown.join(', ')} (GET /api/v1/event_types lists them)`);
  assertThat(eventTypes.length > 0, 'INVALID_EVENT_TYPE', 'event_types must name at least one event type');
}

export interface NewWebhook {
  name: string;
  endpoint: string;
  description?: string | null | undefined;
  eventTypes: string[];
}

export async function createWebhook(db: Db, input: NewWebhook, rule: EndpointRule): Promise<Webhook> {
  checkEventTypes(input.eventTypes);
  await checkEndpoint(input.endpoint, rule);
  const row: WebhooksTable = {
    id: newId.webhook(),
    name: input.name,
    endpoint: input.endpoint,
    description: input.description ?? null,
    event_types: JSON.stringify([...new Set(input.eventTypes)]),
    created_at: clock.now(),
  };
  await db.insertInto('webhooks').values(row).execute();
  return toWebhook(row);
}

export async function listWebhooks(db: Db): Promise<Webhook[]> {
  const rows = await db.selectFrom('webhooks').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toWebhook);
}

export async function requireWebhook(db: Db, id: string): Promise<Webhook> {
  const row = await db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new DomainError('WEBHOOK_NOT_FOUND', 'Webhook not found', 404);
  return toWebhook(row);
}

export interface WebhookPatch {
  name?: string | undefined;
  description?: string | null | undefined;
  eventTypes?: string[] | undefined;
}

export async function updateWebhook(db: Db, id: string, patch: WebhookPatch): Promise<Webhook> {
  await requireWebhook(db, id);
  if (patch.eventTypes) checkEventTypes(patch.eventTypes);
  const changes = {
    ...(patch.name === undefined ? {} : { name: patch.name }),
    ...(patch.description === undefined ? {} : { description: patch.description }),
    ...(patch.eventTypes === undefined ? {} : { event_types: JSON.stringify([...new Set(patch.eventTypes)]) }),
  };
  if (Object.keys(changes).length > 0) await db.updateTable('webhooks').set(changes).where('id', '=', id).execute();
  return requireWebhook(db, id);
}

/** Its pending deliveries go with it (the schema cascades): nobody is listening any more. */
export async function deleteWebhook(db: Db, id: string): Promise<void> {
  const deleted = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
  if (deleted.numDeletedRows === 0n) throw new DomainError('WEBHOOK_NOT_FOUND', 'Webhook not found', 404);
}
