import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import { DomainError } from '../domain/errors.ts';
import { MessagePage } from '../ui/pages/message.tsx';
import { renderPage } from '../ui/render.ts';
import { isDatabaseUnavailable } from '../store/db.ts';

/** One request id per request, logged with method, path (never the query: it can carry codes) and outcome. */
export function requestLogging(logger: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      ctx.state.log.info(
        { method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(performance.now() - started) },
        'request',
      );
    }
  };
}

/** ctx.state flag: the engine caught a database outage itself and answered 500 (see `noteDatabaseOutages`). */
const DATABASE_UNAVAILABLE = 'gatehouseDatabaseUnavailable';

/**
 * The protocol engine answers its own failures (`server_error`); it reports each one, and those that
 * are a database outage are marked here so the boundary turns them into a 503 like any other.
 */
export function noteDatabaseOutages(provider: Provider): void {
  provider.on('server_error', (ctx: Context, error: unknown) => {
    if (isDatabaseUnavailable(error)) ctx.state[DATABASE_UNAVAILABLE] = true;
  });
}

/** How long a client should wait before trying again while the database is away. */
const RETRY_AFTER_SECONDS = 5;

/** The database is away: 503 with `Retry-After` in the shape the caller expects. Nothing was done. */
function answerUnavailable(ctx: Context): void {
  ctx.status = 503;
  ctx.set('Retry-After', String(RETRY_AFTER_SECONDS));
  const message = 'Gatehouse cannot reach its database just now; try again in a few seconds';
  if (ctx.path.startsWith('/api/')) ctx.body = { errors: [{ code: 'SERVICE_UNAVAILABLE', message }] };
  else if (expectsProtocolJson(ctx)) ctx.body = { error: 'temporarily_unavailable', error_description: message };
  else renderPage(ctx, MessagePage({ title: 'Please try again in a moment', message: 'We cannot sign you in just now. Wait a few seconds, then go back and try again.' }));
}

const expectsProtocolJson = (ctx: Context) => (ctx.path.startsWith('/oauth2/') && ctx.path !== '/oauth2/auth') || ctx.path.startsWith('/account_api/') || ctx.path.startsWith('/.well-known/');

/**
 * The one place an unexpected failure becomes a response: the shape the caller expects (Kinde JSON on
 * the management API, RFC 6749 JSON on protocol endpoints, a page for people), never a stack trace.
 */
export async function errorBoundary(ctx: Context, next: Next): Promise<void> {
  try {
    await next();
    if (ctx.state[DATABASE_UNAVAILABLE]) answerUnavailable(ctx);
  } catch (error) {
    if (isDatabaseUnavailable(error)) {
      (ctx.state.log as Logger | undefined)?.warn({ err: error }, 'database unavailable');
      return answerUnavailable(ctx);
    }
    const status = (error as { status?: number }).status;
    // DomainErrors are the caller's mistake by construction: their message is meant to be shown.
    const expose = (error instanceof DomainError || (error as { expose?: boolean }).expose === true) && typeof status === 'number' && status < 500;
    (ctx.state.log as Logger | undefined)?.error({ err: error }, 'request failed');
    ctx.status = expose ? status! : 500;
    if (ctx.path.startsWith('/api/')) {
      ctx.body = { errors: [{ code: expose ? 'INVALID_REQUEST' : 'INTERNAL_ERROR', message: expose ? (error as Error).message : 'Something went wrong on our side' }] };
    } else if (ctx.path.startsWith('/oauth2/') || ctx.path.startsWith('/account_api/')) {
      ctx.body = { error: expose ? 'invalid_request' : 'server_error', error_description: expose ? (error as Error).message : 'something went wrong on our side' };
    } else {
      const message = expose ? (error as Error).message : 'We could not finish that. Please go back and try again.';
      renderPage(ctx, MessagePage({ title: 'Something went wrong', message }));
    }
  }
}

export function securityHeaders(issuerIsHttps: boolean) {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    ctx.set('X-Content-Type-Options', 'nosniff');
    if (issuerIsHttps) ctx.set('Strict-Transport-Security', 'max-age=31536000');
  };
}
