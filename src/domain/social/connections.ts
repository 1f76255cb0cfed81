import type { MasterKey } from '../../crypto/master-key.ts';
import type { Db, Tx } from '../../store/db.ts';
import { parseOptions } from '../connection-options.ts';
import { findProviderConnection, type OpenedConnection, type OptionsRules } from '../provider-connections.ts';
import { assertUsableOptions, type SocialOptions, socialOptionsInput } from './options.ts';

/**
 * Social connections (sections 055–069): the rules their options follow when the management API
 * makes and changes them (provider-connections.ts writes them), and how sign-in opens them.
 */

/** What the upstream client needs to talk to the provider: the options opened. */
export type SocialConnection = Pick<OpenedConnection<SocialOptions>, 'id' | 'strategy' | 'isTrusted' | 'options'>;

export const socialOptionsRules: OptionsRules<SocialOptions> = {
  family: 'social',
  parse: (_strategy, given) => parseOptions(socialOptionsInput, given),
  assertUsable: assertUsableOptions,
};

/** The connection with its options opened, for the sign-in round trip and the management API. */
export function findSocialConnection(db: Db | Tx, masterKey: MasterKey, id: string): Promise<OpenedConnection<SocialOptions> | undefined> {
  return findProviderConnection<SocialOptions>(db, masterKey, 'social', id);
}
