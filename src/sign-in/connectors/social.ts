import type Router from '@koa/router';
import type { Context } from 'koa';
import { DomainError } from '../../domain/errors.ts';
import { findSocialConnection, type SocialConnection } from '../../domain/social/connections.ts';
import {
  createSocialUser,
  emailOwner,
  findUserBySocialIdentity,
  linkSocialIdentity,
  type PendingSocialProfile,
  pendingProfileOf,
  socialIdentityId,
  socialNextStep,
  syncSocialProfile,
} from '../../domain/social/identities.ts';
import { beginSocialSignIn, completeSocialSignIn, providerCallsMayReachPrivateNetwork, SocialSignInError } from '../../domain/social/upstream.ts';
import { strategyNamed } from '../../domain/strategies.ts';
import type { User } from '../../domain/users.ts';
import { field } from '../../http/forms.ts';
import type { Services } from '../../services.ts';
import { emailProblem } from '../flow/identifiers.ts';
import { type Interaction, loadInteraction, showMessage } from '../flow/interaction.ts';
import { type FailureWhere, showFailurePage, UPSTREAM_FAILURE_PAGES } from './failure-page.ts';
import * as next from '../flow/machine.ts';
import { type CodeState, loadFlow, saveFlow, type SocialEmailState, type SocialRedirectState } from '../flow/state.ts';
import type { Newcomer, SignInKit } from '../flow/kit.ts';
import type { RedirectConnector } from './connector.ts';

/**
 * The social connector (sections 055–069, DESIGN.md §4 steps 4–6): a button (or `connection_id`)
 * begins the round trip, `/login/callback` (social-callback.ts) hands the provider's answer to
 * `/social/continue` on the browser's own interaction, and the person the provider vouched for is
 * found, linked or created before everything after the first factor takes over.
 */

/**
 * `amr` of a social sign-in: "fed", federated authentication (Microsoft identity platform's value
 * for "a federated assertion was used"; RFC 8176 registers none for it). The provider's own factors
 * are not known to us, so it never counts as MFA. An email code that proves the email for linking
 * does not change it: it proves ownership of the address, not a second sign-in factor.
 */
export const SOCIAL_AMR = ['fed'];

type Failure = SocialSignInError['kind'];

const providerNameOf = (strategy: string | undefined) => (strategy && strategyNamed(strategy)?.displayName) || 'the provider';

/** The social round trip's failure page (failure-page.ts), audited as `user.social_sign_in_failed`. */
export async function showSocialFailure(
  ctx: Context,
  services: Services,
  failure: { kind: Failure; upstreamCode?: string | undefined },
  where: FailureWhere & { strategy?: string | undefined },
  options: { audit: boolean } = { audit: true },
): Promise<void> {
  const page = UPSTREAM_FAILURE_PAGES[failure.kind];
  return showFailurePage(ctx, services, { auditType: 'user.social_sign_in_failed', ...failure, page, providerName: providerNameOf(where.strategy) }, where, options);
}

/**
 * The social connector behind the connector interface: its pages under `/interaction/:uid/social…`;
 * its callback, outside the interaction's path, is `socialCallbackRoutes` (social-callback.ts).
 */
export function socialConnector(kit: SignInKit): RedirectConnector {
  return {
    kind: 'redirect',
    routes: (router) => socialSteps(router, kit),
    begin: (ctx, interaction, connection) => beginSocial(kit, ctx, interaction, connection.id, interaction.request.registering),
  };
}

function socialSteps(router: Router, kit: SignInKit): void {
  const { postedStep, services, db, goTo } = kit;

  router.post('/social', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const registering = posted.state && 'registering' in posted.state ? posted.state.registering : undefined;
    return beginSocial(kit, ctx, posted.interaction, field(posted.form, 'connection_id') ?? '', registering);
  });

  /** The same-site hop from `/login/callback`: the interaction cookie proves this is the browser that began. */
  router.get('/social/continue', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    const flow = await loadFlow(db, interaction.uid);
    if (flow?.step !== 'social_redirect' || !flow.trip.callback) return showSocialFailure(ctx, services, { kind: 'bad_state' }, { uid: interaction.uid, applicationId: interaction.app.id });
    const { trip } = flow;
    // The round trip is single use: consumed before the provider is asked, whatever it answers.
    await saveFlow(db, interaction.uid, next.identify(flow));
    const where = { uid: interaction.uid, applicationId: interaction.app.id, connectionId: trip.connectionId };
    const connection = await offeredConnection(kit, interaction, trip.connectionId);
    if (!connection) return showSocialFailure(ctx, services, { kind: 'misconfigured' }, where);
    try {
      const profile = await completeSocialSignIn(connection, trip.callback!, { ...trip, allowPrivateNetwork: providerCallsMayReachPrivateNetwork(services.config) });
      return await continueWithProfile(kit, ctx, interaction, connection, pendingProfileOf(connection.id, profile), flow);
    } catch (error) {
      if (!(error instanceof SocialSignInError)) throw error;
      return showSocialFailure(ctx, services, error, { ...where, strategy: connection.strategy });
    }
  });

  /** The provider gave no email (X): the person types one, which a code then proves. */
  router.post('/social/email', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'social_email') return goTo(ctx, interaction, next.identify());
    const pending = state.profile;
    const email = (field(form, 'email') ?? '').trim();
    const problem = emailProblem(email);
    if (problem) return goTo(ctx, interaction, next.withError(state, problem));
    const connection = await offeredConnection(kit, interaction, pending.connectionId);
    if (!connection) return showSocialFailure(ctx, services, { kind: 'misconfigured' }, { uid: interaction.uid, applicationId: interaction.app.id, connectionId: pending.connectionId });
    return continueWithProfile(kit, ctx, interaction, connection, { ...pending, email, emailVerified: false }, state, true);
  });
}

/** The connection, opened, when this interaction offers it. */
async function offeredConnection(kit: SignInKit, interaction: Interaction, connectionId: string): Promise<SocialConnection | undefined> {
  if (!interaction.socialConnections.some((offered) => offered.id === connectionId)) return undefined;
  return findSocialConnection(kit.db, kit.services.masterKey, connectionId);
}

/** Starts the round trip: the secrets go in the flow (the database), the browser to the provider. */
export async function beginSocial(kit: SignInKit, ctx: Context, interaction: Interaction, connectionId: string, registering: boolean | undefined): Promise<void> {
  const { services } = kit;
  const connection = await offeredConnection(kit, interaction, connectionId);
  if (!connection) return kit.goTo(ctx, interaction, next.identify({ registering }, 'That sign-in option is not available here. Choose another.'));
  const redirectUri = `${services.config.issuer}/login/callback`;
  try {
    const begun = await beginSocialSignIn(connection, {
      redirectUri,
      flowId: interaction.uid,
      upstreamParams: { prompt: typeof interaction.params.prompt === 'string' ? interaction.params.prompt : undefined, login_hint: interaction.request.loginHint },
      allowPrivateNetwork: providerCallsMayReachPrivateNetwork(services.config),
    });
    await saveFlow(kit.db, interaction.uid, next.socialRedirect({ registering }, { connectionId: connection.id, state: begun.state, nonce: begun.nonce, codeVerifier: begun.codeVerifier, redirectUri }));
    ctx.redirect(begun.authorizationUrl);
    ctx.status = 303;
  } catch (error) {
    if (!(error instanceof SocialSignInError)) throw error;
    return showSocialFailure(ctx, services, error, { uid: interaction.uid, applicationId: interaction.app.id, connectionId, strategy: connection.strategy });
  }
}

/** Step 6 (DESIGN.md §4): who the provider's person is here — known, linked, new, or to be proven by email first. */
async function continueWithProfile(
  kit: SignInKit,
  ctx: Context,
  interaction: Interaction,
  connection: SocialConnection,
  pending: PendingSocialProfile,
  flow: SocialRedirectState | SocialEmailState,
  typedByPerson = false,
): Promise<void> {
  const { db } = kit;
  const known = await findUserBySocialIdentity(db, connection, pending.subject);
  const owner = !known && pending.email ? await emailOwner(db, pending.email) : undefined;
  const decided = socialNextStep({
    knownUserId: known?.id,
    email: pending.email,
    emailVerified: pending.emailVerified,
    typedByPerson,
    trusted: connection.isTrusted,
    owner: owner && { userId: owner.user.id, emailVerified: owner.emailVerified },
  });
  const registering = flow.registering;
  switch (decided.kind) {
    case 'sign_in':
      return signInAs(kit, ctx, interaction, connection, pending, known!, 'known');
    case 'link':
      return signInAs(kit, ctx, interaction, connection, pending, owner!.user, 'link', undefined);
    case 'create':
      return createAndSignIn(kit, ctx, interaction, connection, pending, decided.email);
    case 'ask_email':
      return kit.goTo(ctx, interaction, next.socialEmail({ registering }, pending));
    case 'verify_email': {
      // A newcomer whom sign-up refuses asks for access instead: the email is proven by that request's own code.
      if (!owner && (await kit.refuseNewcomer(ctx, interaction, newcomerOf(pending, undefined), decided.email))) return;
      // The code could not go out: back to where the email was typed (or the start), saying why.
      const fallback = flow.step === 'social_email' ? flow : next.identify({ registering });
      const origin = { identifierType: 'email' as const, identifier: decided.email, registering, socialProfile: pending };
      return kit.goTo(ctx, interaction, await kit.sendCodeStep(interaction, origin, owner ? 'sign_in' : 'sign_up', { channel: 'email', to: decided.email }, fallback));
    }
  }
}

/**
 * The email code was right (one-time-code.ts hands over here when the code served a social sign-in):
 * the provider's identity joins the account holding that email, or a new account with it.
 */
export async function finishSocialLink(kit: SignInKit, ctx: Context, interaction: Interaction, state: CodeState & { socialProfile: PendingSocialProfile }): Promise<void> {
  const pending = state.socialProfile;
  const email = state.destination;
  const connection = await offeredConnection(kit, interaction, pending.connectionId);
  if (!connection) return showSocialFailure(ctx, kit.services, { kind: 'misconfigured' }, { uid: interaction.uid, applicationId: interaction.app.id, connectionId: pending.connectionId });
  const owner = await emailOwner(kit.db, email);
  if (owner) return signInAs(kit, ctx, interaction, connection, { ...pending, email }, owner.user, 'link', email);
  return createAndSignIn(kit, ctx, interaction, connection, { ...pending, email }, email);
}

async function signInAs(
  kit: SignInKit,
  ctx: Context,
  interaction: Interaction,
  connection: SocialConnection,
  pending: PendingSocialProfile,
  user: User,
  how: 'known' | 'link',
  provenEmail?: string,
): Promise<void> {
  const { db } = kit;
  if (user.isSuspended) {
    return showMessage(ctx, 403, 'This account is suspended', 'Contact the application’s support team.', interaction.app);
  }
  let identityId: string | undefined;
  if (how === 'link') {
    try {
      identityId = await linkSocialIdentity(db, user.id, connection.strategy, pending, provenEmail);
    } catch (error) {
      if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
      return kit.goTo(ctx, interaction, next.identify(undefined, 'This account was just linked in another sign-in. Start again.'));
    }
  } else {
    identityId = await socialIdentityId(db, connection.strategy, connection.id, pending.subject);
  }
  if (connection.options.is_sync_user_profile_on_login) await syncSocialProfile(db, user, pending);
  return kit.afterFirstFactor(ctx, interaction, { userId: user.id, connectionId: connection.id, amr: SOCIAL_AMR }, identityId);
}

/**
 * What a request for access carries from the provider: its person, its names as defaults, and its
 * email. That email is filed as it is only when proven (`provenEmail`: a trusted provider vouched for
 * it, or a code proved it), the same rule a sign-up through the provider follows (`socialNextStep`);
 * an untrusted provider's "verified" is not taken on its word, so the request page asks for a code
 * to it, as the email request does. Nothing else would let a stranger file a request in the name of
 * an address they do not control.
 */
function newcomerOf(pending: PendingSocialProfile, provenEmail: string | undefined): Newcomer {
  return {
    email: provenEmail ?? pending.email,
    emailProven: provenEmail !== undefined,
    firstName: pending.givenName,
    lastName: pending.familyName,
    providerIdentity: { connectionId: pending.connectionId, subject: pending.subject, label: pending.label },
  };
}

async function createAndSignIn(kit: SignInKit, ctx: Context, interaction: Interaction, connection: SocialConnection, pending: PendingSocialProfile, provenEmail: string | undefined): Promise<void> {
  // Before anything is written: the account would have the proven email, or none (an untrusted provider's is left free).
  if (await kit.refuseNewcomer(ctx, interaction, newcomerOf(pending, provenEmail), provenEmail)) return;
  let user: User;
  try {
    user = await createSocialUser(kit.db, connection.strategy, pending, provenEmail, interaction.app.id);
  } catch (error) {
    // Someone took this email (or linked this provider account) meanwhile: the unique index let one win.
    if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
    return kit.goTo(ctx, interaction, next.identify(undefined, 'An account with these details was just created. Sign in again.'));
  }
  const identityId = user.identities.find((identity) => identity.connectionId === connection.id)?.id;
  return kit.afterFirstFactor(ctx, interaction, { userId: user.id, connectionId: connection.id, amr: SOCIAL_AMR }, identityId, user);
}
