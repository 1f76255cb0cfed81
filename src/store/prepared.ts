import type { Compilable, CompiledQuery, QueryResult } from 'kysely';
import { type Db, prepareOnPostgres, type Tx } from './db.ts';

/** Where each parameter of the compiled SQL comes from: one of the query's named parameters, or a constant of the query. */
type ParameterSource = { name: string } | { constant: unknown };

interface Compiled<Row> {
  query: CompiledQuery<Row>;
  sources: ParameterSource[];
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
    return db.executeQuery<Row>({ ...compiled.query, parameters });
  };
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
  return { query, sources };
}
