import type { MasterKey } from '../crypto/master-key.ts';
import type { Db } from '../store/db.ts';
import { findConnection } from './connections.ts';
import { enterpriseOptionsRules } from './enterprise/connections.ts';
import { DomainError } from './errors.ts';
import { type ConnectionChange, changeProviderConnection, createProviderConnection, type OptionsRules } from './provider-connections.ts';
import { socialOptionsRules } from './social/connections.ts';
import { strategyNamed } from './strategies.ts';

/** Which family's rules a strategy's options follow; built-in methods have no options to edit. */
function rulesFor(strategy: string): OptionsRules<object> | undefined {
  const family = strategyNamed(strategy)?.family;
  if (family === 'social') return socialOptionsRules as OptionsRules<object>;
  if (family === 'enterprise') return enterpriseOptionsRules as OptionsRules<object>;
  return undefined;
}

/** `POST /connections`: a social or enterprise connection, checked whole. */
export function createConnection(db: Db, masterKey: MasterKey, input: ConnectionChange & { strategy: string }): Promise<{ id: string }> {
  if (!strategyNamed(input.strategy)) throw new DomainError('INVALID_STRATEGY', `Unknown strategy ${input.strategy}`, 400);
  const rules = rulesFor(input.strategy);
  if (!rules) throw new DomainError('STRATEGY_NOT_SUPPORTED', `Connections of strategy ${input.strategy} cannot be created: built-in methods exist once each`, 400);
  return createProviderConnection(db, masterKey, rules, input);
}

/** `PATCH` (merge) and `PUT` (replace) `/connections/{id}`. */
export async function changeConnection(db: Db, masterKey: MasterKey, id: string, change: ConnectionChange, mode: 'merge' | 'replace'): Promise<void> {
  const connection = await findConnection(db, id);
  if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
  const rules = rulesFor(connection.strategy);
  if (!rules) throw new DomainError('CONNECTION_NOT_EDITABLE', 'Built-in sign-in methods are switched on and off per application, not edited', 400);
  await changeProviderConnection(db, masterKey, rules, id, change, mode);
}
