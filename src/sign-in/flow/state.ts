import { clock } from '../../clock.ts';
import type { CodePurpose } from '../../domain/one-time-codes.ts';
import type { FactorType } from '../../domain/mfa-policy.ts';
import type { ProviderIdentity } from '../../domain/provider-identities.ts';
import type { PendingSocialProfile } from '../../domain/social/identities.ts';
import type { IdentityType } from '../../domain/users.ts';
import type { Db } from '../../store/db.ts';
import { interactionFlowState, setInteractionFlowState } from '../../protocol/interaction-flow-state.ts';

/**
 * Where a person is in the hosted sign-in (DESIGN.md §4): one variant per step, each holding only
 * what its page and its form post need. Kept in the database under the interaction's uid so that any
 * replica can serve the next page. States are made only by the transitions in `machine.ts`.
 */
export type SignInState =
  | IdentifyState
  | RegisterState
  | PasswordState
  | CodeState
  | NewPasswordState
  | OrganizationState
  | MfaChooseState
  | MfaTotpState
  | MfaChallengeState
  | MfaDoneState
  | ConsentState
  | SocialRedirectState
  | SocialEmailState
  | EnterpriseRedirectState
  | RequestAccessState;

export type SignInStep = SignInState['step'];

/** What any page may say above its form. */
export interface Messages {
  error?: string | undefined;
  notice?: string | undefined;
}

/** The identity the person typed, parsed (phones in E.164). */
export interface Typed {
  identifierType: IdentityType;
  identifier: string;
  /** Reached from the registration page (prompt=create, start_page=registration, "Create one"). */
  registering?: boolean | undefined;
}

/** What a sign-up collects before its code proves the identifier. */
export interface Registration {
  firstName?: string | undefined;
  lastName?: string | undefined;
  /** The email a username sign-up gives, verified by the code. */
  email?: string | undefined;
  acceptsMarketing?: boolean | undefined;
  /** argon2id of the password chosen at sign-up, kept until the identity is verified. */
  pendingPasswordHash?: string | undefined;
}

/** Step 1: the first page, or the registration page; the identifier, once typed, is shown again. */
export interface IdentifyState extends Messages {
  step: 'identify';
  registering?: boolean | undefined;
  identifier?: string | undefined;
}

/** Step 2: details a new person gives before the code (names, password, consent to marketing). */
export interface RegisterState extends Messages, Typed, Registration {
  step: 'register';
}

export interface PasswordState extends Messages, Typed {
  step: 'password';
  userId: string;
}

/** A one-time code on its way to `destination`: signing in, signing up, or resetting a password. */
export interface CodeState extends Messages, Typed, Registration {
  step: 'code';
  /** Set when the identifier belongs to an existing person. */
  userId?: string | undefined;
  purpose: CodePurpose;
  challengeId: string;
  channel: 'email' | 'sms';
  /** The email address or phone number the code went to. */
  destination: string;
  sentAt: number;
  /** The password was right; this code only verifies the email. */
  verifiedPassword?: boolean | undefined;
  /** A social sign-in waits on this code to prove the email it links to or creates an account with (connectors/social.ts). */
  socialProfile?: PendingSocialProfile | undefined;
  /** An untrusted enterprise IdP's email names an existing person: this code proves it before the identity links (connectors/enterprise.ts). */
  enterpriseProfile?: PendingEnterpriseProfile | undefined;
  /** This code proves the email an access request is filed for (flow/access-request.ts). */
  accessRequest?: AccessRequestAsked | undefined;
}

/** What an access request is for, kept while its code proves the email. */
export interface AccessRequestAsked {
  /** Not `organizationCode`: that name means "the organization is decided" to the steps after sign-in. */
  requestedOrganization?: string | undefined;
  /** A social or enterprise sign-in asks: the provider's person, linked to the account on approval. */
  providerIdentity?: ProviderIdentity | undefined;
}

/**
 * Sign-up is closed to this person (the environment's, or an organization's that is not theirs):
 * they may ask for access (domain/access-requests.ts). A stranger gives an email, which a code then
 * proves, and names; a person this sign-in already proved (`userId`) asks to join `requestedOrganization`.
 */
export interface RequestAccessState extends Messages, AccessRequestAsked {
  step: 'request_access';
  userId?: string | undefined;
  email?: string | undefined;
  /** A provider vouched for `email` (or a code just proved it): the request is filed with it as it is, no code. */
  emailProven?: boolean | undefined;
  firstName?: string | undefined;
  lastName?: string | undefined;
}

/** What an enterprise sign-in keeps while a code proves the email it links by (no IdP attributes: only what linking writes). */
export interface PendingEnterpriseProfile {
  connectionId: string;
  subject: string;
  email: string;
  givenName: string | undefined;
  familyName: string | undefined;
  /** The IdP's groups, for `ext_groups` once the email is proven. */
  externalGroups?: string[] | undefined;
}

/** Begin's secrets the callback must match (domain/social/upstream.ts), then what the callback received. */
export interface SocialRoundTrip {
  connectionId: string;
  state: string;
  nonce: string | undefined;
  codeVerifier: string | undefined;
  redirectUri: string;
  /** The provider's answer (query or form), kept across the same-site hop from `/login/callback`. */
  callback?: Record<string, string> | undefined;
}

/** Steps 4–5 for a social connection: the browser is at the provider; the identify page if it comes back without an answer. */
export interface SocialRedirectState extends Messages {
  step: 'social_redirect';
  registering?: boolean | undefined;
  trip: SocialRoundTrip;
}

/** Step 6: the provider gave no email (X); the person types one, which a code then proves. */
export interface SocialEmailState extends Messages {
  step: 'social_email';
  registering?: boolean | undefined;
  profile: PendingSocialProfile;
}

/**
 * An enterprise round trip (connectors/enterprise.ts). SAML keeps the AuthnRequest's id, the only
 * request a response may answer (SP-initiated only, DESIGN.md §5); Entra ID and custom OIDC keep what
 * a social round trip keeps. `callback` is the IdP's answer, kept across the same-site hop.
 */
export type EnterpriseRoundTrip =
  | {
      protocol: 'saml';
      connectionId: string;
      requestId: string;
      /** `<flow id>.<random>`: the ACS finds the flow by its prefix and requires the whole (who knows a flow id cannot post into it). */
      relayState: string;
      callback?: { SAMLResponse: string } | undefined;
    }
  | ({ protocol: 'oidc' } & SocialRoundTrip);

/** Steps 4–5 for an enterprise connection: the browser is at the IdP. */
export interface EnterpriseRedirectState extends Messages {
  step: 'enterprise_redirect';
  registering?: boolean | undefined;
  trip: EnterpriseRoundTrip;
}

export interface NewPasswordState extends Messages, Typed {
  step: 'new_password';
  userId: string;
  reason: 'temporary' | 'reset';
  /** For a reset: the channel its code came by, which is how the person proved who they are. */
  channel?: 'email' | 'sms' | undefined;
}

/**
 * What a first factor hands on (DESIGN.md §4): who was proven, through which connection, and how
 * (`amr`, RFC 8176). Everything after the first factor — organization, MFA, consent — takes this.
 */
export interface Verified {
  userId: string;
  connectionId: string | undefined;
  amr: string[];
  /** The person's groups at an enterprise IdP, for the `ext_groups` claim (section 032), when the connection retrieves them. */
  externalGroups?: string[] | undefined;
}

/** Every step after the first factor carries the person it proved. */
export interface Proven {
  verified: Verified;
}

/** Step 8: the organization switcher. */
export interface OrganizationState extends Messages, Proven {
  step: 'organization';
  organizations: Array<{ code: string; name: string }>;
}

/** The organization the grant will speak for, kept through two-step verification and a device's consent. */
export interface OrganizationKnown extends Proven {
  organizationCode: string;
}

/** The factors offered for enrolment, and whether the second step may be skipped: what "choose another" goes back to. */
export interface MfaChoice {
  factors: FactorType[];
  skippable: boolean;
}

/** Step 7: choose a factor to enrol (or skip, when optional). */
export interface MfaChooseState extends Messages, OrganizationKnown, MfaChoice {
  step: 'mfa_choose';
}

/** Enrolling an authenticator app: its QR code until the first code proves it. */
export interface MfaTotpState extends Messages, OrganizationKnown, MfaChoice {
  step: 'mfa_totp';
  factorId: string;
}

/** A code for a second factor: an enrolled one, one being enrolled, or a recovery code. */
export interface MfaChallengeState extends Messages, OrganizationKnown {
  step: 'mfa_challenge';
  using: FactorType | 'recovery';
  factorId?: string | undefined;
  /** The code sent by email or SMS. */
  challengeId?: string | undefined;
  /** The first code of a new factor proves the enrolment. */
  enrolling: boolean;
  /** Where an email or SMS code went. */
  destination?: string | undefined;
  /** Set when the person came from choosing a factor to enrol. */
  choice?: MfaChoice | undefined;
}

/** The recovery codes were shown once; the person confirms they kept them. */
export interface MfaDoneState extends Messages, OrganizationKnown {
  step: 'mfa_done';
}

/** Step 9 for a device (RFC 8628): the person allows or denies it. */
export interface ConsentState extends Messages, OrganizationKnown {
  step: 'consent';
}

/** The person a flow state has proven, once past the first factor; undefined before. */
export function verifiedIn(state: SignInState | undefined): Verified | undefined {
  return state && 'verified' in state ? state.verified : undefined;
}

/**
 * Bumped when a state's shape changes: a flow saved by an older release (a rolling upgrade) then
 * starts again at the first page instead of being read as something it is not.
 */
const STATE_VERSION = 2;

/**
 * A flow lives in its interaction's row (protocol/interaction-flow-state.ts) and ends with it: an hour
 * after the authorization request, or when the engine finishes the interaction.
 */
export async function loadFlow(db: Db, uid: string): Promise<SignInState | undefined> {
  const saved = await interactionFlowState(db, uid);
  if (!saved) return undefined;
  const parsed = JSON.parse(saved) as { v?: number; state?: SignInState };
  return parsed.v === STATE_VERSION ? parsed.state : undefined;
}

export async function saveFlow(db: Db, uid: string, state: SignInState): Promise<void> {
  await setInteractionFlowState(db, uid, JSON.stringify({ v: STATE_VERSION, state }));
}

export async function endFlow(db: Db, uid: string): Promise<void> {
  await setInteractionFlowState(db, uid, null);
}

/** Flows an older release saved in `sign_in_flows` (migration 0019): cleared as they expire. */
export async function deleteExpiredFlows(db: Db): Promise<void> {
  await db.deleteFrom('sign_in_flows').where('expires_at', '<', clock.now()).execute();
}
