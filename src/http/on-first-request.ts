import type Koa from 'koa';

/**
 * Middleware built on the first request that reaches it. The management API and the sign-in pages
 * (their routes, pages, zod schemas, MFA and phone code) are then imported only by a server that is
 * asked for them, not by every start-up: most requests a replica serves are tokens and JWKS. A failed
 * import is tried again with the next request.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a router's middleware wants its own context type
type AnyMiddleware = (ctx: any, next: Koa.Next) => Promise<unknown>;

export function builtOnFirstRequest(build: () => Promise<AnyMiddleware>): Koa.Middleware {
  let middleware: Promise<AnyMiddleware> | undefined;
  return async (ctx, next) => {
    middleware ??= build().catch((error: unknown) => {
      middleware = undefined;
      throw error;
    });
    return (await middleware)(ctx, next);
  };
}
