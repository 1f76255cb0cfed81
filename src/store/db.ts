import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type SQLite from 'better-sqlite3';
import {
  type ConnectionProvider,
  type ControlledTransaction,
  type Dialect as KyselyDialect,
  type Driver,
  Kysely,
  type KyselyConfig,
  type KyselyPlugin,
  Migrator,
  PostgresAdapter,
  PostgresDialect,
  SqliteDialect,
  Transaction,
} from 'kysely';
import type pg from 'pg';
import { scopedValue } from '../async-scope.ts';
import type { Database } from './schema.ts';
import { migrationProvider } from './migrations.ts';
import { type CheckpointOptions, checkpointInBackground } from './sqlite-checkpoints.ts';
import { cacheGeneration, configurationWatcher, invalidateCaches } from './read-cache.ts';

export type Db = Kysely<Database>;
export type Tx = Transaction<Database>;
export type Dialect = 'sqlite' | 'postgres';

export interface Store {
  db: Db;
  dialect: Dialect;
  close(): Promise<void>;
}

const INT8_OID = 20;

/**
 * Only the driver of the database in use is loaded: pg alone is ~40 ms and 3 MB of a start-up that
 * SQLite never needs. Both drivers are CommonJS, so require() loads one synchronously as the store opens.
 */
const requireDriver = createRequire(import.meta.url);

export interface StoreOptions {
  /**
   * Errors of the connections the store keeps in the background: idle PostgreSQL connections (a
   * restarted server; without a listener they crash the process), SQLite's checkpointing thread.
   */
  onConnectionError?: (error: Error) => void;
  /** How SQLite's log is checkpointed (tests make it small and quick; the defaults suit a server). */
  sqliteCheckpoints?: CheckpointOptions;
}

/** Opens the database named by a `sqlite:<path>` or `postgres://…` URL. */
export function openStore(databaseUrl: string, options: StoreOptions = {}): Store {
  const watcher = configurationWatcher();
  const store = databaseUrl.startsWith('sqlite:')
    ? openSqlite(databaseUrl.slice('sqlite:'.length), watcher.plugin, options)
    : openPostgres(databaseUrl, watcher.plugin, options);
  watcher.attach(store.db);
  return store;
}

/**
 * better-sqlite3 compiles a statement on every prepare(); Kysely prepares each query anew, so the
 * compiled statements are kept by SQL text. Safe because Kysely runs one query at a time on the
 * connection and Gatehouse never streams from SQLite.
 */
function reusingStatements(database: SQLite.Database): SQLite.Database {
  const statements = new Map<string, SQLite.Statement>();
  const prepare = (source: string) => {
    let statement = statements.get(source);
    if (!statement) {
      if (statements.size >= 1000) statements.clear();
      statement = database.prepare(source);
      statements.set(source, statement);
    }
    return statement;
  };
  return new Proxy(database, {
    get(target, property, receiver) {
      if (property === 'prepare') return prepare;
      const value = Reflect.get(target, property, receiver);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Each SQLite store's connection, by its Kysely dialect adapter (which its transactions share). */
const sqliteConnections = new WeakMap<object, SQLite.Database>();

/** The SQLite connection under `db` (undefined on PostgreSQL), for statements run without Kysely (prepared.ts). */
export function sqliteConnectionOf(db: Db | Tx): SQLite.Database | undefined {
  return sqliteConnections.get(db.getExecutor().adapter);
}

function openSqlite(path: string, plugin: KyselyPlugin, options: StoreOptions): Store {
  const inMemory = path === ':memory:';
  if (!inMemory) mkdirSync(dirname(path), { recursive: true });
  const Driver = requireDriver('better-sqlite3') as typeof SQLite;
  const database = new Driver(path);
  database.pragma('journal_mode = WAL');
  database.pragma('synchronous = NORMAL');
  database.pragma('foreign_keys = ON');
  database.pragma('busy_timeout = 5000');
  const checkpoints = inMemory ? undefined : checkpointInBackground(path, database, (error) => options.onConnectionError?.(error), options.sqliteCheckpoints);
  const connection = reusingStatements(database);
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: connection }), plugins: [plugin] });
  sqliteConnections.set(db.getExecutor().adapter, connection);
  return {
    db,
    dialect: 'sqlite',
    async close() {
      // The checkpointing connection closes first: the store's, closing last, folds the log into the file.
      await checkpoints?.stop();
      await db.destroy();
    },
  };
}

function openPostgres(url: string, plugin: KyselyPlugin, options: StoreOptions): Store {
  const { Pool, types } = requireDriver('pg') as typeof pg;
  const pool = new Pool({
    connectionString: url,
    max: 10,
    // pg closes a connection idle for 10 s by default: after any lull that long, the next burst paid
    // for new backends and re-prepared statements (SSO p99 230–374 ms against 55–63 ms with the
    // connections kept, docs/benchmarks.md session 7). Kept for 5 minutes, with TCP keep-alives so a
    // NAT or firewall between replica and database neither drops them silently nor hides a dead one.
    idleTimeoutMillis: 5 * 60_000,
    keepAlive: true,
    keepAliveInitialDelayMillis: 60_000,
    // Idle connections never keep a process alive (a command that is done exits; the server has its port).
    allowExitOnIdle: true,
    // An unreachable server fails the request in 5 s (a 503 the client can retry) instead of holding
    // it until the operating system gives up on the connection.
    connectionTimeoutMillis: 5_000,
    // Epoch-millisecond columns are bigints; they fit in a double for the next 285,000 years.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? Number : types.getTypeParser(oid, format)) as typeof types.getTypeParser,
    },
  });
  pool.on('error', (error) => options.onConnectionError?.(error));
  pool.on('connect', usingNamedStatements);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [plugin] });
  return { db, dialect: 'postgres', close: () => db.destroy() };
}

/** SQL text → the name it is prepared under, on every PostgreSQL connection that runs it. */
/** Whether `db` (a store or a transaction on one) is PostgreSQL. */
export function onPostgres(db: Db | Tx): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

const namedStatements = new Map<string, string>();

/**
 * The hot queries (store/prepared.ts) run as named prepared statements on PostgreSQL: each connection
 * parses one once, then only binds and executes it (the backends share the server's cores with the
 * application). PostgreSQL still plans a statement's first five executions on each connection with
 * their values before it settles on a generic plan: for the claim-set statements that was 15–55 ms
 * of backend time each while a fresh pool warmed up under load (issue 13, session 9). Forcing generic
 * plans (`plan_cache_mode`) would skip that, but it is a session setting and would reach the unnamed
 * statements of searches too, whose plans depend on their values; left as is. Other SQL runs as
 * before, unnamed.
 */
export function prepareOnPostgres(sqlText: string): void {
  if (!namedStatements.has(sqlText)) namedStatements.set(sqlText, `gatehouse_${namedStatements.size + 1}`);
}

function usingNamedStatements(client: pg.PoolClient): void {
  const query = client.query.bind(client) as (...args: unknown[]) => unknown;
  client.query = ((text: unknown, values: unknown, ...rest: unknown[]) => {
    const name = typeof text === 'string' && Array.isArray(values) ? namedStatements.get(text) : undefined;
    return name ? query({ name, text, values }, ...rest) : query(text, values, ...rest);
  }) as typeof client.query;
}

export async function migrateToLatest(db: Db): Promise<string[]> {
  // Migrations are added on parallel branches and numbered as they are planned, so one may land after a
  // higher-numbered one has run; each is independent of the others' order.
  const migrator = new Migrator({ db, provider: migrationProvider, allowUnorderedMigrations: true });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/**
 * Every write that touches more than one row goes through here (DESIGN.md §1). Inside a unit of work
 * (`inUnitOfWork`) it joins that unit's transaction.
 */
export async function inTransaction<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  if (db.isTransaction) return work(db as Tx);
  return withCommitEffects(db, () =>
    db.transaction().execute((tx) => {
      storeOfTransaction.set(tx, db);
      return work(tx);
    }),
  );
}

/** What follows a transaction on `db`: the `afterCommit` listeners once it committed, and the caches kept true. */
async function withCommitEffects<T>(db: Db, transaction: () => Promise<T>): Promise<T> {
  const before = cacheGeneration(db);
  const committed: Array<() => void> = [];
  try {
    const result = await commitListeners.run(committed, transaction);
    for (const listener of committed) listener();
    return result;
  } finally {
    // Configuration written inside: a read may have cached what it replaced before the commit, or what
    // a rollback took back, so forget again now. Sign-ins write no configuration and keep the caches.
    if (cacheGeneration(db) !== before) invalidateCaches(db);
  }
}

const storeOfTransaction = new WeakMap<Tx, Db>();

/** The store a transaction runs on (itself outside one): what `cached` reads are kept for. */
export function storeOf(db: Db | Tx): Db {
  return (db.isTransaction ? storeOfTransaction.get(db as Tx) : undefined) ?? (db as Db);
}

const commitListeners = scopedValue<Array<() => void>>('listeners to run after commit');

/**
 * Runs `listener` once what `db` wrote is visible to others: after the commit of the transaction in
 * progress (dropped if it rolls back), or at once outside one. The outbox uses it to wake the webhook
 * worker only when the event can be read.
 */
export function afterCommit(db: Db | Tx, listener: () => void): void {
  const pending = commitListeners.get();
  if (db.isTransaction && pending) pending.push(listener);
  else setImmediate(listener);
}

/** True for the unique-constraint violation of either dialect. */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return e?.code === '23505' || e?.code === 'SQLITE_CONSTRAINT_UNIQUE' || e?.code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

/** True for a foreign-key violation of either dialect (a referenced row is missing or went away). */
export function isForeignKeyViolation(error: unknown): boolean {
  const e = error as { code?: string };
  return e?.code === '23503' || e?.code === 'SQLITE_CONSTRAINT_FOREIGNKEY';
}

const UNAVAILABLE_NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);
/** PostgreSQL: connection exceptions (08…), shutting down or starting (57P0x), too many connections, not accepting connections. */
const UNAVAILABLE_POSTGRES_CODES = /^(08...|57P0[1-3]|53300|55000|3D000)$/;
const UNAVAILABLE_SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL|READONLY)/;

/**
 * True when the database could not be reached or could not serve right now (as opposed to a query
 * that is wrong): the request gets a 503 with `Retry-After`, and the pool recovers by itself.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (UNAVAILABLE_NETWORK_CODES.has(code) || UNAVAILABLE_POSTGRES_CODES.test(code) || UNAVAILABLE_SQLITE_CODES.test(code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

const currentUnitOfWork = scopedValue<Tx>('the unit of work');

/**
 * A view of `db` whose queries run in the transaction of the unit of work in progress, when there is
 * one (`inUnitOfWork`), and straight on `db` otherwise. Handlers given this view need no transaction
 * of their own to be all-or-nothing with what wraps them (a management write and its audit event).
 */
export function unitOfWorkView(db: Db): Db {
  return new Proxy(db, {
    get(target, property) {
      if (property === OUTSIDE_UNIT_OF_WORK) return target;
      const source = currentUnitOfWork.get() ?? target;
      const value = Reflect.get(source, property, source);
      return typeof value === 'function' ? value.bind(source) : value;
    },
  });
}

const OUTSIDE_UNIT_OF_WORK = Symbol('outside the unit of work');

/**
 * The store itself behind a `unitOfWorkView`: for a read that must not open the unit's transaction,
 * because network work follows it (a SAML metadata fetch needs the connection's URL first).
 */
export function outsideUnitOfWork(db: Db): Db {
  return (db as Db & { [OUTSIDE_UNIT_OF_WORK]?: Db })[OUTSIDE_UNIT_OF_WORK] ?? db;
}

/**
 * Runs `work` in one transaction that every query through a `unitOfWorkView` of `db` joins. The
 * transaction begins with the first query, not before: what a handler does before it touches the
 * database (validate, hash a password, resolve a webhook's host) holds no connection. On SQLite the
 * one connection is every request's, and a transaction keeps it until it ends, so slow work goes
 * before the first query, never between queries.
 */
export function inUnitOfWork<T>(db: Db, work: (tx: Tx) => Promise<T>): Promise<T> {
  return withCommitEffects(db, async () => {
    const unit = transactionOnFirstQuery(db);
    storeOfTransaction.set(unit.tx, db);
    let result: T;
    try {
      result = await currentUnitOfWork.run(unit.tx, () => work(unit.tx));
    } catch (error) {
      await unit.end('rollback');
      throw error;
    }
    await unit.end('commit');
    return result;
  });
}

/**
 * A Transaction whose queries wait for a real one (Kysely's controlled transaction) that the first
 * of them starts; `end` commits or rolls back what was started, and nothing when nothing was.
 */
function transactionOnFirstQuery(db: Db): { tx: Tx; end(how: 'commit' | 'rollback'): Promise<void> } {
  let started: Promise<ControlledTransaction<Database>> | undefined;
  const connections: ConnectionProvider = {
    async provideConnection(consume) {
      started ??= db.startTransaction().execute();
      return (await started).getExecutor().provideConnection(consume);
    },
  };
  const executor = db.getExecutor().withConnectionProvider(connections);
  // Kysely's props: a Transaction only runs queries through its executor (it refuses transaction(),
  // connection() and destroy()), so the driver and dialect are never reached.
  const tx = new Transaction<Database>({ config: {} as KyselyConfig, executor, driver: {} as Driver, dialect: {} as KyselyDialect });
  return {
    tx,
    async end(how) {
      if (!started) return;
      if (how === 'commit') return (await started).commit().execute();
      // A transaction that never began has nothing to take back; its error reached the query that began it.
      const transaction = await started.catch(() => undefined);
      await transaction?.rollback().execute();
    },
  };
}
