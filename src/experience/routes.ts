import Router from '@koa/router';
import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import { clock } from '../clock.ts';
import { clearFailedAttempts, lockStatus, recordFailedAttempt } from '../domain/attack-protection.ts';
import { recordAudit } from '../domain/audit.ts';
import { DomainError } from '../domain/errors.ts';
import { sendCode } from '../domain/messaging/codes.ts';
import type { CodePurpose } from '../domain/one-time-codes.ts';
import { checkPassword, hashPassword, passwordProblem, passwordStatus, setPassword } from '../domain/passwords.ts';
import {
  createUser,
  findUser,
  findUserByIdentity,
  type Identity,
  type IdentityType,
  markIdentityVerified,
  type NewIdentity,
  normalizeIdentity,
  primaryIdentity,
  recordSignIn,
  updateUser,
  type User,
} from '../domain/users.ts';
import { field } from '../http/forms.ts';
import type { Services } from '../services.ts';
import { emailProblem, type Identifier, parseIdentifier, parseLoginHint } from './identifiers.ts';
import { type Interaction, interactionUrl, loadFormPost, loadInteraction, showMessage } from './interaction.ts';
import { amrFor, offeredIdentityTypes } from './methods.ts';
import { renderStep } from './step-pages.ts';
import { mfaSteps } from './mfa-steps.ts';
import { mfaForSignIn } from '../domain/mfa.ts';
import { chooseOrganization } from './organization-choice.ts';
import { findOrganization, organizationsOf, touchMembership } from '../domain/organizations.ts';
import { effectiveSessionPolicy } from '../domain/sessions.ts';
import { rememberGrantOrganization } from '../protocol/grant-organizations.ts';
import { GRANT_LIFETIME_SECONDS, ORGANIZATION_PROMPT_REASON } from '../protocol/interaction-policy.ts';
import { endFlow, loadFlow, saveFlow, type SignInState } from './sign-in-flow.ts';
import { type DeviceConsent, deviceConsentFor, grantDeviceConsent } from './device-consent.ts';

/** A new code may be asked for this long after the last one (section 013: resend with cool-down). */
export const RESEND_COOL_DOWN_MS = 30_000;

const LOCKED_MESSAGE = (until: number) =>
  `Too many wrong attempts: this account is locked until ${new Date(until).toISOString().slice(11, 16)} UTC. Try again then, or reset your password.`;

function identityMatching(user: User, type: IdentityType | undefined, value: string | undefined): Identity | undefined {
  if (!type || !value) return undefined;
  const normalized = normalizeIdentity(type, value);
  return user.identities.find((identity) => identity.type === type && normalizeIdentity(type, identity.value) === normalized);
}

export function signInRoutes(services: Services): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const { db } = services;
  const defaultCountry = () => services.config.defaultPhoneCountry;
  const mfa = mfaSteps({ services, goTo, afterSecondStep, deliverCode, lockedMessage: LOCKED_MESSAGE });
  const render = (ctx: Context, interaction: Interaction, state: SignInState) => renderStep(services, ctx, interaction, state);

  /** Saves the next state and answers with a redirect to the page (POST → 303 → GET). */
  async function goTo(ctx: Context, interaction: Interaction, state: SignInState): Promise<void> {
    await saveFlow(db, interaction.uid, state);
    ctx.redirect(interactionUrl(interaction.uid));
    ctx.status = 303;
  }

  async function finish(ctx: Context, interaction: Interaction, userId: string, amr: string[], identityId?: string): Promise<void> {
    await recordSignIn(db, userId, identityId);
    await recordAudit(db, { type: 'user.authenticated', actor: userId, subject: userId, data: { application_id: interaction.app.id, amr } });
    return continueToOrganization(ctx, interaction, userId, amr);
  }

  /** Step 8 of the state machine: the organization the tokens speak for, or the switcher. */
  async function continueToOrganization(ctx: Context, interaction: Interaction, userId: string, amr: string[]): Promise<void> {
    const user = await findUser(db, userId);
    if (!user) return goTo(ctx, interaction, { step: 'identify' });
    const { params } = interaction;
    const choice = await chooseOrganization(
      db,
      user,
      {
        organizationCode: typeof params.org_code === 'string' ? params.org_code : undefined,
        createOrganizationNamed: params.is_create_org === 'true' ? (typeof params.org_name === 'string' ? params.org_name : '') : undefined,
      },
      interaction.policy,
    );
    if ('refused' in choice) {
      await endFlow(db, interaction.uid);
      // Section 042: "We can't find your account" when the organization does not let this person in.
      return showMessage(ctx, 403, "We can't find your account", 'You are not a member of this organization. Ask its administrator to invite you.', interaction.app);
    }
    if ('switcher' in choice) return goTo(ctx, interaction, { step: 'organization', userId, amr, organizations: choice.switcher });
    return organizationDecided(ctx, interaction, userId, amr, choice.organizationCode);
  }

  /**
   * Step 7, once the organization is known (its MFA policy may apply, section 054): a second step
   * when the policy asks for one and this sign-in has not done it yet (the SSO session remembers).
   */
  async function organizationDecided(ctx: Context, interaction: Interaction, userId: string, amr: string[], organizationCode: string): Promise<void> {
    if (!amr.includes('mfa')) {
      const primaryChannel = amr.includes('sms') ? 'sms' : amr.includes('otp') ? 'email' : amr.includes('pwd') ? 'password' : 'other';
      const need = await mfaForSignIn(db, { userId, organizationCode, primaryChannel });
      const base: SignInState = { step: 'mfa_choose', userId, amr, organizationCode };
      if (need.requirement !== 'none' && need.enrolled.length > 0) return goTo(ctx, interaction, await mfa.startChallenge(interaction, base, need.enrolled[0]!));
      if (need.requirement === 'required' && need.factors.length === 0) {
        await endFlow(db, interaction.uid);
        return showMessage(ctx, 503, 'Two-step verification is not set up', 'This sign-in needs a second step, but none is available. Ask the administrator to turn on another factor.', interaction.app);
      }
      if (need.requirement !== 'none') return goTo(ctx, interaction, { ...base, mfaFactors: need.factors, mfaSkippable: need.requirement === 'optional' });
    }
    return afterSecondStep(ctx, interaction, userId, amr, organizationCode);
  }

  /** Step 9: a device waits for the person's consent; a browser sign-in is complete. */
  async function afterSecondStep(ctx: Context, interaction: Interaction, userId: string, amr: string[], organizationCode: string): Promise<void> {
    if (interaction.deviceCode) return goTo(ctx, interaction, { step: 'consent', userId, amr, organizationCode });
    return complete(ctx, interaction, userId, amr, organizationCode);
  }

  /** Ends the interaction with a grant that speaks for the chosen organization (and, for a device, holds what was allowed). */
  async function complete(ctx: Context, interaction: Interaction, userId: string, amr: string[], organizationCode: string, consent?: DeviceConsent): Promise<void> {
    // Only a whole sign-in (password and second step) resets the shared attempt counter.
    await clearFailedAttempts(db, userId);
    await touchMembership(db, organizationCode, userId);
    const provider = services.provider();
    const grant = new provider.Grant({ accountId: userId, clientId: interaction.app.id });
    if (consent) grantDeviceConsent(grant, consent);
    const grantId = await grant.save();
    await rememberGrantOrganization(db, grantId, organizationCode, GRANT_LIFETIME_SECONDS);
    await endFlow(db, interaction.uid);
    const organization = await findOrganization(db, organizationCode);
    const sessions = effectiveSessionPolicy(interaction.policy.sessions, interaction.app, organization?.sessionPolicy);
    // A non-persistent session is a browser-session cookie: gone when the browser closes (section 048).
    const result: InteractionResults = { login: { accountId: userId, amr, remember: sessions.persistent }, consent: { grantId } };
    const redirectTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
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
    state: SignInState,
    purpose: CodePurpose,
    destination: { channel: 'email' | 'sms'; to: string },
  ): Promise<{ challengeId: string } | { error: string }> {
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
      await recordAudit(db, { type: `${destination.channel === 'sms' ? 'sms' : 'email'}.send_failed`, subject: state.userId ?? null, data: { application_id: interaction.app.id, purpose } });
      return { error: `We could not send the ${destination.channel === 'sms' ? 'text message' : 'email'} just now. Please try again in a moment.` };
    }
  }

  async function sendCodeStep(
    interaction: Interaction,
    state: SignInState,
    purpose: CodePurpose,
    destination: { channel: 'email' | 'sms'; to: string },
  ): Promise<SignInState> {
    const sent = await deliverCode(interaction, state, purpose, destination);
    if ('error' in sent) return { ...state, error: sent.error };
    return {
      ...state,
      step: 'code',
      challengeId: sent.challengeId,
      codePurpose: purpose,
      codeChannel: destination.channel,
      codeDestination: destination.to,
      codeSentAt: clock.now(),
      error: undefined,
      notice: undefined,
    };
  }

  /** An identified, existing person: on to their password or a code, as the application's method says. */
  async function signInExisting(interaction: Interaction, user: User, identifier: Identifier, base: SignInState): Promise<SignInState> {
    const state: SignInState = { ...base, step: 'identify', identifierType: identifier.type, identifier: identifier.value, userId: user.id, registering: base.registering };
    if (user.isSuspended) return { ...state, error: 'This account is suspended. Contact the application’s support team.' };
    const verification = interaction.methods[identifier.type]?.verification;
    const destination = codeDestinationOf(user, identifier.type);
    if (verification === 'password') {
      if (user.isPasswordResetRequested || !(await passwordStatus(db, user.id)).hasPassword) {
        if (!destination) return { ...state, error: 'This account needs a new password, but has no email or phone to send a code to.' };
        return sendCodeStep(interaction, { ...state, notice: undefined }, 'reset_password', destination);
      }
      return { ...state, step: 'password' };
    }
    if (!destination) return { ...state, error: 'This account has no email or phone to send a code to.' };
    return sendCodeStep(interaction, state, 'sign_in', destination);
  }

  /** Section 021: with self sign-up off, unknown people are told to ask their administrator. */
  function selfSignUpClosed(ctx: Context, interaction: Interaction): boolean {
    if (interaction.policy.allowSelfSignUp) return false;
    showMessage(ctx, 403, 'Ask your administrator for access', 'We could not find an account for you, and new accounts are created by an administrator. Ask them to invite you.', interaction.app);
    return true;
  }

  /** A new identifier: collect what the application asks for, or send the code straight away. */
  async function startRegistration(interaction: Interaction, identifier: Identifier, base: SignInState): Promise<SignInState> {
    const state: SignInState = { ...base, step: 'register', identifierType: identifier.type, identifier: identifier.value, userId: undefined };
    const { app } = interaction;
    const needsDetails = app.askForNames || app.askMarketingConsent || identifier.type === 'username' || interaction.methods[identifier.type]?.verification === 'password';
    if (needsDetails) return state;
    return sendCodeStep(interaction, state, 'sign_up', { channel: identifier.type === 'phone' ? 'sms' : 'email', to: identifier.value });
  }

  async function proceedWith(ctx: Context, interaction: Interaction, identifier: Identifier, base: SignInState): Promise<void> {
    const user = await findUserByIdentity(db, identifier.type, identifier.value);
    if (user) return goTo(ctx, interaction, await signInExisting(interaction, user, identifier, base));
    if (selfSignUpClosed(ctx, interaction)) return;
    return goTo(ctx, interaction, await startRegistration(interaction, identifier, base));
  }

  /**
   * The first page. With `connection_id` and a `login_hint` for it, a custom sign-in screen already
   * asked for the identity: go straight to its password or code (section 020).
   */
  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    const saved = await loadFlow(db, interaction.uid);
    if (saved) return render(ctx, interaction, saved);
    // Already signed in; the engine only needs an organization decided (e.g. a new org_code), or a
    // device needs the person's consent.
    const onlyOrganization = interaction.promptReasons.every((reason) => reason === ORGANIZATION_PROMPT_REASON);
    if (interaction.signedInUserId && (onlyOrganization || interaction.promptName === 'consent')) {
      return continueToOrganization(ctx, interaction, interaction.signedInUserId, ['sso', ...interaction.signedInAmr.filter((value) => value === 'mfa')]);
    }
    const registering = interaction.params.start_page === 'registration';
    const hint = parseLoginHint(interaction.params.login_hint, defaultCountry());
    const usableHint = hint && interaction.methods[hint.type] ? hint : undefined;
    const initial: SignInState = { step: 'identify', registering, identifierType: usableHint?.type, identifier: usableHint?.value };
    if (usableHint && typeof interaction.params.connection_id === 'string') return proceedWith(ctx, interaction, usableHint, initial);
    await render(ctx, interaction, initial);
  });

  router.get('/sign-in', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    const previous = await loadFlow(db, interaction.uid);
    await goTo(ctx, interaction, { step: 'identify', registering: false, identifier: previous?.identifier });
  });

  router.get('/register', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    if (selfSignUpClosed(ctx, interaction)) return;
    const previous = await loadFlow(db, interaction.uid);
    await goTo(ctx, interaction, { step: 'identify', registering: true, identifier: previous?.identifier });
  });

  router.post('/identify', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = (await loadFlow(db, interaction.uid)) ?? { step: 'identify' };
    const typed = field(form, 'identifier') ?? '';
    const parsed = parseIdentifier(typed, offeredIdentityTypes(interaction.methods), defaultCountry());
    if ('problem' in parsed) return goTo(ctx, interaction, { step: 'identify', registering: state.registering, identifier: typed.trim(), error: parsed.problem });
    return proceedWith(ctx, interaction, parsed, { step: 'identify', registering: state.registering });
  });

  router.post('/register', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'register' || !state.identifierType || !state.identifier) return goTo(ctx, interaction, { step: 'identify', registering: true });
    const identifier: Identifier = { type: state.identifierType, value: state.identifier };
    const firstName = field(form, 'given_name')?.trim() || undefined;
    const lastName = field(form, 'family_name')?.trim() || undefined;
    const email = identifier.type === 'username' ? (field(form, 'email') ?? '').trim() : undefined;
    const acceptsMarketing = interaction.app.askMarketingConsent && field(form, 'accepts_marketing') === 'yes';
    const retry = (error: string) => goTo(ctx, interaction, { ...state, firstName, lastName, email, acceptsMarketing, error, notice: undefined });

    if (interaction.app.askForNames && (!firstName || !lastName)) return retry('Enter your first and last name');
    if ((firstName?.length ?? 0) > 100 || (lastName?.length ?? 0) > 100) return retry('Names can be at most 100 characters');
    if (email !== undefined) {
      const problem = emailProblem(email);
      if (problem) return retry(problem);
      if (await findUserByIdentity(db, 'email', email)) return retry('That email already belongs to another account. Sign in with it instead, or use another email.');
    }
    let pendingPasswordHash: string | undefined;
    if (interaction.methods[identifier.type]?.verification === 'password') {
      const problem = passwordProblem(field(form, 'password') ?? '');
      if (problem) return retry(problem);
      pendingPasswordHash = await hashPassword(field(form, 'password')!);
    }
    // Someone registered this identifier meanwhile (or it was never new): sign in instead (unified sign-up).
    const existing = await findUserByIdentity(db, identifier.type, identifier.value);
    if (existing) return goTo(ctx, interaction, await signInExisting(interaction, existing, identifier, { step: 'identify', registering: true }));
    const next: SignInState = { ...state, firstName, lastName, email, acceptsMarketing, pendingPasswordHash, error: undefined };
    const destination = identifier.type === 'phone' ? { channel: 'sms' as const, to: identifier.value } : { channel: 'email' as const, to: email ?? identifier.value };
    return goTo(ctx, interaction, await sendCodeStep(interaction, next, 'sign_up', destination));
  });

  router.post('/password', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'password' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const lock = await lockStatus(db, state.userId);
    if (lock.locked) return goTo(ctx, interaction, { ...state, error: LOCKED_MESSAGE(lock.until), notice: undefined });
    const check = await checkPassword(db, state.userId, field(form, 'password') ?? '');
    if (check !== 'wrong') {
      if (check === 'right_but_temporary') {
        await clearFailedAttempts(db, state.userId);
        return goTo(ctx, interaction, { ...state, step: 'new_password', newPasswordReason: 'temporary', error: undefined });
      }
      const user = await findUser(db, state.userId);
      const identity = user && identityMatching(user, state.identifierType, state.identifier);
      // Section 004: an email is verified once; a password alone does not prove the person owns it.
      if (identity?.type === 'email' && !identity.isVerified) {
        await clearFailedAttempts(db, state.userId);
        return goTo(ctx, interaction, await sendCodeStep(interaction, { ...state, verifiedPassword: true }, 'sign_in', { channel: 'email', to: identity.value }));
      }
      return finish(ctx, interaction, state.userId, ['pwd'], identity?.id);
    }
    const after = await recordFailedAttempt(db, state.userId, interaction.policy.attackProtection);
    await recordAudit(db, { type: 'user.authentication_failed', subject: state.userId, data: { application_id: interaction.app.id, reason: 'wrong_password', locked: after.locked } });
    return goTo(ctx, interaction, { ...state, error: after.locked ? LOCKED_MESSAGE(after.until) : 'That password is not right. Try again.', notice: undefined });
  });

  /** Forgot password (section 012): a code to the person's email, then a new password. */
  router.post('/forgot', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction } = post;
    const state = await loadFlow(db, interaction.uid);
    const user = state?.userId ? await findUser(db, state.userId) : undefined;
    if (!state || !user) return goTo(ctx, interaction, { step: 'identify' });
    const destination = codeDestinationOf(user, state.identifierType ?? 'email');
    if (!destination) return goTo(ctx, interaction, { ...state, error: 'This account has no email or phone to send a reset code to.' });
    return goTo(ctx, interaction, await sendCodeStep(interaction, { ...state, error: undefined }, 'reset_password', destination));
  });

  router.post('/resend', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'code' || !state.codePurpose || !state.codeDestination || !state.codeChannel) return goTo(ctx, interaction, { step: 'identify' });
    const waitMs = (state.codeSentAt ?? 0) + RESEND_COOL_DOWN_MS - clock.now();
    if (waitMs > 0) return goTo(ctx, interaction, { ...state, error: `Wait ${Math.ceil(waitMs / 1000)} seconds before asking for another code.`, notice: undefined });
    const next = await sendCodeStep(interaction, state, state.codePurpose, { channel: state.codeChannel, to: state.codeDestination });
    return goTo(ctx, interaction, next.error ? next : { ...next, notice: 'We sent a new code. Use the newest one.' });
  });

  router.post('/code', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'code' || !state.challengeId || !state.codePurpose || !state.identifierType || !state.identifier) {
      return goTo(ctx, interaction, { step: 'identify' });
    }
    const outcome = await services.codes.check(state.challengeId, state.codePurpose, field(form, 'code') ?? '');
    if (outcome === 'wrong') return goTo(ctx, interaction, { ...state, error: 'That code is not right. Check the message and try again.', notice: undefined });
    if (outcome !== 'accepted') {
      const error = outcome === 'expired' ? 'That code has expired. Start again to get a new one.' : 'Too many wrong codes. Start again to get a new one.';
      return goTo(ctx, interaction, { step: 'identify', registering: state.registering, identifier: state.identifier, error });
    }
    const amr = [amrFor('code', state.codeChannel ?? 'email')];

    if (state.codePurpose === 'reset_password') return goTo(ctx, interaction, { ...state, step: 'new_password', newPasswordReason: 'reset', error: undefined, notice: undefined });

    if (state.codePurpose === 'sign_in' && state.userId) {
      // The code proved the identity it was sent to.
      const user = await findUser(db, state.userId);
      const identity = user && (identityMatching(user, state.codeChannel === 'sms' ? 'phone' : 'email', state.codeDestination) ?? identityMatching(user, state.identifierType, state.identifier));
      if (identity && !identity.isVerified) await markIdentityVerified(db, identity.id);
      return finish(ctx, interaction, state.userId, state.verifiedPassword ? ['pwd', ...amr] : amr, identity?.id);
    }

    const identities: NewIdentity[] = [{ type: state.identifierType, value: state.identifier, isVerified: true, connectionId: interaction.methods[state.identifierType]?.connectionId ?? null }];
    if (state.email) identities.push({ type: 'email', value: state.email, isVerified: true, connectionId: null });
    let user: User;
    try {
      user = await createUser(db, {
        firstName: state.firstName ?? null,
        lastName: state.lastName ?? null,
        identities,
        passwordHash: state.pendingPasswordHash,
        acceptsMarketing: state.acceptsMarketing,
      });
    } catch (error) {
      // Two sign-ups raced for the same identifier (e.g. `Bob` and `bob`): the unique index let one win.
      if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
      const taken = state.identifierType === 'username' ? 'That username was just taken. Choose another.' : 'An account with these details was just created. Sign in instead.';
      return goTo(ctx, interaction, { step: 'identify', registering: true, error: taken });
    }
    await recordAudit(db, { type: 'user.created', actor: user.id, subject: user.id, data: { application_id: interaction.app.id } });
    return finish(ctx, interaction, user.id, state.pendingPasswordHash ? ['pwd', ...amr] : amr, user.identities[0]?.id);
  });

  router.post('/new-password', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'new_password' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const password = field(form, 'password') ?? '';
    const problem = passwordProblem(password);
    if (problem) return goTo(ctx, interaction, { ...state, error: problem });
    await setPassword(db, state.userId, password);
    await updateUser(db, state.userId, { isPasswordResetRequested: false });
    await recordAudit(db, { type: 'user.password_changed', actor: state.userId, subject: state.userId, data: { application_id: interaction.app.id, reason: state.newPasswordReason } });
    const amr = state.newPasswordReason === 'temporary' ? ['pwd'] : [amrFor('code', state.codeChannel ?? 'email')];
    return finish(ctx, interaction, state.userId, amr);
  });

  router.post('/organization', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'organization' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const chosen = field(form, 'org_code');
    const mine = await organizationsOf(db, state.userId);
    if (!chosen || !mine.some((org) => org.code === chosen)) return goTo(ctx, interaction, { ...state, error: 'Choose one of your organizations.' });
    return organizationDecided(ctx, interaction, state.userId, state.amr ?? [], chosen);
  });

  /**
   * The device's consent (sections 027–028). Allow: the grant holds the OpenID scopes asked for and
   * the audience scopes the person's roles give. Deny: the device's next poll gets `access_denied`.
   */
  router.post('/consent', async (ctx) => {
    const post = await loadFormPost(ctx, services);
    if (!post) return;
    const { interaction, form } = post;
    const state = await loadFlow(db, interaction.uid);
    if (state?.step !== 'consent' || !state.userId || !state.organizationCode || !interaction.deviceCode) return goTo(ctx, interaction, { step: 'identify' });
    const decision = field(form, 'decision');
    const audit = { actor: state.userId, subject: state.userId };
    if (decision === 'allow') {
      const consent = await deviceConsentFor(db, interaction.params, interaction.app.id, state.userId, state.organizationCode);
      const scopes = [...consent.openIdScopes, ...consent.audiences.flatMap((audience) => audience.scopes)];
      await recordAudit(db, { type: 'device.authorized', ...audit, data: { application_id: interaction.app.id, organization_code: state.organizationCode, scopes } });
      return complete(ctx, interaction, state.userId, state.amr ?? [], state.organizationCode, consent);
    }
    if (decision !== 'deny') return goTo(ctx, interaction, state);
    await recordAudit(db, { type: 'device.denied', ...audit, data: { application_id: interaction.app.id } });
    await endFlow(db, interaction.uid);
    const result: InteractionResults = { error: 'access_denied', error_description: 'the person did not allow the device' };
    const redirectTo = await services.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(redirectTo);
    ctx.status = 303;
  });

  mfa.register(router);

  return router;
}
