import type Koa from 'koa';
import compose from 'koa-compose';

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- routers' and the engine's middleware want their own context types
type Step = (ctx: any, next: Koa.Next) => unknown;

/**
 * Gatehouse's steps around each engine endpoint, listed per endpoint in the order they run (as
 * node-oidc-provider lists an endpoint's steps): a request runs only its own endpoint's steps,
 * instead of passing through every step and each checking `ctx.path` for itself (STYLE.md; on the
 * token endpoint that was a dozen extra async frames per request, issue 13).
 */
export function stepsByEndpoint(endpoints: Record<string, Step[]>): Koa.Middleware {
  const chains = new Map(Object.entries(endpoints).map(([path, steps]) => [path, compose(steps as Koa.Middleware[])]));
  return (ctx, next) => {
    const chain = chains.get(ctx.path);
    return chain ? chain(ctx, next) : next();
  };
}

/**
 * Each area (a router mounted under a path prefix) sees only the requests under its prefix; the
 * engine's hot endpoints (token, JWKS) skip them all with a few string comparisons. The prefixes must
 * not overlap: the first that matches owns the request.
 */
export function areasByPrefix(areas: ReadonlyArray<readonly [prefix: string, Step]>): Koa.Middleware {
  for (const [prefix] of areas) {
    const overlapping = areas.find(([other]) => other !== prefix && other.startsWith(prefix));
    if (overlapping) throw new Error(`areasByPrefix: ${overlapping[0]} is inside ${prefix}`);
  }
  return (ctx, next) => {
    const path = ctx.path;
    for (const [prefix, area] of areas) if (path.startsWith(prefix)) return area(ctx, next) as Promise<unknown>;
    return next();
  };
}

/** A router whose routes are all fixed paths, consulted only for those paths. */
export function onlyItsPaths(router: { stack: ReadonlyArray<{ path: string | RegExp }>; routes(): Step }): Koa.Middleware {
  const paths = new Set(router.stack.map((layer) => layer.path));
  for (const path of paths) {
    if (typeof path !== 'string' || /[:*{(]/.test(path)) throw new Error(`onlyItsPaths: ${String(path)} is not a fixed path`);
  }
  const routes = router.routes();
  return (ctx, next) => (paths.has(ctx.path) ? (routes(ctx, next) as Promise<unknown>) : next());
}
