import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import { utcClockTime } from '../../clock.ts';
import { clearFailedAttempts, identitySubject, lockStatus, mayIssueCode } from '../../domain/attack-protection.ts';
import { recordAudit } from '../../domain/audit.ts';
import { sendCode } from '../../domain/messaging/codes.ts';
import type { CodePurpose } from '../../domain/one-time-codes.ts';
import { findUser, type Identity, type IdentityType, normalizeIdentity, primaryIdentity, recordSignIn, type User } from '../../domain/users.ts';
import type { Services } from '../../services.ts';
import type { Identifier } from './identifiers.ts';
import { finishInteraction, type Interaction, interactionUrl, loadFormPost, showMessage } from './interaction.ts';
import { renderStep } from './pages.ts';
import { mfaSteps } from '../after/mfa.ts';
import { mfaForSignIn } from '../../domain/mfa.ts';
import { chooseOrganization } from '../after/organization-choice.ts';
import { findOrganization, type Organization, refusesNewcomer, touchMembership } from '../../domain/organizations.ts';
import { effectiveSessionPolicy } from '../../domain/sessions.ts';
import { rememberGrantOrganization } from '../../protocol/grant-organizations.ts';
import { GRANT_LIFETIME_SECONDS } from '../../protocol/interaction-policy.ts';
import * as next from './machine.ts';
import { endFlow, loadFlow, type OrganizationKnown, type RequestAccessState, saveFlow, type SignInState, type Typed, type Verified } from './state.ts';
import { type DeviceConsent, grantDeviceConsent } from '../after/device-consent.ts';

/** A new code may be asked for this long after the last one (section 013: resend with cool-down). */
export const RESEND_COOL_DOWN_MS = 30_000;

export const LOCKED_MESSAGE = (until: number) => `Too many wrong attempts: this account is locked until ${utcClockTime(until)} UTC. Try again then, or reset your password.`;

export const CODES_LOCKED_MESSAGE = (until: number) => `Too many wrong codes: sign-in with a code is locked until ${utcClockTime(until)} UTC. Try again then.`;

/**
 * Whose attempts a one-time code's guesses count against: the account when the person has one
 * (shared with passwords and second factors), else the email or phone being verified.
 */
export function codeSubject(userId: string | undefined, destination: { channel: 'email' | 'sms'; to: string }): string {
  return userId ?? identitySubject(destination.channel === 'sms' ? 'phone' : 'email', destination.to.toLowerCase());
}

export function identityMatching(user: User, type: IdentityType | undefined, value: string | undefined): Identity | undefined {
  if (!type || !value) return undefined;
  const normalized = normalizeIdentity(type, value);
  return user.identities.find((identity) => identity.type === type && normalizeIdentity(type, identity.value) === normalized);
}

/** What a sign-in knows of someone who has no account yet: what their request for access would carry. */
export type Newcomer = Omit<RequestAccessState, 'step' | 'error' | 'notice' | 'userId' | 'requestedOrganization'>;

/** Sign-up is closed to a newcomer: by the environment, or by the `org_code` organization (`organization` when it exists). */
export interface SignUpRefusal {
  by: 'environment' | 'organization';
  organization: Organization | undefined;
}

/**
 * What every step of the sign-in state machine (DESIGN.md §4) shares: moving to the next step, the
 * code-sending path, and the steps after the first factor (organization, MFA, consent, completion).
 * Each page's routes live in their own module (identify-steps, password-steps, code-steps, …).
 */
export function signInKit(services: Services) {
  const { db } = services;
  const defaultCountry = () => services.config.defaultPhoneCountry;
  const mfa = mfaSteps({ services, goTo, afterSecondStep, deliverCode, lockedMessage: LOCKED_MESSAGE });
  const render = (ctx: Context, interaction: Interaction, state: SignInState) => renderStep(services, ctx, interaction, state);
  /** Requests that cleared the person's attempt counter: a right password's held attempt then needs no give-back. */
  const clearedAttempts = new WeakSet<Context>();
  const attemptsClearedIn = (ctx: Context) => clearedAttempts.has(ctx);
  async function clearAttempts(ctx: Context, userId: string): Promise<void> {
    await clearFailedAttempts(db, userId);
    clearedAttempts.add(ctx);
  }

  /** A form post on a step's page with the flow's saved state (none yet: undefined); an invalid post is answered here. */
  async function postedStep(ctx: Context) {
    const post = await loadFormPost(ctx, services);
    if (!post) return undefined;
    return { ...post, state: await loadFlow(db, post.interaction.uid) };
  }

  /** Saves the next state and answers with a redirect to the page (POST → 303 → GET). */
  async function goTo(ctx: Context, interaction: Interaction, state: SignInState): Promise<void> {
    await saveFlow(db, interaction.uid, state);
    ctx.redirect(interactionUrl(interaction.uid));
    ctx.status = 303;
  }

  /**
   * `user`, when given, saves reading it again: it must be current in what the organization step
   * reads (identities and their verification, names); the sign-in counters recorded here do not matter.
   */
  async function afterFirstFactor(ctx: Context, interaction: Interaction, verified: Verified, identityId?: string, user?: User): Promise<void> {
    const { userId, amr, connectionId } = verified;
    await recordSignIn(db, userId, identityId, { application_id: interaction.app.id, amr, connection_id: connectionId });
    return continueToOrganization(ctx, interaction, verified, user);
  }

  /** Step 8 of the state machine: the organization the tokens speak for, or the switcher. */
  async function continueToOrganization(ctx: Context, interaction: Interaction, verified: Verified, known?: User): Promise<void> {
    const user = known ?? (await findUser(db, verified.userId));
    if (!user) return goTo(ctx, interaction, next.identify());
    const { organizationCode, createOrganizationNamed } = interaction.request;
    const choice = await chooseOrganization(db, user, { organizationCode, createOrganizationNamed }, interaction.policy);
    if ('refused' in choice) {
      // Not a member of an organization that takes no registrations: they may ask to join it.
      if (choice.refused === 'not_member' && organizationCode && interaction.policy.allowAccessRequests) {
        const email = primaryIdentity(user, 'email')?.value;
        return offerAccessRequest(ctx, interaction, next.requestAccess({ userId: user.id, email, firstName: user.firstName ?? undefined, lastName: user.lastName ?? undefined, requestedOrganization: organizationCode }));
      }
      await endFlow(db, interaction.uid);
      return refuseNonMember(ctx, interaction);
    }
    if ('switcher' in choice) return goTo(ctx, interaction, next.organizationChoice(verified, choice.switcher));
    return organizationDecided(ctx, interaction, verified, choice.organizationCode);
  }

  /**
   * Step 7, once the organization is known (its MFA policy may apply, section 054): a second step
   * when the policy asks for one and this sign-in has not done it yet (the SSO session remembers).
   */
  async function organizationDecided(ctx: Context, interaction: Interaction, verified: Verified, organizationCode: string): Promise<void> {
    const { userId, amr, connectionId } = verified;
    if (!amr.includes('mfa')) {
      const primaryChannel = amr.includes('sms') ? 'sms' : amr.includes('otp') ? 'email' : amr.includes('pwd') ? 'password' : 'other';
      // The connection reaches MFA so that an organization's exempt enterprise connections apply (section 054).
      const need = await mfaForSignIn(db, { userId, organizationCode, connectionId, primaryChannel });
      const known: OrganizationKnown = { verified, organizationCode };
      if (need.requirement !== 'none' && need.enrolled.length > 0) return goTo(ctx, interaction, await mfa.startChallenge(interaction, known, need.enrolled[0]!));
      if (need.requirement === 'required' && need.factors.length === 0) {
        await endFlow(db, interaction.uid);
        return showMessage(ctx, 503, 'Two-step verification is not set up', 'This sign-in needs a second step, but none is available. Ask the administrator to turn on another factor.', interaction.app);
      }
      if (need.requirement !== 'none') return goTo(ctx, interaction, next.mfaChoose(known, { factors: need.factors, skippable: need.requirement === 'optional' }));
    }
    return afterSecondStep(ctx, interaction, verified, organizationCode);
  }

  /** Step 9: a device waits for the person's consent; a browser sign-in is complete. */
  async function afterSecondStep(ctx: Context, interaction: Interaction, verified: Verified, organizationCode: string): Promise<void> {
    if (interaction.deviceCode) return goTo(ctx, interaction, next.consent({ verified, organizationCode }));
    return complete(ctx, interaction, verified, organizationCode);
  }

  /** Ends the interaction with a grant that speaks for the chosen organization (and, for a device, holds what was allowed). */
  async function complete(ctx: Context, interaction: Interaction, verified: Verified, organizationCode: string, consent?: DeviceConsent): Promise<void> {
    const { userId, amr } = verified;
    // Only a whole sign-in (password and second step) resets the shared attempt counter.
    await clearAttempts(ctx, userId);
    await touchMembership(db, organizationCode, userId);
    const provider = services.provider();
    const grant = new provider.Grant({ accountId: userId, clientId: interaction.app.id });
    if (consent) grantDeviceConsent(grant, consent);
    const grantId = await grant.save();
    await rememberGrantOrganization(db, grantId, organizationCode, GRANT_LIFETIME_SECONDS, verified.externalGroups);
    const organization = await findOrganization(db, organizationCode);
    const sessions = effectiveSessionPolicy(interaction.policy.sessions, interaction.app, organization?.sessionPolicy);
    // A non-persistent session is a browser-session cookie: gone when the browser closes (section 048).
    const result: InteractionResults = { login: { accountId: userId, amr, remember: sessions.persistent }, consent: { grantId } };
    // Saving the result ends the flow too: its state rides in the same row (protocol/interaction-flow-state.ts).
    const redirectTo = await finishInteraction(interaction, result);
    ctx.redirect(redirectTo);
    ctx.status = 303;
  }

  /** Where a code for this person goes: their email, else their phone (a username has an email). */
  function codeDestinationOf(user: User, preferred: IdentityType): { channel: 'email' | 'sms'; to: string } | undefined {
    if (preferred === 'phone') {
      const phone = primaryIdentity(user, 'phone');
      if (phone) return { channel: 'sms', to: phone.value };
    }
    const email = primaryIdentity(user, 'email');
    if (email) return { channel: 'email', to: email.value };
    const phone = primaryIdentity(user, 'phone');
    return phone ? { channel: 'sms', to: phone.value } : undefined;
  }

  /** The one code path (email or SMS); a failed send is said plainly and audited, never dropped. */
  async function deliverCode(
    interaction: Interaction,
    userId: string | undefined,
    purpose: CodePurpose,
    destination: { channel: 'email' | 'sms'; to: string },
  ): Promise<{ challengeId: string } | { error: string }> {
    const lock = await lockStatus(db, codeSubject(userId, destination));
    if (lock.locked) return { error: CODES_LOCKED_MESSAGE(lock.until) };
    const allowed = await mayIssueCode(db, destination.to, interaction.network, services.config.addressLimits.codes);
    if (!allowed.allowed) return { error: `Too many codes were requested. Try again at ${utcClockTime(allowed.retryAt)} UTC.` };
    const { challengeId, code } = await services.codes.issue(purpose, destination.to);
    try {
      await sendCode(services.senders(interaction.policy), {
        channel: destination.channel,
        purpose,
        to: destination.to,
        code,
        business: services.businessName(interaction.policy),
        boundDomain: new URL(services.config.issuer).hostname,
      });
      return { challengeId };
    } catch (error) {
      services.logger.error({ err: error, purpose, channel: destination.channel }, 'sending a one-time code failed');
      await recordAudit(db, { type: `${destination.channel === 'sms' ? 'sms' : 'email'}.send_failed`, subject: userId ?? null, data: { application_id: interaction.app.id, purpose } });
      return { error: `We could not send the ${destination.channel === 'sms' ? 'text message' : 'email'} just now. Please try again in a moment.` };
    }
  }

  /**
   * Sends a code and moves to the code page; when it cannot be sent, `fallback` — the page the person
   * came from — says why.
   */
  async function sendCodeStep(
    interaction: Interaction,
    origin: next.CodeOrigin,
    purpose: CodePurpose,
    destination: { channel: 'email' | 'sms'; to: string },
    fallback: SignInState,
  ): Promise<SignInState> {
    const sent = await deliverCode(interaction, origin.userId, purpose, destination);
    if ('error' in sent) return next.withError(fallback, sent.error);
    return next.code(origin, { purpose, challengeId: sent.challengeId, channel: destination.channel, destination: destination.to });
  }

  /** A code for an existing person (to their email, else their phone), or the identify page saying there is nowhere to send one. */
  async function sendCodeToPerson(interaction: Interaction, user: User, typed: Typed, purpose: 'sign_in' | 'reset_password', nowhere: string): Promise<SignInState> {
    const here = next.identify({ registering: typed.registering, identifier: typed.identifier });
    const destination = codeDestinationOf(user, typed.identifierType);
    if (!destination) return next.withError(here, nowhere);
    return sendCodeStep(interaction, { ...typed, userId: user.id }, purpose, destination, here);
  }

  /**
   * Why this sign-in may not write an account for someone who has none (section 021): the
   * environment's self sign-up is off, or the `org_code` organization would turn them away once the
   * account existed (its registrations, its domains; one that does not exist refuses everyone).
   * `accountEmail` is the email the account would have (see `refusesNewcomer`).
   */
  async function signUpRefusal(interaction: Interaction, accountEmail: string | undefined | 'later', options: { environment: boolean } = { environment: true }): Promise<SignUpRefusal | undefined> {
    const { organizationCode } = interaction.request;
    const organization = organizationCode ? await findOrganization(db, organizationCode) : undefined;
    if (options.environment && !interaction.policy.allowSelfSignUp) return { by: 'environment', organization };
    if (organizationCode && (!organization || refusesNewcomer(organization.policy, accountEmail))) return { by: 'organization', organization };
    return undefined;
  }

  /**
   * Answers a refused newcomer: with access requests on, the page that lets them ask (what the sign-in
   * knows of them filled in: the email typed, or a provider's email and names); else a plain refusal.
   * An organization that does not exist has no one to ask.
   */
  async function answerSignUpRefusal(ctx: Context, interaction: Interaction, refusal: SignUpRefusal, newcomer: Newcomer): Promise<void> {
    if (interaction.policy.allowAccessRequests && (refusal.by === 'environment' || refusal.organization)) {
      return offerAccessRequest(ctx, interaction, next.requestAccess({ ...newcomer, requestedOrganization: refusal.organization?.code }));
    }
    if (refusal.by === 'environment') {
      return showMessage(ctx, 403, 'Ask your administrator for access', 'We could not find an account for you, and new accounts are created by an administrator. Ask them to invite you.', interaction.app);
    }
    return refuseNonMember(ctx, interaction);
  }

  /** Section 042: "We can't find your account" when the organization does not let this person in. */
  function refuseNonMember(ctx: Context, interaction: Interaction): void {
    showMessage(ctx, 403, "We can't find your account", 'You are not a member of this organization. Ask its administrator to invite you.', interaction.app);
  }

  /** The gate before any account is written: true when sign-up is refused to this newcomer and the page is answered. */
  async function refuseNewcomer(ctx: Context, interaction: Interaction, newcomer: Newcomer, accountEmail: string | undefined | 'later'): Promise<boolean> {
    const refusal = await signUpRefusal(interaction, accountEmail);
    if (!refusal) return false;
    await answerSignUpRefusal(ctx, interaction, refusal, newcomer);
    return true;
  }

  /**
   * Section 021 for the identify step: an unknown person whom sign-up refuses may ask for access
   * (domain/access-requests.ts), the email they typed kept. True when the page is answered.
   */
  async function askForAccessWhenSignUpClosed(ctx: Context, interaction: Interaction, typed?: Identifier): Promise<boolean> {
    const email = typed?.type === 'email' ? typed.value : undefined;
    // A phone has no email to come; a username gives one on the next page; the register page knows none yet.
    const accountEmail = typed && typed.type !== 'username' ? email : 'later';
    return refuseNewcomer(ctx, interaction, { email }, accountEmail);
  }

  /** The request-access page in place of a refusal: a 403 (this sign-in lets nobody in), whose form may still ask. */
  async function offerAccessRequest(ctx: Context, interaction: Interaction, state: SignInState): Promise<void> {
    await saveFlow(db, interaction.uid, state);
    ctx.status = 403;
    await render(ctx, interaction, state);
  }

  /** A new identifier: collect what the application asks for, or send the code straight away. */
  async function startRegistration(interaction: Interaction, identifier: Identifier, registering: boolean | undefined): Promise<SignInState> {
    const state = next.register({ identifierType: identifier.type, identifier: identifier.value, registering });
    const { app } = interaction;
    const needsDetails = app.askForNames || app.askMarketingConsent || identifier.type === 'username' || interaction.methods[identifier.type]?.verification === 'password';
    if (needsDetails) return state;
    const destination = { channel: identifier.type === 'phone' ? ('sms' as const) : ('email' as const), to: identifier.value };
    return sendCodeStep(interaction, state, 'sign_up', destination, next.identify({ registering, identifier: identifier.value }));
  }

  return {
    postedStep,
    services,
    db,
    defaultCountry,
    render,
    mfa,
    goTo,
    afterFirstFactor,
    continueToOrganization,
    organizationDecided,
    afterSecondStep,
    complete,
    clearAttempts,
    attemptsClearedIn,
    codeDestinationOf,
    deliverCode,
    sendCodeStep,
    sendCodeToPerson,
    signUpRefusal,
    answerSignUpRefusal,
    refuseNewcomer,
    askForAccessWhenSignUpClosed,
    offerAccessRequest,
    startRegistration,
  };
}

export type SignInKit = ReturnType<typeof signInKit>;
