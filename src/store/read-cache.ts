import { AliasNode, TableNode } from 'kysely';
import type { KyselyPlugin, OperationNode, PluginTransformQueryArgs, PluginTransformResultArgs, QueryResult, RootOperationNode, UnknownRow } from 'kysely';

/**
 * Configuration (applications, APIs, connections, organizations, webhooks) is read on every token
 * request or sign-in and changes rarely, so hot paths read it through short-lived caches. Any write to
 * a configuration table through this process empties them at once; other replicas see a change within
 * CACHE_TTL_MS.
 */
export const CACHE_TTL_MS = 5_000;

const CONFIGURATION_TABLES = new Set(['settings', 'applications', 'connections', 'application_connections', 'apis', 'api_scopes', 'api_applications', 'api_application_scopes', 'webhooks', 'organizations']);

interface Generation {
  value: number;
}

const generations = new WeakMap<object, Generation>();
const caches = new WeakMap<object, Map<string, Map<string, Entry<unknown>>>>();

interface Entry<V> {
  value: Promise<V>;
  generation: number;
  expiresAt: number;
}

/** Whether running the query empties the configuration caches (see `configurationWatcher`). */
export function writesConfiguration(node: RootOperationNode): boolean {
  const table = writtenTable(node);
  return table !== undefined && CONFIGURATION_TABLES.has(table);
}

function writtenTable(node: RootOperationNode): string | undefined {
  const target: OperationNode | undefined =
    node.kind === 'InsertQueryNode' ? node.into : node.kind === 'UpdateQueryNode' ? node.table : node.kind === 'DeleteQueryNode' ? node.from.froms[0] : undefined;
  if (!target) return undefined;
  const table = AliasNode.is(target) ? target.node : target;
  return TableNode.is(table) ? table.table.identifier.name : undefined;
}

/**
 * A Kysely plugin that moves a store's generation on every write to a configuration table; `attach`
 * binds that generation to the Kysely instance the plugin was given to.
 */
export function configurationWatcher(): { plugin: KyselyPlugin; attach(db: object): void } {
  const generation: Generation = { value: 0 };
  const touched = new WeakSet<object>();
  const plugin: KyselyPlugin = {
    transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
      if (writesConfiguration(args.node)) {
        generation.value++;
        touched.add(args.queryId);
      }
      return args.node;
    },
    async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
      // Again once written: a read that raced the write must not keep its answer.
      if (touched.has(args.queryId)) generation.value++;
      return args.result;
    },
  };
  return { plugin, attach: (db) => generations.set(db, generation) };
}

/** Moves on each time configuration is written through this store (undefined: not cached at all). */
export function cacheGeneration(owner: object): number | undefined {
  return generations.get(owner)?.value;
}

/** Forget cached configuration now (a transaction that wrote some has just committed). */
export function invalidateCaches(owner: object): void {
  const generation = generations.get(owner);
  if (generation) generation.value++;
}

export function cached<V>(owner: object, cacheName: string, key: string, load: () => Promise<V>): Promise<V> {
  const generation = generations.get(owner);
  if (!generation) return load();
  let byName = caches.get(owner);
  if (!byName) caches.set(owner, (byName = new Map()));
  let cache = byName.get(cacheName) as Map<string, Entry<V>> | undefined;
  if (!cache) byName.set(cacheName, (cache = new Map()));
  const now = performance.now();
  const hit = cache.get(key);
  if (hit && hit.generation === generation.value && hit.expiresAt > now) return hit.value;
  const entry: Entry<V> = { value: load(), generation: generation.value, expiresAt: now + CACHE_TTL_MS };
  entry.value.catch(() => cache.delete(key));
  if (cache.size >= 10_000) cache.clear();
  cache.set(key, entry);
  return entry.value;
}
