import { clock } from '../../clock.ts';
import type { MasterKey } from '../../crypto/master-key.ts';
import { newId } from '../../crypto/ids.ts';
import { type Db, inTransaction, isUniqueViolation, type Tx } from '../../store/db.ts';
import { findConnection } from '../connections.ts';
import { DomainError } from '../errors.ts';
import { strategyNamed } from '../strategies.ts';
import { assertUsableOptions, mergeOptions, optionsFrom, type SocialOptions, type SocialOptionsInput } from './options.ts';

/**
 * Social connections as the management API makes and changes them (sections 055–069). Their options
 * are one JSON document sealed with the master key; every change is checked whole (a connection that
 * could not sign anyone in is refused) and written in one transaction.
 */

/** What the upstream client needs to talk to the provider: the options opened. */
export interface SocialConnection {
  id: string;
  strategy: string;
  isTrusted: boolean;
  options: SocialOptions;
}

export interface ConnectionChange {
  name?: string | undefined;
  displayName?: string | undefined;
  /** The applications (client ids) it is on for: the whole set. */
  enabledApplications?: string[] | undefined;
  organizationCode?: string | null | undefined;
  options?: SocialOptionsInput | undefined;
}

const sealContext = (id: string) => `connection-options:${id}`;

function openOptions(masterKey: MasterKey, row: { id: string; options_sealed: string | null }): SocialOptions {
  return row.options_sealed ? (JSON.parse(masterKey.open(row.options_sealed, sealContext(row.id))) as SocialOptions) : {};
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

export async function createSocialConnection(db: Db, masterKey: MasterKey, input: ConnectionChange & { strategy: string }): Promise<{ id: string }> {
  const strategy = strategyNamed(input.strategy);
  if (!strategy) throw new DomainError('INVALID_STRATEGY', `Unknown strategy ${input.strategy}`, 400);
  if (strategy.family !== 'social') throw new DomainError('STRATEGY_NOT_SUPPORTED', `Connections of strategy ${input.strategy} cannot be created yet: social connections can`, 400);
  const options = optionsFrom(input.options ?? {});
  await assertUsableOptions(strategy.name, options);
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
        is_trusted: input.options?.is_trusted ? 1 : 0,
        organization_code: input.organizationCode ?? null,
      })
      .execute()
      .catch(nameTaken);
    await setEnabledApplications(tx, id, input.enabledApplications ?? []);
    return { id };
  });
}

/**
 * PATCH (`merge`): what is given replaces what was, options key by key (a secret left out stays).
 * PUT (`replace`): the options are exactly those given, so secrets must be given again.
 */
export async function changeSocialConnection(db: Db, masterKey: MasterKey, id: string, change: ConnectionChange, mode: 'merge' | 'replace'): Promise<void> {
  await inTransaction(db, async (tx) => {
    const row = await tx.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    if (strategyNamed(row.strategy)?.family !== 'social') {
      throw new DomainError('CONNECTION_NOT_EDITABLE', 'Built-in sign-in methods are switched on and off per application, not edited', 400);
    }
    const given = change.options ?? {};
    const options = mode === 'merge' ? mergeOptions(openOptions(masterKey, row), given) : optionsFrom(given);
    await assertUsableOptions(row.strategy, options);
    await assertOrganizationExists(tx, change.organizationCode);
    const isTrusted = given.is_trusted ?? (mode === 'merge' ? row.is_trusted === 1 : false);
    await tx
      .updateTable('connections')
      .set({
        name: change.name ?? row.name,
        display_name: change.displayName ?? row.display_name,
        options_sealed: masterKey.seal(JSON.stringify(options), sealContext(id)),
        is_trusted: isTrusted ? 1 : 0,
        ...(change.organizationCode !== undefined ? { organization_code: change.organizationCode } : {}),
      })
      .where('id', '=', id)
      .execute()
      .catch(nameTaken);
    if (change.enabledApplications !== undefined) await setEnabledApplications(tx, id, change.enabledApplications);
  });
}

/** Built-in methods are permanent (every application's sign-in rests on them); anything else may go. */
export async function deleteConnection(db: Db, id: string): Promise<void> {
  const connection = await findConnection(db, id);
  if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
  if (strategyNamed(connection.strategy)?.identityType !== undefined) {
    throw new DomainError('CONNECTION_NOT_DELETABLE', 'Built-in sign-in methods cannot be deleted; switch them off per application instead', 400);
  }
  await db.deleteFrom('connections').where('id', '=', id).execute();
}

/** The connection with its options opened, for the sign-in round trip and the management API. */
export async function findSocialConnection(db: Db | Tx, masterKey: MasterKey, id: string): Promise<(SocialConnection & { organizationCode: string | null }) | undefined> {
  const row = await db.selectFrom('connections').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row || strategyNamed(row.strategy)?.family !== 'social') return undefined;
  return { id: row.id, strategy: row.strategy, isTrusted: row.is_trusted === 1, organizationCode: row.organization_code, options: openOptions(masterKey, row) };
}

/** The client ids a connection is on for. */
export async function connectionApplications(db: Db | Tx, id: string): Promise<string[]> {
  const rows = await db.selectFrom('application_connections').select('application_id').where('connection_id', '=', id).orderBy('application_id').execute();
  return rows.map((row) => row.application_id);
}
