import type { Context, Next } from 'koa';
import { isAuthorizedForManagementApi, managementAudience } from '../domain/apis.ts';
import { recordAudit } from '../domain/audit.ts';
import { DomainError } from '../domain/errors.ts';
import { eventContext } from '../domain/events/context.ts';
import { countingEvents } from '../domain/events/outbox.ts';
import { challenge } from '../protocol/access-token-authentication.ts';
import type { Services } from '../services.ts';
import { inUnitOfWork } from '../store/db.ts';
import { kindeError } from './kinde-error.ts';
import { tokenScopes } from './scopes.ts';
import { kindeEventsOf } from './write-events.ts';

const MANAGEMENT_PREFIX = '/api/v1';


/**
 * A client-credentials access token for this issuer's management audience: a Bearer token, or with
 * its proof when DPoP-bound (403 otherwise, as Kinde answers).
 */
export function managementAuth(services: Services) {
  const audience = managementAudience(services.config.issuer);
  return async (ctx: Context, next: Next): Promise<void> => {
    const { token: claims, refusal } = await services.authenticateAccessToken(ctx, audience);
    // RFC 9449 §7.1: a proof-of-possession failure is a 401 challenge; otherwise 403, as Kinde answers.
    if (refusal?.scheme === 'DPoP') {
      ctx.set('WWW-Authenticate', challenge(refusal));
      return kindeError(ctx, 401, 'UNAUTHORIZED', refusal.description);
    }
    const client = claims?.gty?.includes('client_credentials') ? claims.azp : undefined;
    if (!client || !(await isAuthorizedForManagementApi(services.db, client))) {
      return kindeError(ctx, 403, 'UNAUTHORIZED', 'A valid management API access token is required');
    }
    ctx.state.managementClient = client;
    const context = eventContext();
    if (context) context.actor = client;
    ctx.state.managementScopes = tokenScopes(claims ?? {});
    ctx.set('Cache-Control', 'no-store');
    try {
      await (WRITE_METHODS.has(ctx.method) ? auditedWrite(services, ctx, client, next) : next());
    } catch (error) {
      if (error instanceof RefusedWrite) return;
      if (error instanceof DomainError) return kindeError(ctx, error.status, error.code, error.message);
      throw error;
    }
  };
}

const WRITE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Thrown to roll a write back when its handler answered with an error instead of throwing one. */
class RefusedWrite extends Error {}

/**
 * A management write and the events that say who (the application) did what to which resource
 * commit together or not at all (DESIGN.md §5b): the route's handlers query through a unit-of-work
 * view of the database (router.ts), so everything they write is in this one transaction. A write
 * Kinde has events for records those (write-events.ts); one whose domain code recorded its own
 * Gatehouse event (catalogue.ts) keeps that; any other records `management_api.write`.
 */
async function auditedWrite(services: Services, ctx: Context, client: string, next: Next): Promise<void> {
  await inUnitOfWork(services.db, async (tx) => {
    const { recorded } = await countingEvents(() => next());
    if (ctx.status >= 400) throw new RefusedWrite();
    const params = (ctx.params ?? {}) as Record<string, string>;
    const matched = (ctx as { _matchedRoute?: string })._matchedRoute ?? ctx.path;
    const route = matched.startsWith(MANAGEMENT_PREFIX) ? matched.slice(MANAGEMENT_PREFIX.length) : matched;
    const detail = { method: ctx.method, route: matched, status: ctx.status };
    const common = { actor: client, source: 'api' as const, address: ctx.ip };
    const kindeEvents = await kindeEventsOf(tx, ctx.method, route, { params, query: ctx.query, body: ctx.body });
    for (const event of kindeEvents) await recordAudit(tx, { ...common, ...event, detail });
    if (kindeEvents.length > 0 || recorded > 0) return;
    await recordAudit(tx, {
      ...common,
      type: 'management_api.write',
      subject: resourceOf(params, ctx.body),
      data: { ...detail, params, address: ctx.ip },
    });
  });
}

/** The resource a write acted on: the route's innermost parameter, else the id of what it created. */
function resourceOf(params: Record<string, string>, body: unknown): string | null {
  const named = Object.values(params).at(-1);
  if (named) return named;
  const created = Object.values((body ?? {}) as Record<string, unknown>).find((value) => typeof value === 'object' && value !== null && ('id' in value || 'code' in value)) as
    | { id?: unknown; code?: unknown }
    | undefined;
  const id = created?.code ?? created?.id ?? (body as { id?: unknown } | undefined)?.id;
  return typeof id === 'string' ? id : null;
}

export function notFound(ctx: Context): void {
  kindeError(ctx, 404, 'ROUTE_NOT_FOUND', 'The requested API route does not exist');
}
