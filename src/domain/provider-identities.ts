import { newId } from '../crypto/ids.ts';
import type { IdentitiesTable } from '../store/schema.ts';

/**
 * A person at an outside identity provider (a social or enterprise connection), as Gatehouse keys
 * them: a row of `identities` whose type is the connection's strategy and whose normalized value is
 * `<connection id>:<subject>`, so the unique (type, normalized value) index keeps one user per
 * provider person. Social (social/identities.ts), enterprise (enterprise/identities.ts) and approved
 * access requests (access-requests.ts) write it the same way.
 */
export interface ProviderIdentity {
  connectionId: string;
  /** The provider's stable id for the person. */
  subject: string;
  /** What the identity is shown as: the provider's email, username, or the subject. */
  label: string;
}

export const providerIdentityKey = (connectionId: string, subject: string) => `${connectionId}:${subject}`;

export function providerIdentityRow(userId: string, strategy: string, identity: ProviderIdentity, createdAt: number): IdentitiesTable {
  return {
    id: newId.identity(),
    user_id: userId,
    type: strategy,
    value: identity.label,
    normalized_value: providerIdentityKey(identity.connectionId, identity.subject),
    is_verified: 1,
    // One identity per (connection, subject); a user with two Google accounts has two, neither "the" primary login.
    is_primary: 0,
    connection_id: identity.connectionId,
    total_logins: 0,
    last_login_at: null,
    created_at: createdAt,
  };
}
