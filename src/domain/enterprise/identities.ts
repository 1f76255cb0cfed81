import { clock } from '../../clock.ts';
import { newId } from '../../crypto/ids.ts';
import { type Db, inTransaction, isUniqueViolation, type Tx } from '../../store/db.ts';
import type { IdentitiesTable } from '../../store/schema.ts';
import { membershipData, userData, userDataById } from '../events/payloads.ts';
import { recordAudit } from '../audit.ts';
import { DomainError } from '../errors.ts';
import { providerIdentityKey, providerIdentityRow } from '../provider-identities.ts';
import { addMember } from '../organizations.ts';
import { emailOwner } from '../social/identities.ts';
import { isEnterpriseStrategy } from '../strategies.ts';
import { createUser, findUser, type User } from '../users.ts';
import type { EnterpriseConnection } from './connections.ts';
import { enterpriseProtocol } from './options.ts';
import type { EnterpriseProfile } from './profile.ts';
import { autoJoinOrganization, type ProvisioningFacts } from './rules.ts';

/**
 * Enterprise identities (sections 007, 042). Like a social identity, a row of `identities` whose type
 * is the connection's strategy and whose normalized value is `<connection id>:<subject>`, so the
 * unique (type, normalized value) index keeps one user per IdP person. A pre-provisioned identity
 * (`POST /users/{id}/identities` with `type: "enterprise"`) waits as `<connection id>:email:<email>`,
 * unverified, until the IdP first vouches for that email; it then becomes the subject's identity.
 */

const subjectKey = providerIdentityKey;
const preProvisionedKey = (connectionId: string, email: string) => `${connectionId}:email:${email.trim().toLowerCase()}`;

/** A user holds at most one enterprise identity (section 007). */
const hasEnterpriseIdentity = (user: User) => user.identities.some((identity) => isEnterpriseStrategy(identity.type));

/**
 * Whether the IdP's email may be believed for linking and as a verified email: the connection trusts
 * its emails (`is_trusted`), and an OpenID provider also said the email is verified (Entra's `email`
 * is typed by the tenant's administrator: "nOAuth"). A SAML assertion has no such flag; trusting the
 * connection is the administrator's word for it.
 */
export function vouchesForEmail(connection: EnterpriseConnection, profile: EnterpriseProfile): boolean {
  if (!connection.isTrusted || !profile.email) return false;
  return enterpriseProtocol(connection.strategy) === 'saml' || profile.email_verified === true;
}

/** What `enterpriseProvisioning` decides from, read from the database; with the identity rows the outcome changes. */
export async function provisioningFacts(db: Db | Tx, connection: EnterpriseConnection, profile: EnterpriseProfile): Promise<{ facts: ProvisioningFacts; identityId?: string; preProvisionedIdentityId?: string }> {
  const known = await db.selectFrom('identities').select(['id', 'user_id']).where('type', '=', connection.strategy).where('normalized_value', '=', subjectKey(connection.id, profile.subject)).executeTakeFirst();
  const base = { isTrusted: false, isCreateMissingUser: connection.options.is_create_missing_user === true };
  if (known) return { facts: { ...base, identityUserId: known.user_id }, identityId: known.id };
  const email = profile.email;
  const waiting = email
    ? await db.selectFrom('identities').select(['id', 'user_id']).where('type', '=', connection.strategy).where('normalized_value', '=', preProvisionedKey(connection.id, email)).executeTakeFirst()
    : undefined;
  if (waiting) return { facts: { ...base, isTrusted: vouchesForEmail(connection, profile), preProvisionedUserId: waiting.user_id }, preProvisionedIdentityId: waiting.id };
  const owner = email ? await emailOwner(db, email) : undefined;
  return {
    facts: {
      ...base,
      // An owner who never verified the email could be anyone who typed it: no merge by it.
      isTrusted: vouchesForEmail(connection, profile) && owner?.emailVerified === true,
      emailUser: owner && { userId: owner.user.id, hasOtherEnterpriseIdentity: hasEnterpriseIdentity(owner.user) },
    },
  };
}

/** What an enterprise identity is shown as. */
export const enterpriseIdentityLabel = (profile: EnterpriseProfile) => profile.email ?? profile.subject;

function identityRow(userId: string, connection: EnterpriseConnection, profile: EnterpriseProfile, createdAt: number): IdentitiesTable {
  return providerIdentityRow(userId, connection.strategy, { connectionId: connection.id, subject: profile.subject, label: enterpriseIdentityLabel(profile) }, createdAt);
}

function identityTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', 'This enterprise account is already linked to a user', 409);
  throw error;
}

/** The IdP's names, written over the user's (a trusted connection's profile wins, section 042). */
async function overwriteProfile(tx: Tx, user: User, connection: EnterpriseConnection, profile: EnterpriseProfile): Promise<void> {
  const change: Partial<Record<'first_name' | 'last_name', string>> = {};
  if (profile.given_name && profile.given_name !== user.firstName) change.first_name = profile.given_name;
  if (profile.family_name && profile.family_name !== user.lastName) change.last_name = profile.family_name;
  if (Object.keys(change).length === 0) return;
  await tx.updateTable('users').set({ ...change, updated_at: clock.now() }).where('id', '=', user.id).execute();
  const data = await userDataById(tx, user.id);
  await recordAudit(tx, { type: 'user.updated', actor: user.id, subject: user.id, data, detail: { fields: Object.keys(change), source: 'enterprise_profile', connection_id: connection.id } });
}

/** Section 036: auto-join the connection's organization, in the same transaction as the identity. */
async function joinConnectionOrganization(tx: Tx, connection: EnterpriseConnection, userId: string): Promise<void> {
  const code = autoJoinOrganization(connection);
  if (!code) return;
  if (await addMember(tx, code, userId)) {
    await recordAudit(tx, { type: 'organization.user_added', actor: userId, subject: userId, data: membershipData(code, userId), detail: { connection_id: connection.id, source: 'auto_join' } });
  }
}

/**
 * A known enterprise identity signs in: the names follow the IdP's with `is_sync_user_profile_on_login`
 * (section 040), and the connection's organization is joined with auto-join (section 036).
 */
export async function signInEnterpriseIdentity(db: Db, connection: EnterpriseConnection, user: User, profile: EnterpriseProfile): Promise<void> {
  const sync = connection.options.is_sync_user_profile_on_login === true;
  if (!sync && !autoJoinOrganization(connection)) return;
  await inTransaction(db, async (tx) => {
    if (sync) await overwriteProfile(tx, user, connection, profile);
    await joinConnectionOrganization(tx, connection, user.id);
  });
}

/**
 * Adds the IdP's identity to an existing user (a pre-provisioned identity becomes it), re-checking
 * "one enterprise identity per user" inside the transaction. Returns the identity's id.
 */
export async function linkEnterpriseIdentity(
  db: Db,
  userId: string,
  connection: EnterpriseConnection,
  profile: EnterpriseProfile,
  how: { overwriteProfile: boolean; preProvisionedIdentityId?: string | undefined; provenEmail?: string | undefined },
): Promise<string> {
  return inTransaction(db, async (tx) => {
    const user = await findUser(tx, userId);
    if (!user) throw new DomainError('USER_INVALID', 'User not found', 404);
    let identityId: string;
    if (how.preProvisionedIdentityId) {
      identityId = how.preProvisionedIdentityId;
      await tx
        .updateTable('identities')
        .set({ value: enterpriseIdentityLabel(profile), normalized_value: subjectKey(connection.id, profile.subject), is_verified: 1 })
        .where('id', '=', identityId)
        .execute()
        .catch(identityTaken);
    } else {
      if (hasEnterpriseIdentity(user)) throw new DomainError('USER_IDENTITY_EXISTS', 'This user already has an enterprise identity', 409);
      const row = identityRow(userId, connection, profile, clock.now());
      await tx.insertInto('identities').values(row).execute().catch(identityTaken);
      identityId = row.id;
    }
    if (how.provenEmail) {
      await tx.updateTable('identities').set({ is_verified: 1 }).where('user_id', '=', userId).where('type', '=', 'email').where('normalized_value', '=', how.provenEmail.trim().toLowerCase()).execute();
    }
    if (how.overwriteProfile) await overwriteProfile(tx, user, connection, profile);
    const provenBy = how.preProvisionedIdentityId ? 'pre_provisioned' : how.provenEmail ? 'email_code' : 'trusted_connection';
    await recordAudit(tx, { type: 'user.identity_linked', actor: userId, subject: userId, detail: { connection_id: connection.id, proven_by: provenBy } });
    await joinConnectionOrganization(tx, connection, userId);
    return identityId;
  });
}

/** Just-in-time provisioning (section 042): the user, their enterprise identity and, when vouched for, their email. */
export async function createEnterpriseUser(db: Db, connection: EnterpriseConnection, profile: EnterpriseProfile, applicationId: string): Promise<User> {
  return inTransaction(db, async (tx) => {
    const email = vouchesForEmail(connection, profile) ? profile.email : undefined;
    const user = await createUser(tx as unknown as Db, {
      firstName: profile.given_name ?? null,
      lastName: profile.family_name ?? null,
      identities: email ? [{ type: 'email', value: email, isVerified: true, connectionId: null }] : [],
    });
    await tx.insertInto('identities').values(identityRow(user.id, connection, profile, clock.now() + 1)).execute().catch(identityTaken);
    await recordAudit(tx, { type: 'user.created', actor: user.id, subject: user.id, data: await userData(tx, (await findUser(tx, user.id))!), detail: { application_id: applicationId, connection_id: connection.id, source: 'enterprise_jit' } });
    await joinConnectionOrganization(tx, connection, user.id);
    return (await findUser(tx, user.id))!;
  });
}

/**
 * `POST /users/{id}/identities` with `type: "enterprise"` (section 042): the person signs in through
 * this connection with this email and lands in this account. One enterprise identity per user.
 */
export async function preProvisionEnterpriseIdentity(db: Db, userId: string, connection: { id: string; strategy: string }, email: string): Promise<string> {
  return inTransaction(db, async (tx) => {
    const user = await findUser(tx, userId);
    if (!user) throw new DomainError('USER_INVALID', 'User not found', 404);
    if (hasEnterpriseIdentity(user)) throw new DomainError('USER_IDENTITY_EXISTS', 'This user already has an enterprise identity (one per user)', 409);
    const row: IdentitiesTable = {
      id: newId.identity(),
      user_id: userId,
      type: connection.strategy,
      value: email.trim(),
      normalized_value: preProvisionedKey(connection.id, email),
      is_verified: 0,
      is_primary: 0,
      connection_id: connection.id,
      total_logins: 0,
      last_login_at: null,
      created_at: clock.now(),
    };
    await tx
      .insertInto('identities')
      .values(row)
      .execute()
      .catch((error: unknown) => {
        if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', 'This email is already pre-provisioned on this connection', 409);
        throw error;
      });
    await recordAudit(tx, { type: 'user.identity_added', subject: userId, detail: { identity_id: row.id, type: 'enterprise', connection_id: connection.id } });
    return row.id;
  });
}
