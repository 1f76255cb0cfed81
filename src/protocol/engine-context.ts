import type Koa from 'koa';

/**
 * oidc-provider gives each request's context its `oidc` property as an accessor whose getter is a
 * closure made for that request (`ensureOIDC` in its helpers/initialize_app.js, the first step of
 * every engine route). V8 then keeps each request's objects through young-generation collections
 * until the next full one: about 1 MB promoted per scavenge under load, on the bare engine as on
 * Gatehouse, and each scavenge about 3× longer (issue 13; docs/benchmarks.md, session 9). The same
 * accessor with a getter shared by every context, which calls that request's closure kept as a
 * plain property, promotes nothing. (Why V8 keeps them was not established; a test with Koa alone
 * reproduces it, even with a getter that captures nothing.)
 *
 * So, for the engine's router only, and only while it runs synchronously (`ensureOIDC` defines the
 * property before its first await), `Object.defineProperty` turns that one definition into the
 * shared accessor and puts the built-in back at once. Nothing else is changed: any other definition
 * passes straight through, and the built-in is back however `next` returns or throws.
 */
const requestGetter = Symbol('the engine’s getter for this request’s `oidc`');

function sharedOidcGetter(this: Record<symbol, () => unknown>): unknown {
  return this[requestGetter]!();
}

export function engineContextsShareOneAccessor(): Koa.Middleware {
  const define = Object.defineProperty;
  return (ctx, next) => {
    Object.defineProperty = function defineProperty<T>(target: T, key: PropertyKey, descriptor: PropertyDescriptor & ThisType<unknown>): T {
      if (target !== ctx || key !== 'oidc' || typeof descriptor.get !== 'function') return define(target, key, descriptor);
      Object.defineProperty = define;
      define(ctx, requestGetter, { value: descriptor.get });
      return define(target, key, { ...descriptor, get: sharedOidcGetter });
    };
    try {
      return next();
    } finally {
      Object.defineProperty = define;
    }
  };
}
