import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, inTransaction, storeOf, type Tx } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';
import { lockApplication } from './applications.ts';
import { assertThat, DomainError } from './errors.ts';
import { BUILT_IN_STRATEGIES } from './strategies.ts';

/**
 * Built-in sign-in methods are connections like any other (DESIGN.md §3): each has its own `conn_` id,
 * is switched on per application, and is routed by the same code.
 */
export const BUILT_IN_CONNECTIONS = BUILT_IN_STRATEGIES.map((strategy) => ({ strategy: strategy.name, name: strategy.name.replace(':', '-'), display_name: strategy.displayName }));

/** Section 015: an application offers email with a password or with a code, never both. */
const MUTUALLY_EXCLUSIVE = [['email:password', 'email:otp']] as const;

export interface Connection {
  id: string;
  strategy: string;
  name: string;
  displayName: string;
  /** The organization that manages it (Kinde's `organization_code`): only sign-ins to it offer the connection. */
  organizationCode: string | null;
}

const toConnection = (row: { id: string; strategy: string; name: string; display_name: string; organization_code: string | null }): Connection => ({
  id: row.id,
  strategy: row.strategy,
  name: row.name,
  displayName: row.display_name,
  organizationCode: row.organization_code,
});

/** An organization's own connection is never offered to people signing in elsewhere (another customer's button). */
export function servesOrganization(connection: Connection, organizationCode: string | undefined): boolean {
  return connection.organizationCode === null || connection.organizationCode === organizationCode;
}

/** Idempotent across replicas: a built-in is created once, by whichever process gets there first. */
export async function ensureBuiltInConnections(db: Db): Promise<void> {
  const existing = new Set((await db.selectFrom('connections').select('strategy').execute()).map((r) => r.strategy));
  for (const builtIn of BUILT_IN_CONNECTIONS) {
    if (existing.has(builtIn.strategy)) continue;
    await db
      .insertInto('connections')
      .values({ id: newId.connection(), ...builtIn, created_at: clock.now() })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }
}

export async function listConnections(db: Db | Tx): Promise<Connection[]> {
  const rows = await db.selectFrom('connections').selectAll().orderBy('created_at').orderBy('id').execute();
  return rows.map(toConnection);
}

export async function findConnection(db: Db | Tx, id: string): Promise<Connection | undefined> {
  const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toConnection(row);
}

/** A connection as a sign-in reads it (MFA's exempt enterprise connections): through the configuration cache; do not mutate. */
export function connectionForSignIn(db: Db | Tx, id: string): Promise<Connection | undefined> {
  // Kept for the store, read through `db`: inside a transaction on SQLite the store's one connection is the transaction's.
  return cached(storeOf(db), 'connection', id, () => findConnection(db, id));
}

export async function applicationConnections(db: Db | Tx, applicationId: string): Promise<Connection[]> {
  const rows = await db
    .selectFrom('application_connections')
    .innerJoin('connections', 'connections.id', 'application_connections.connection_id')
    .select(['connections.id', 'connections.strategy', 'connections.name', 'connections.display_name', 'connections.organization_code'])
    .where('application_connections.application_id', '=', applicationId)
    .orderBy('connections.created_at')
    .execute();
  return rows.map(toConnection);
}

/** The application's connections as the sign-in pages read them: through the configuration cache; do not mutate. */
export function enabledConnections(db: Db, applicationId: string): Promise<Connection[]> {
  return cached(db, 'application-connections', applicationId, () => applicationConnections(db, applicationId));
}

/** Which strategies would conflict with turning `strategy` on next to `enabled`. */
export function conflictingStrategy(strategy: string, enabled: readonly string[]): string | undefined {
  for (const group of MUTUALLY_EXCLUSIVE) {
    if (!(group as readonly string[]).includes(strategy)) continue;
    const clash = enabled.find((other) => other !== strategy && (group as readonly string[]).includes(other));
    if (clash) return clash;
  }
  return undefined;
}

export async function enableConnection(db: Db, applicationId: string, connectionId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    await lockApplication(tx, applicationId);
    const connection = await findConnection(tx, connectionId);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    const enabled = await applicationConnections(tx, applicationId);
    const clash = conflictingStrategy(connection.strategy, enabled.map((c) => c.strategy));
    assertThat(
      clash === undefined,
      'CONNECTION_CONFLICT',
      `Email + password and email + code cannot both be on for one application: turn ${clash} off first`,
    );
    await tx
      .insertInto('application_connections')
      .values({ application_id: applicationId, connection_id: connectionId })
      .onConflict((oc) => oc.doNothing())
      .execute();
  });
}

export async function disableConnection(db: Db, applicationId: string, connectionId: string): Promise<void> {
  const result = await db
    .deleteFrom('application_connections')
    .where('application_id', '=', applicationId)
    .where('connection_id', '=', connectionId)
    .executeTakeFirst();
  if (result.numDeletedRows === 0n) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection is not enabled for this application', 404);
}
