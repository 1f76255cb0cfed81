import { clock } from '../../clock.ts';
import { type Db, inTransaction, isUniqueViolation, type Tx } from '../../store/db.ts';
import type { IdentitiesTable } from '../../store/schema.ts';
import { userData, userDataById } from '../events/payloads.ts';
import { recordAudit } from '../audit.ts';
import { DomainError } from '../errors.ts';
import { providerIdentityKey, providerIdentityRow } from '../provider-identities.ts';
import { createUser, findUser, findUserByIdentity, type User } from '../users.ts';
import type { SocialProfile } from './providers.ts';

/**
 * Social identities and account linking (sections 004, 055). A social identity is a row of
 * `identities` whose type is the connection's strategy (`oauth2:google`), shown by the person's email
 * (or username, or subject) and unique per (connection, provider subject): its normalized value is
 * `<connection id>:<subject>`, so the existing unique (type, normalized value) index holds the rule.
 * A provider may reuse a subject across our connections of one strategy (two Google apps), never
 * across providers; keying by connection keeps each connection's people apart.
 */

export interface SocialConnectionRef {
  id: string;
  strategy: string;
}

/** Sign-in-time facts about the provider's answer that the flow keeps while the person proves an email. */
export interface PendingSocialProfile {
  connectionId: string;
  subject: string;
  /** The email the provider gave, or the one the person typed when it gave none (X). */
  email: string | undefined;
  emailVerified: boolean;
  givenName: string | undefined;
  familyName: string | undefined;
  picture: string | undefined;
  /** What the identity is shown as: the provider's email, username, or the subject. */
  label: string;
}

export function pendingProfileOf(connectionId: string, profile: SocialProfile): PendingSocialProfile {
  const [first, ...rest] = (profile.name ?? '').trim().split(/\s+/);
  return {
    connectionId,
    subject: profile.subject,
    email: profile.email,
    emailVerified: profile.emailVerified,
    // Providers that give one `name` only (GitHub, X): its first word as given name, the rest as family name.
    givenName: profile.givenName ?? (first || undefined),
    familyName: profile.familyName ?? (rest.length > 0 ? rest.join(' ') : undefined),
    picture: profile.picture,
    label: profile.email ?? profile.username ?? profile.subject,
  };
}

const identityKey = providerIdentityKey;

export async function findUserBySocialIdentity(db: Db | Tx, connection: SocialConnectionRef, subject: string): Promise<User | undefined> {
  const row = await db
    .selectFrom('identities')
    .select('user_id')
    .where('type', '=', connection.strategy)
    .where('normalized_value', '=', identityKey(connection.id, subject))
    .executeTakeFirst();
  return row ? findUser(db, row.user_id) : undefined;
}

/** What happens after the provider answered (section 004: never a silent takeover). */
export type SocialNextStep =
  /** The identity is known: its user signs in. */
  | { kind: 'sign_in'; userId: string }
  /** A trusted provider vouches for an email an existing user has verified: link, no code. */
  | { kind: 'link'; userId: string }
  /**
   * Nobody has the email: a new user. With the email as a verified identity when a trusted provider
   * vouched for it; else with the social identity alone (section 004, "Untrusted emails": the
   * person signs in with that provider only, and the email stays free for whoever owns it).
   */
  | { kind: 'create'; email: string | undefined }
  /** The email must be proven by a code first (untrusted provider, unverified email, or an email the person typed). */
  | { kind: 'verify_email'; email: string }
  /** The provider gave no email (X): ask for one. */
  | { kind: 'ask_email' };

/** Table-tested policy: `owner` is the existing user holding the email, with whether they verified it. */
export function socialNextStep(input: {
  knownUserId: string | undefined;
  email: string | undefined;
  emailVerified: boolean;
  /** The person typed the email (the provider gave none): it is theirs only once a code proves it. */
  typedByPerson: boolean;
  trusted: boolean;
  owner: { userId: string; emailVerified: boolean } | undefined;
}): SocialNextStep {
  if (input.knownUserId) return { kind: 'sign_in', userId: input.knownUserId };
  if (!input.email) return { kind: 'ask_email' };
  if (input.typedByPerson) return { kind: 'verify_email', email: input.email };
  const vouched = input.trusted && input.emailVerified;
  if (!input.owner) return { kind: 'create', email: vouched ? input.email : undefined };
  // An owner who never verified their email could be anyone who typed it: they prove it too.
  if (vouched && input.owner.emailVerified) return { kind: 'link', userId: input.owner.userId };
  return { kind: 'verify_email', email: input.email };
}

/** The user holding this email, with whether that email identity is verified. */
export async function emailOwner(db: Db | Tx, email: string): Promise<{ user: User; emailVerified: boolean } | undefined> {
  const user = await findUserByIdentity(db, 'email', email);
  if (!user) return undefined;
  const lower = email.trim().toLowerCase();
  const identity = user.identities.find((candidate) => candidate.type === 'email' && candidate.value.toLowerCase() === lower);
  return { user, emailVerified: identity?.isVerified === true };
}

function socialIdentityRow(userId: string, strategy: string, profile: PendingSocialProfile, createdAt: number): IdentitiesTable {
  return providerIdentityRow(userId, strategy, { connectionId: profile.connectionId, subject: profile.subject, label: profile.label }, createdAt);
}

function identityTaken(error: unknown): never {
  if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', 'This provider account is already linked to a user', 409);
  throw error;
}

/**
 * Links the provider's identity to an existing user, marking the email proven (by the provider's
 * word or a code) verified, with its audit event, in one transaction. Returns the new identity's id.
 */
export async function linkSocialIdentity(db: Db, userId: string, strategy: string, profile: PendingSocialProfile, provenEmail: string | undefined): Promise<string> {
  return inTransaction(db, async (tx) => {
    const row = socialIdentityRow(userId, strategy, profile, clock.now());
    await tx.insertInto('identities').values(row).execute().catch(identityTaken);
    if (provenEmail) {
      await tx
        .updateTable('identities')
        .set({ is_verified: 1 })
        .where('user_id', '=', userId)
        .where('type', '=', 'email')
        .where('normalized_value', '=', provenEmail.trim().toLowerCase())
        .execute();
    }
    await recordAudit(tx, { type: 'user.identity_linked', actor: userId, subject: userId, detail: { connection_id: profile.connectionId, proven_by: provenEmail ? 'email_code' : 'trusted_provider' } });
    return row.id;
  });
}

/** A new user from the provider's profile: the proven email (if any), the social identity and the audit event, in one transaction. */
export async function createSocialUser(db: Db, strategy: string, profile: PendingSocialProfile, provenEmail: string | undefined, applicationId: string): Promise<User> {
  return inTransaction(db, async (tx) => {
    const user = await createUser(tx as unknown as Db, {
      firstName: profile.givenName ?? null,
      lastName: profile.familyName ?? null,
      picture: profile.picture ?? null,
      identities: provenEmail ? [{ type: 'email', value: provenEmail, isVerified: true, connectionId: null }] : [],
    });
    // After the user's own identities, so they list in the order they came.
    await tx.insertInto('identities').values(socialIdentityRow(user.id, strategy, profile, clock.now() + 1)).execute().catch(identityTaken);
    const created = (await findUser(tx, user.id))!;
    await recordAudit(tx, { type: 'user.created', actor: user.id, subject: user.id, data: await userData(tx, created), detail: { application_id: applicationId, connection_id: profile.connectionId } });
    return created;
  });
}

/**
 * Section 040 ("sync user profiles on sign in"): names and picture follow the provider's when it gave
 * them and they differ (Apple gives the name only once: later sign-ins leave it). Audited as
 * `user.updated` with the fields changed, in the same transaction.
 */
export async function syncSocialProfile(db: Db, user: User, profile: PendingSocialProfile): Promise<void> {
  const change: Partial<Record<'first_name' | 'last_name' | 'picture', string>> = {};
  if (profile.givenName && profile.givenName !== user.firstName) change.first_name = profile.givenName;
  if (profile.familyName && profile.familyName !== user.lastName) change.last_name = profile.familyName;
  if (profile.picture && profile.picture !== user.picture) change.picture = profile.picture;
  if (Object.keys(change).length === 0) return;
  await inTransaction(db, async (tx) => {
    await tx.updateTable('users').set({ ...change, updated_at: clock.now() }).where('id', '=', user.id).execute();
    const data = await userDataById(tx, user.id);
    await recordAudit(tx, { type: 'user.updated', actor: user.id, subject: user.id, data, detail: { fields: Object.keys(change), source: 'profile_sync', connection_id: profile.connectionId } });
  });
}

/** The identity's id, for the sign-in counters. */
export async function socialIdentityId(db: Db | Tx, strategy: string, connectionId: string, subject: string): Promise<string | undefined> {
  const row = await db.selectFrom('identities').select('id').where('type', '=', strategy).where('normalized_value', '=', identityKey(connectionId, subject)).executeTakeFirst();
  return row?.id;
}
