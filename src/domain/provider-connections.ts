import { clock } from '../clock.ts';
import type { MasterKey } from '../crypto/master-key.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, inTransaction, isUniqueViolation, type Tx } from '../store/db.ts';
import type { ConnectionsTable } from '../store/schema.ts';
import { findConnection } from './connections.ts';
import { mergeOptions } from './connection-options.ts';
import { DomainError } from './errors.ts';
import { type StrategyFamily, strategyNamed } from './strategies.ts';

/**
 * Connections to an outside identity provider (social, sections 055–069; enterprise, 030–043) as the
 * management API makes and changes them. Their options are one JSON document sealed with the master
 * key; every change is checked whole by the family's rules (a connection that could not sign anyone in
 * is refused) and written in one transaction.
 */

/** What one family of connections (social, enterprise) says about its options. */
export interface OptionsRules<Options extends object> {
  family: StrategyFamily;
  /** The options as given (zod), `null` meaning "remove" on PATCH; throws a 400 `DomainError`. */
  parse(strategy: string, given: unknown): Record<string, unknown>;
  /** The whole set after the change, or why no one could sign in through it. */
  assertUsable(strategy: string, options: Options): Promise<void>;
  /** Rows kept beside the options, in the same transaction (e.g. home-realm domains). */
  afterWrite?(tx: Tx, connectionId: string, options: Options): Promise<void>;
}

export interface ConnectionChange {
  name?: string | undefined;
  displayName?: string | undefined;
  /** The applications (client ids) it is on for: the whole set. */
  enabledApplications?: string[] | undefined;
  organizationCode?: string | null | undefined;
  options?: Record<string, unknown> | undefined;
}

/** A connection with its options opened, for a sign-in round trip and the management API. */
export interface OpenedConnection<Options> {
  id: string;
  strategy: string;
  isTrusted: boolean;
  organizationCode: string | null;
  options: Options;
}

const sealContext = (id: string) => `connection-options:${id}`;

export function openOptions<Options>(masterKey: MasterKey, row: Pick<ConnectionsTable, 'id' | 'options_sealed'>): Options {
  return (row.options_sealed ? JSON.parse(masterKey.open(row.options_sealed, sealContext(row.id))) : {}) as Options;
}

async function assertApplicationsExist(tx: Tx, clientIds: readonly string[]): Promise<void> {
  if (clientIds.length === 0) return;
  const found = new Set((await tx.selectFrom('applications').select('id').where('id', 'in', [...clientIds]).execute()).map((row) => row.id));
  const missing = clientIds.find((clientId) => !found.has(clientId));
  if (missing) throw new DomainError('APPLICATION_NOT_FOUND', `enabled_applications: no application with client id ${missing}`, 400);
}

async function assertOrganizationExists(tx: Tx, code: string | null | undefined): Promise<void> {
  if (!code) return;
  const found = await tx.selectFrom('organizations').select('code').where('code', '=', code).executeTakeFirst();
  if (!found) throw new DomainError('ORGANIZATION_NOT_FOUND', `organization_code: no organization ${code}`, 400);
}

async function setEnabledApplications(tx: Tx, connectionId: string, clientIds: readonly string[]): Promise<void> {
  await assertApplicationsExist(tx, clientIds);
  await tx.deleteFrom('application_connections').where('connection_id', '=', connectionId).execute();
  if (clientIds.length === 0) return;
  await tx
    .insertInto('application_connections')
    .values([...new Set(clientIds)].map((applicationId) => ({ application_id: applicationId, connection_id: connectionId })))
    .execute();
}

/** A readable default name, unique: `oauth2-google`, then `oauth2-google-<8 hex>`. */
async function defaultName(tx: Tx, strategy: string, id: string): Promise<string> {
  const base = strategy.replace(':', '-');
  const taken = await tx.selectFrom('connections').select('id').where('name', '=', base).executeTakeFirst();
  return taken ? `${base}-${id.slice(5, 13)}` : base;
}

function nameTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new DomainError('CONNECTION_NAME_EXISTS', 'Another connection already has this name', 409);
  throw error;
}

const isTrustedGiven = (given: Record<string, unknown>): boolean | undefined => (typeof given.is_trusted === 'boolean' ? given.is_trusted : undefined);

export async function createProviderConnection<Options extends object>(
  db: Db,
  masterKey: MasterKey,
  rules: OptionsRules<Options>,
  input: ConnectionChange & { strategy: string },
): Promise<{ id: string }> {
  const strategy = strategyNamed(input.strategy)!;
  const given = rules.parse(strategy.name, input.options);
  const options = mergeOptions({} as Options, given);
  await rules.assertUsable(strategy.name, options);
  const id = newId.connection();
  return inTransaction(db, async (tx) => {
    await assertOrganizationExists(tx, input.organizationCode);
    await tx
      .insertInto('connections')
      .values({
        id,
        strategy: strategy.name,
        name: input.name ?? (await defaultName(tx, strategy.name, id)),
        display_name: input.displayName ?? strategy.displayName,
        created_at: clock.now(),
        options_sealed: masterKey.seal(JSON.stringify(options), sealContext(id)),
        is_trusted: isTrustedGiven(given) ? 1 : 0,
        organization_code: input.organizationCode ?? null,
      })
      .execute()
      .catch(nameTaken);
    await setEnabledApplications(tx, id, input.enabledApplications ?? []);
    await rules.afterWrite?.(tx, id, options);
    return { id };
  });
}

/**
 * PATCH (`merge`): what is given replaces what was, options key by key (a secret left out stays).
 * PUT (`replace`): the options are exactly those given, so secrets must be given again.
 */
export async function changeProviderConnection<Options extends object>(
  db: Db,
  masterKey: MasterKey,
  rules: OptionsRules<Options>,
  id: string,
  change: ConnectionChange,
  mode: 'merge' | 'replace',
): Promise<void> {
  await inTransaction(db, async (tx) => {
    const current = await tx.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
    if (!current) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    const given = rules.parse(current.strategy, change.options);
    const options = mergeOptions(mode === 'merge' ? openOptions<Options>(masterKey, current) : ({} as Options), given);
    await rules.assertUsable(current.strategy, options);
    await assertOrganizationExists(tx, change.organizationCode);
    const isTrusted = isTrustedGiven(given) ?? (mode === 'merge' ? current.is_trusted === 1 : false);
    await tx
      .updateTable('connections')
      .set({
        name: change.name ?? current.name,
        display_name: change.displayName ?? current.display_name,
        options_sealed: masterKey.seal(JSON.stringify(options), sealContext(current.id)),
        is_trusted: isTrusted ? 1 : 0,
        ...(change.organizationCode !== undefined ? { organization_code: change.organizationCode } : {}),
      })
      .where('id', '=', current.id)
      .execute()
      .catch(nameTaken);
    if (change.enabledApplications !== undefined) await setEnabledApplications(tx, current.id, change.enabledApplications);
    await rules.afterWrite?.(tx, current.id, options);
  });
}

/** The connection of this family with its options opened. */
export async function findProviderConnection<Options>(db: Db | Tx, masterKey: MasterKey, family: StrategyFamily, id: string): Promise<OpenedConnection<Options> | undefined> {
  const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || strategyNamed(row.strategy)?.family !== family) return undefined;
  return { id: row.id, strategy: row.strategy, isTrusted: row.is_trusted === 1, organizationCode: row.organization_code, options: openOptions<Options>(masterKey, row) };
}

/** Built-in methods are permanent (every application's sign-in rests on them); anything else may go. */
export async function deleteConnection(db: Db, id: string): Promise<void> {
  const connection = await findConnection(db, id);
  if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
  if (strategyNamed(connection.strategy)?.identityType !== undefined) {
    throw new DomainError('CONNECTION_NOT_DELETABLE', 'Built-in sign-in methods cannot be deleted; switch them off per application instead', 400);
  }
  await inTransaction(db, async (tx) => {
    // The identities people had through it go with it: left behind, a provider subject would stay
    // claimed by a connection that no longer exists (identities.connection_id has no foreign key).
    await tx.deleteFrom('identities').where('connection_id', '=', id).where('type', '=', connection.strategy).execute();
    await tx.deleteFrom('connections').where('id', '=', id).execute();
  });
}

/** The client ids a connection is on for. */
export async function connectionApplications(db: Db | Tx, id: string): Promise<string[]> {
  const rows = await db.selectFrom('application_connections').select('application_id').where('connection_id', '=', id).orderBy('application_id').execute();
  return rows.map((row) => row.application_id);
}
