import { scopedValue } from '../async-scope.ts';

/**
 * What a request's statements read along with the row they were for: the engine reads a code, then
 * its grant, then its session, each with a round trip of its own (on PostgreSQL each one wakes a
 * backend on the server's own cores; issue 13). One statement reads them together, and the reads that
 * follow in the same request find their rows here. Nothing outlives the request, so a row here is as
 * fresh as one the engine would have read a few milliseconds later.
 */
const readsOfThisRequest = scopedValue<Map<symbol, Map<unknown, unknown>>>('rows read along by this request');

/** Runs one request with room for what its statements read along. */
export function withRequestReads<T>(work: () => T): T {
  return readsOfThisRequest.run(new Map(), work);
}

export interface ReadAlong<K, V> {
  remember(key: K, value: V): void;
  /** What this request read for `key`, boxed (`undefined`: nothing read, ask the database). */
  recall(key: K): { value: V } | undefined;
  forget(key: K): void;
  forgetAll(): void;
}

/** One kind of row a request may read along (outside a request, nothing is kept). */
export function readAlong<K, V>(name: string): ReadAlong<K, V> {
  const kind = Symbol(name);
  const rowsOfKind = (create: boolean): Map<K, V> | undefined => {
    const reads = readsOfThisRequest.get();
    let rows = reads?.get(kind) as Map<K, V> | undefined;
    if (!rows && reads && create) reads.set(kind, (rows = new Map()));
    return rows;
  };
  return {
    remember: (key, value) => void rowsOfKind(true)?.set(key, value),
    recall: (key) => {
      const rows = rowsOfKind(false);
      return rows?.has(key) ? { value: rows.get(key) as V } : undefined;
    },
    forget: (key) => void rowsOfKind(false)?.delete(key),
    forgetAll: () => rowsOfKind(false)?.clear(),
  };
}
