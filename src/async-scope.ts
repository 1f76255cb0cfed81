import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * Every value that follows a request through its awaits (who acts, the unit of work, what runs
 * after commit, how many events were recorded) shares one AsyncLocalStorage. Node copies each
 * enabled instance's store onto every promise it creates; each instance cost about 80 ns per promise
 * here, and a token request makes hundreds of promises (issue 13).
 */
const scope = new AsyncLocalStorage<Readonly<Record<symbol, unknown>>>();

export interface ScopedValue<T> {
  /** The value of the innermost `run` around the caller, if any. */
  get(): T | undefined;
  /** Runs `work` with `value` in scope (and every other scoped value as it was). */
  run<R>(value: T, work: () => R): R;
}

export function scopedValue<T>(name: string): ScopedValue<T> {
  const key = Symbol(name);
  return {
    get: () => scope.getStore()?.[key] as T | undefined,
    run: (value, work) => scope.run({ ...scope.getStore(), [key]: value }, work),
  };
}
