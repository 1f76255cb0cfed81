import { clock } from '../../clock.ts';
import type { CodePurpose } from '../../domain/one-time-codes.ts';
import type { PendingSocialProfile } from '../../domain/social/identities.ts';
import type {
  AccessRequestAsked,
  CodeState,
  ConsentState,
  EnterpriseRedirectState,
  EnterpriseRoundTrip,
  IdentifyState,
  MfaChallengeState,
  MfaChoice,
  MfaChooseState,
  MfaDoneState,
  MfaTotpState,
  NewPasswordState,
  OrganizationKnown,
  OrganizationState,
  PasswordState,
  PendingEnterpriseProfile,
  Registration,
  RegisterState,
  RequestAccessState,
  SignInState,
  SocialEmailState,
  SocialRedirectState,
  SocialRoundTrip,
  Typed,
  Verified,
} from './state.ts';

/**
 * The sign-in's transitions (DESIGN.md §4), in one place: every state is made here, from the state
 * (or the facts) it follows. A parameter's type is the set of steps a transition may come from, so a
 * step handler cannot reach a state the machine does not allow.
 *
 *   identify ─┬─ register ── code(sign_up) ───────────────┐
 *             ├─ password ─┬─ code(sign_in: verify email) ┤
 *             │            ├─ code(reset) ── new_password ┤
 *             │            └─ new_password(temporary) ────┤
 *             ├─ code(sign_in) ───────────────────────────┤   first factor → Verified
 *             ├─ social_redirect ─┬─ (provider vouches) ──────┤
 *             │                   ├─ social_email ── code ────┤
 *             │                   └─ code(email proof) ───────┤
 *             └─ enterprise_redirect ── (IdP vouches, provisioning) ┤
 *   identify / organization ── request_access ── code(email proof) ── (request filed: the end)
 *   organization ── mfa_choose ─┬─ mfa_totp ──────┬─ mfa_done ── consent (device) ── finish
 *                               └─ mfa_challenge ─┘
 */

export const identify = (from?: { registering?: boolean | undefined; identifier?: string | undefined }, error?: string): IdentifyState => ({
  step: 'identify',
  registering: from?.registering,
  identifier: from?.identifier,
  error,
});

export const register = (typed: Typed): RegisterState => ({ step: 'register', ...typedOf(typed) });

export const password = (typed: Typed, userId: string): PasswordState => ({ step: 'password', ...typedOf(typed), userId });

/** A code has been sent for `purpose`: what the code page and its check need. */
export interface SentCode {
  purpose: CodePurpose;
  challengeId: string;
  channel: 'email' | 'sms';
  destination: string;
}

/** Where a code can be asked for: a known person (sign-in, reset, verifying an email after a password) or a sign-up's details. */
export type CodeOrigin =
  | (Typed & { userId: string; verifiedPassword?: boolean | undefined; enterpriseProfile?: PendingEnterpriseProfile | undefined })
  /** A sign-up, a social sign-in proving the email it links to or creates an account with, or an access request proving its email. */
  | (Typed & Registration & { userId?: undefined; socialProfile?: PendingSocialProfile | undefined; accessRequest?: AccessRequestAsked | undefined });

export function code(from: CodeOrigin, sent: SentCode): CodeState {
  const { error: _error, notice: _notice, step: _step, ...kept } = from as CodeOrigin & { step?: string; error?: string; notice?: string };
  return { ...kept, step: 'code', ...sent, sentAt: clock.now() };
}

/** Sign-up is closed to this person: the page that lets them ask for access instead. */
export const requestAccess = (details: Omit<RequestAccessState, 'step' | 'error' | 'notice'>): RequestAccessState => ({ step: 'request_access', ...details });

export const socialRedirect = (from: { registering?: boolean | undefined }, trip: SocialRoundTrip): SocialRedirectState => ({ step: 'social_redirect', registering: from.registering, trip });

export const enterpriseRedirect = (from: { registering?: boolean | undefined }, trip: EnterpriseRoundTrip): EnterpriseRedirectState => ({ step: 'enterprise_redirect', registering: from.registering, trip });

export const socialEmail = (from: { registering?: boolean | undefined }, profile: PendingSocialProfile): SocialEmailState => ({ step: 'social_email', registering: from.registering, profile });

export const newPassword = (from: (PasswordState | CodeState) & { userId: string }, reason: 'temporary' | 'reset'): NewPasswordState => ({
  step: 'new_password',
  ...typedOf(from),
  userId: from.userId,
  reason,
  channel: from.step === 'code' ? from.channel : undefined,
});

export const organizationChoice = (verified: Verified, organizations: OrganizationState['organizations']): OrganizationState => ({
  step: 'organization',
  verified,
  organizations,
});

export const mfaChoose = (known: OrganizationKnown, choice: MfaChoice): MfaChooseState => ({ step: 'mfa_choose', ...knownOf(known), ...choice });

export const mfaTotp = (from: MfaChooseState, factorId: string): MfaTotpState => ({ step: 'mfa_totp', ...knownOf(from), factors: from.factors, skippable: from.skippable, factorId });

export interface MfaChallengeStart {
  using: MfaChallengeState['using'];
  factorId?: string | undefined;
  enrolling: boolean;
  choice?: MfaChoice | undefined;
}

export const mfaChallenge = (known: OrganizationKnown, start: MfaChallengeStart): MfaChallengeState => ({ step: 'mfa_challenge', ...knownOf(known), ...start });

export const mfaDone = (known: OrganizationKnown): MfaDoneState => ({ step: 'mfa_done', ...knownOf(known) });

export const consent = (known: OrganizationKnown): ConsentState => ({ step: 'consent', ...knownOf(known) });

/** The same step again, saying what went wrong (or what happened) above the form. */
export const withError = <S extends SignInState>(state: S, error: string): S => ({ ...state, error, notice: undefined });

export const withNotice = <S extends SignInState>(state: S, notice: string): S => ({ ...state, error: undefined, notice });

/** Messages are shown once: a step's next post starts without them. */
export const withoutMessages = <S extends SignInState>(state: S): S => ({ ...state, error: undefined, notice: undefined });

const typedOf = (typed: Typed): Typed => ({ identifierType: typed.identifierType, identifier: typed.identifier, registering: typed.registering });

const knownOf = (known: OrganizationKnown): OrganizationKnown => ({ verified: known.verified, organizationCode: known.organizationCode });
