import { clock } from '../../clock.ts';
import type { CodePurpose } from '../../domain/one-time-codes.ts';
import type { PendingSocialProfile } from '../../domain/social/identities.ts';
import type { IdentityType } from '../../domain/users.ts';
import type { Db } from '../../store/db.ts';

/**
 * Where a person is in the hosted sign-in (DESIGN.md §4), kept in the database under the
 * interaction's uid so that any replica can serve the next page.
 */
export type SignInStep = 'identify' | 'register' | 'password' | 'code' | 'new_password' | 'organization' | 'mfa_choose' | 'mfa_totp' | 'mfa_challenge' | 'mfa_done' | 'consent' | 'social_email';

export interface SignInState {
  step: SignInStep;
  /** The identify page as the registration page (prompt=create, start_page=registration, "Create one"). */
  registering?: boolean;
  identifierType?: IdentityType;
  /** As typed (phones in E.164). */
  identifier?: string;
  /** Set once the identifier belongs to an existing user. */
  userId?: string;
  challengeId?: string;
  codePurpose?: CodePurpose;
  codeChannel?: 'email' | 'sms';
  /** Where the code went: the email address or phone number. */
  codeDestination?: string;
  codeSentAt?: number;
  newPasswordReason?: 'temporary' | 'reset';
  firstName?: string;
  lastName?: string;
  /** The email a username sign-up gives, verified by the code. */
  email?: string;
  acceptsMarketing?: boolean;
  /** How the person proved who they are, kept while they choose an organization. */
  amr?: string[];
  /** The connection that proved it (the first factor's), for MFA's exempt connections. */
  connectionId?: string;
  /** The organization the grant will speak for, kept through two-step verification and a device's consent. */
  organizationCode?: string;
  /** Two-step verification (step 7): the factors offered for enrolment, and whether it may be skipped. */
  mfaFactors?: Array<'totp' | 'email' | 'sms'>;
  mfaSkippable?: boolean;
  /** The factor being enrolled or used; 'recovery' for a recovery code. */
  mfaUsing?: 'totp' | 'email' | 'sms' | 'recovery';
  mfaFactorId?: string;
  mfaChallengeId?: string;
  /** The first code of a new factor proves the enrolment. */
  mfaEnrolling?: boolean;
  /** The organizations offered by the switcher. */
  organizations?: Array<{ code: string; name: string }>;
  /** The password was right; the code that follows only verifies the email. */
  verifiedPassword?: boolean;
  /** argon2id of the password chosen at sign-up, kept until the identity is verified. */
  pendingPasswordHash?: string;
  /** A social provider round trip under way (connectors/social.ts). */
  social?: SocialRoundTrip;
  /** What the provider said, kept while the person gives or proves an email before the identity is linked. */
  socialProfile?: PendingSocialProfile;
  error?: string;
  notice?: string;
}

/** Begin's secrets the callback must match (upstream.ts), then what the callback received. */
export interface SocialRoundTrip {
  connectionId: string;
  state: string;
  nonce: string | undefined;
  codeVerifier: string | undefined;
  redirectUri: string;
  /** The provider's answer (query or form), kept across the same-site hop from `/login/callback`. */
  callback?: Record<string, string>;
}

/**
 * What a first factor hands on (DESIGN.md §4): who was proven, through which connection, and how
 * (`amr`, RFC 8176). Everything after the first factor — organization, MFA, consent — takes this.
 */
export interface Verified {
  userId: string;
  connectionId: string | undefined;
  amr: string[];
}

/** The person a flow state has proven, once past the first factor; undefined before. */
export function verifiedIn(state: SignInState | undefined): Verified | undefined {
  return state?.userId && state.amr ? { userId: state.userId, connectionId: state.connectionId, amr: state.amr } : undefined;
}

/** The state fields that carry a `Verified` through the steps after the first factor. */
export const verifiedState = (verified: Verified) => ({ userId: verified.userId, amr: verified.amr, connectionId: verified.connectionId });

const FLOW_LIFETIME_MS = 60 * 60 * 1000;

export async function loadFlow(db: Db, uid: string): Promise<SignInState | undefined> {
  const row = await db.selectFrom('sign_in_flows').select(['state', 'expires_at']).where('uid', '=', uid).executeTakeFirst();
  if (!row || row.expires_at <= clock.now()) return undefined;
  return JSON.parse(row.state) as SignInState;
}

export async function saveFlow(db: Db, uid: string, state: SignInState): Promise<void> {
  const row = { state: JSON.stringify(state), expires_at: clock.now() + FLOW_LIFETIME_MS };
  await db
    .insertInto('sign_in_flows')
    .values({ uid, ...row })
    .onConflict((oc) => oc.column('uid').doUpdateSet(row))
    .execute();
}

export async function endFlow(db: Db, uid: string): Promise<void> {
  await db.deleteFrom('sign_in_flows').where('uid', '=', uid).execute();
}

export async function deleteExpiredFlows(db: Db): Promise<void> {
  await db.deleteFrom('sign_in_flows').where('expires_at', '<', clock.now()).execute();
}
