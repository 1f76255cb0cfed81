import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import type SQLite from 'better-sqlite3';
import { type Db, prepareOnPostgres, sqliteConnectionOf, type Tx } from './db.ts';
import { writesConfiguration } from './read-cache.ts';

/** Where each parameter of the compiled SQL comes from: one of the query's named parameters, or a constant of the query. */
type ParameterSource = { name: string } | { constant: unknown };

interface Compiled<Row> {
  query: CompiledQuery<Row>;
  sources: ParameterSource[];
  /** The SQLite connection that runs it without Kysely; none on PostgreSQL, or for a write to configuration (the cache's watcher must see it). */
  sqlite: SQLite.Database | undefined;
}

/** A value no caller passes: what `build` reads in place of each named parameter while the query is compiled. */
const standIn = (name: string) => `\u0000gatehouse:prepared-parameter:${name}\u0000`;

/**
 * A query whose shape never changes (the same SQL whatever the values), built and compiled by Kysely
 * once per dialect instead of on every run: building and compiling was ≈14% of the refresh grant's
 * CPU (issue 13). Each run only puts its values where `build` read its parameters, and executes the
 * SQL through the same executor as any query: it joins the transaction `db` is in.
 *
 * `build` may use its parameters only as values (never in JavaScript conditions, as identifiers, or in
 * `in` lists whose length varies); a parameter it reads that does not reach the SQL is refused.
 */
export function preparedQuery<Params extends object, Row>(build: (db: Db, params: Params) => Compilable<Row>) {
  // Keyed by the dialect adapter: one per store, shared by its transactions.
  const compiledFor = new WeakMap<object, Compiled<Row>>();
  return (db: Db | Tx, params: Params): Promise<QueryResult<Row>> => {
    const adapter = db.getExecutor().adapter;
    let compiled = compiledFor.get(adapter);
    if (!compiled) compiledFor.set(adapter, (compiled = compile(db, build)));
    const parameters = compiled.sources.map((source) => ('name' in source ? (params as Record<string, unknown>)[source.name] : source.constant));
    const { sqlite } = compiled;
    // The connection is free, or in the caller's own transaction: nothing else can run in between.
    if (sqlite && (db.isTransaction || !sqlite.inTransaction)) return runOnSqlite<Row>(sqlite, compiled.query.sql, parameters);
    return db.executeQuery<Row>({ ...compiled.query, parameters });
  };
}

/**
 * What Kysely's SQLite driver does with a compiled query, without its connection queue and result
 * plugins: their ten or so promises, each tracked by AsyncLocalStorage, were 12 of the 18 µs a
 * prepared statement took (issue 13). Kysely queues queries only because a transaction spans awaits;
 * better-sqlite3 runs a statement to completion before anything else runs.
 */
function runOnSqlite<Row>(connection: SQLite.Database, sqlText: string, parameters: readonly unknown[]): Promise<QueryResult<Row>> {
  try {
    const statement = connection.prepare(sqlText);
    if (statement.reader) return Promise.resolve({ rows: statement.all(parameters) as Row[] });
    const { changes, lastInsertRowid } = statement.run(parameters);
    return Promise.resolve({ rows: [], numAffectedRows: BigInt(changes), insertId: BigInt(lastInsertRowid) });
  } catch (error) {
    return Promise.reject(error);
  }
}

function compile<Params extends object, Row>(db: Db | Tx, build: (db: Db, params: Params) => Compilable<Row>): Compiled<Row> {
  const read = new Set<string>();
  const standIns = new Proxy({} as Params, {
    get: (_, name) => {
      if (typeof name !== 'string') return undefined;
      read.add(name);
      return standIn(name);
    },
  });
  const query = build(db as Db, standIns).compile();
  const byStandIn = new Map([...read].map((name) => [standIn(name), name]));
  const sources = query.parameters.map((value): ParameterSource => {
    const name = typeof value === 'string' ? byStandIn.get(value) : undefined;
    return name === undefined ? { constant: value } : { name };
  });
  for (const name of read) {
    if (!sources.some((source) => 'name' in source && source.name === name)) throw new Error(`preparedQuery: parameter ${name} does not reach the SQL of ${query.sql}`);
  }
  prepareOnPostgres(query.sql);
  return { query, sources, sqlite: writesConfiguration(query.query) ? undefined : sqliteConnectionOf(db) };
}
