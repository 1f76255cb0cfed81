import { randomBytes } from 'node:crypto';
import type Router from '@koa/router';
import type { Context } from 'koa';
import { type EnterpriseConnection, findEnterpriseConnection } from '../../domain/enterprise/connections.ts';
import {
  createEnterpriseUser,
  enterpriseIdentityLabel,
  linkEnterpriseIdentity,
  provisioningFacts,
  signInEnterpriseIdentity,
  vouchesForEmail,
} from '../../domain/enterprise/identities.ts';
import { completeEnterpriseOidcSignIn } from '../../domain/enterprise/oidc.ts';
import type { EnterpriseProfile } from '../../domain/enterprise/profile.ts';
import { autoJoinOrganization, enterpriseProvisioning } from '../../domain/enterprise/rules.ts';
import { completeSamlSignIn, SamlSignInError, type SamlSignInFailure } from '../../domain/enterprise/saml.ts';
import { beginEnterpriseSignIn } from '../../domain/enterprise/sign-in.ts';
import { DomainError } from '../../domain/errors.ts';
import { findOrganization } from '../../domain/organizations.ts';
import { providerCallsMayReachPrivateNetwork, SocialSignInError, type SocialSignInFailure } from '../../domain/social/upstream.ts';
import { findUser, type User } from '../../domain/users.ts';
import { field } from '../../http/forms.ts';
import type { Services } from '../../services.ts';
import { SamlPostPage } from '../../ui/pages/enterprise.tsx';
import { renderPage } from '../../ui/render.ts';
import { type Interaction, loadInteraction, showMessage } from '../flow/interaction.ts';
import type { Newcomer, SignInKit } from '../flow/kit.ts';
import * as next from '../flow/machine.ts';
import { type CodeState, type EnterpriseRedirectState, loadFlow, type PendingEnterpriseProfile, saveFlow, type Verified } from '../flow/state.ts';
import type { RedirectConnector } from './connector.ts';
import { type FailurePage, type FailureWhere, showFailurePage, UPSTREAM_FAILURE_PAGES } from './failure-page.ts';
import { SOCIAL_AMR } from './social.ts';

/**
 * The enterprise connector (sections 030–043, DESIGN.md §4 steps 4–6): SAML, Entra ID and custom
 * OIDC. It begins from a button, home-realm discovery or `connection_id`; the IdP answers at
 * `<issuer>/saml/callback` (SAML, enterprise-callback.ts) or `<issuer>/login/callback` (OIDC,
 * social-callback.ts), both hand on to `/enterprise/continue` on the browser's own interaction, and
 * provisioning (rules.ts `enterpriseProvisioning`) decides who the IdP's person is here.
 */

/** The same `amr` as a social sign-in ("fed"): the IdP's own factors are not known to us. */
export const ENTERPRISE_AMR = SOCIAL_AMR;

type Failure = SamlSignInFailure | SocialSignInFailure | 'not_found' | 'other_enterprise_identity';

const START_AGAIN = 'Start signing in again.';

const FAILURE_PAGES: Record<Exclude<Failure, SocialSignInFailure>, FailurePage> = {
  unsolicited: { status: 400, title: 'This sign-in could not be finished', message: (p) => `${p} sent a sign-in we did not ask for. Start signing in from this application instead.` },
  bad_in_response_to: { status: 400, title: 'This sign-in could not be finished', message: (p) => `The answer from ${p} does not belong to this sign-in: it may be old, or from another tab. ${START_AGAIN}` },
  invalid_signature: { status: 400, title: 'We could not verify this sign-in', message: (p) => `The proof of sign-in from ${p} did not pass our checks. ${START_AGAIN}` },
  wrong_issuer: { status: 400, title: 'We could not verify this sign-in', message: (p) => `The proof of sign-in did not come from ${p}. ${START_AGAIN}` },
  wrong_audience: { status: 400, title: 'We could not verify this sign-in', message: (p) => `The proof of sign-in from ${p} was meant for another application. ${START_AGAIN}` },
  wrong_recipient: { status: 400, title: 'We could not verify this sign-in', message: (p) => `The proof of sign-in from ${p} was sent to another address. ${START_AGAIN}` },
  expired: { status: 400, title: 'This sign-in has expired', message: (p) => `The proof of sign-in from ${p} is too old (or your clock is off). ${START_AGAIN}` },
  replayed: { status: 400, title: 'This sign-in was already used', message: (p) => `This proof of sign-in from ${p} was used before. ${START_AGAIN}` },
  idp_error: { status: 403, title: 'Your organization did not sign you in', message: (p) => `${p} could not sign you in to this application. Ask your administrator whether you have access to it.` },
  malformed: { status: 400, title: 'We could not read this sign-in', message: (p) => `The answer from ${p} was not a sign-in we understand. ${START_AGAIN}` },
  not_found: { status: 403, title: "We can't find your account", message: () => 'There is no account for you here yet. Ask your administrator to give you access.' },
  other_enterprise_identity: {
    status: 409,
    title: 'This account signs in another way',
    message: () => 'Your account here already signs in through another organization sign-in. Use that one, or ask your administrator.',
  },
};

const pageOf = (kind: Failure): FailurePage => (kind in FAILURE_PAGES ? FAILURE_PAGES[kind as keyof typeof FAILURE_PAGES] : UPSTREAM_FAILURE_PAGES[kind as SocialSignInFailure]);

/** An enterprise sign-in's failure page (failure-page.ts), audited as `user.enterprise_sign_in_failed`: the kind only, never the assertion. */
export async function showEnterpriseFailure(
  ctx: Context,
  services: Services,
  failure: { kind: Failure; upstreamCode?: string | undefined },
  where: FailureWhere & { providerName?: string | undefined },
  options: { audit: boolean } = { audit: true },
): Promise<void> {
  const { kind, upstreamCode } = failure;
  const providerName = where.providerName ?? 'your organization';
  return showFailurePage(ctx, services, { auditType: 'user.enterprise_sign_in_failed', kind, upstreamCode, page: pageOf(kind), providerName }, where, options);
}

export function enterpriseConnector(kit: SignInKit): RedirectConnector {
  return {
    kind: 'redirect',
    routes: (router) => enterpriseSteps(router, kit),
    begin: (ctx, interaction, connection) => beginEnterprise(kit, ctx, interaction, connection.id, { registering: interaction.request.registering }),
  };
}

function enterpriseSteps(router: Router, kit: SignInKit): void {
  const { postedStep, services, db } = kit;

  /** "Continue with <connection>" on the identify page. */
  router.post('/enterprise', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const registering = posted.state && 'registering' in posted.state ? posted.state.registering : undefined;
    return beginEnterprise(kit, ctx, posted.interaction, field(posted.form, 'connection_id') ?? '', { registering });
  });

  /** The same-site hop from the ACS or `/login/callback`: the interaction cookie proves this is the browser that began. */
  router.get('/enterprise/continue', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    const flow = await loadFlow(db, interaction.uid);
    const where = { uid: interaction.uid, applicationId: interaction.app.id };
    if (flow?.step !== 'enterprise_redirect' || !flow.trip.callback) return showEnterpriseFailure(ctx, services, { kind: 'bad_state' }, where);
    // The round trip is single use: consumed before the answer is checked, whatever it says.
    await saveFlow(db, interaction.uid, next.identify(flow));
    const connection = await offeredConnection(kit, interaction, flow.trip.connectionId);
    const at = { ...where, connectionId: flow.trip.connectionId, providerName: connection?.displayName };
    if (!connection) return showEnterpriseFailure(ctx, services, { kind: 'misconfigured' }, at);
    let profile: EnterpriseProfile;
    try {
      profile = await completeRoundTrip(services, connection, flow);
    } catch (error) {
      if (!(error instanceof SamlSignInError || error instanceof SocialSignInError)) throw error;
      return showEnterpriseFailure(ctx, services, { kind: error.kind, upstreamCode: error instanceof SocialSignInError ? error.upstreamCode : undefined }, at);
    }
    return provision(kit, ctx, interaction, connection, profile);
  });
}

function completeRoundTrip(services: Services, connection: EnterpriseConnection, flow: EnterpriseRedirectState): Promise<EnterpriseProfile> {
  const allowPrivateNetwork = providerCallsMayReachPrivateNetwork(services.config);
  const { trip } = flow;
  if (trip.protocol === 'saml') return completeSamlSignIn(connection, trip.callback!.SAMLResponse, trip.requestId, { db: services.db, issuer: services.config.issuer, allowPrivateNetwork });
  return completeEnterpriseOidcSignIn(connection, trip.callback!, { ...trip, allowPrivateNetwork });
}

/** The connection, opened, when this interaction offers it (an organization's own set, `connection_id`). */
async function offeredConnection(kit: SignInKit, interaction: Interaction, connectionId: string): Promise<Offered | undefined> {
  const offered = interaction.enterpriseConnections.find((candidate) => candidate.id === connectionId);
  const connection = offered && (await findEnterpriseConnection(kit.db, kit.services.masterKey, connectionId));
  return connection && { ...connection, displayName: offered.displayName };
}

/** An offered connection, with the name its pages call it by ("Acme SSO"). */
type Offered = EnterpriseConnection & { displayName: string };

/**
 * Sends the browser to the IdP: a redirect, or (SAML HTTP-POST binding) a page whose form posts the
 * AuthnRequest. The flow keeps what the way back must match; `RelayState` is the flow's handle.
 */
export async function beginEnterprise(
  kit: SignInKit,
  ctx: Context,
  interaction: Interaction,
  connectionId: string,
  from: { registering?: boolean | undefined; loginHint?: string | undefined },
): Promise<void> {
  const { services } = kit;
  const connection = await offeredConnection(kit, interaction, connectionId);
  if (!connection) return kit.goTo(ctx, interaction, next.identify(from, 'That sign-in option is not available here. Choose another.'));
  const prompt = typeof interaction.params.prompt === 'string' ? interaction.params.prompt : undefined;
  // The flow's handle, as a social `state` is (social/upstream.ts `flowIdOfState`): its id, then a secret.
  const relayState = `${interaction.uid}.${randomBytes(16).toString('base64url')}`;
  try {
    const begun = await beginEnterpriseSignIn(connection, {
      db: kit.db,
      issuer: services.config.issuer,
      allowPrivateNetwork: providerCallsMayReachPrivateNetwork(services.config),
      relayState,
      upstreamParams: { prompt, login_hint: interaction.request.loginHint },
      loginHint: from.loginHint,
      forceAuthn: prompt?.split(' ').includes('login'),
    });
    const trip = begun.protocol === 'saml' ? { protocol: 'saml' as const, ...begun.keep, relayState } : { protocol: 'oidc' as const, ...begun.keep };
    await saveFlow(kit.db, interaction.uid, next.enterpriseRedirect(from, trip));
    if (begun.send.binding === 'HTTP-POST') {
      return renderPage(ctx, SamlPostPage({ url: begun.send.url, fields: begun.send.fields, providerName: connection.displayName, appName: interaction.app.name }));
    }
    ctx.redirect(begun.send.url);
    ctx.status = 303;
  } catch (error) {
    if (!(error instanceof SamlSignInError || error instanceof SocialSignInError)) throw error;
    return showEnterpriseFailure(ctx, services, { kind: error.kind }, { uid: interaction.uid, applicationId: interaction.app.id, connectionId, providerName: connection.displayName });
  }
}

/** Step 6 (DESIGN.md §4): who the IdP's person is here — known, pre-provisioned, linked, new, or refused (section 042). */
async function provision(kit: SignInKit, ctx: Context, interaction: Interaction, connection: Offered, profile: EnterpriseProfile): Promise<void> {
  const { db, services } = kit;
  const where = { uid: interaction.uid, applicationId: interaction.app.id, connectionId: connection.id, providerName: connection.displayName };
  const { facts, identityId, preProvisionedIdentityId } = await provisioningFacts(db, connection, profile);
  const decided = enterpriseProvisioning(facts);
  switch (decided.action) {
    case 'refuse':
      // No account and no just-in-time provisioning: the connection's sign-up is closed, so the person may ask.
      if (decided.reason === 'not_found' && interaction.policy.allowAccessRequests) {
        // To the organization asked for, else the one whose own connection this is (approval makes a member).
        const asked = interaction.request.organizationCode ? await findOrganization(db, interaction.request.organizationCode) : undefined;
        const requestedOrganization = asked?.code ?? connection.organizationCode ?? undefined;
        return kit.offerAccessRequest(ctx, interaction, next.requestAccess({ ...newcomerOf(connection, profile), requestedOrganization }));
      }
      return showEnterpriseFailure(ctx, services, { kind: decided.reason }, where);
    case 'sign_in': {
      const user = await findUser(db, decided.userId);
      if (!user || suspended(ctx, interaction, user)) return;
      await signInEnterpriseIdentity(db, connection, user, profile);
      return kit.afterFirstFactor(ctx, interaction, verifiedBy(connection, user.id, profile), identityId);
    }
    case 'link':
      return link(kit, ctx, interaction, connection, profile, decided.userId, { overwriteProfile: decided.overwriteProfile, preProvisionedIdentityId });
    case 'verify_email_then_link': {
      const email = profile.email!;
      const pending: PendingEnterpriseProfile = { connectionId: connection.id, subject: profile.subject, email, givenName: profile.given_name, familyName: profile.family_name, externalGroups: profile.ext_groups };
      const origin = { identifierType: 'email' as const, identifier: email, userId: decided.userId, enterpriseProfile: pending };
      return kit.goTo(ctx, interaction, await kit.sendCodeStep(interaction, origin, 'sign_in', { channel: 'email', to: email }, next.identify()));
    }
    case 'create_user': {
      // Just-in-time provisioning is the connection's own switch (is_create_missing_user), which the
      // administrator turned on for this IdP's people whatever the environment's self sign-up says;
      // an organization that turns newcomers away still refuses, before anything is written, unless
      // this is its own connection that adds everyone who signs in through it (section 036).
      const asked = interaction.request.organizationCode;
      const joinsAsked = asked !== undefined && autoJoinOrganization(connection) === asked;
      const refusal = joinsAsked ? undefined : await kit.signUpRefusal(interaction, vouchesForEmail(connection, profile) ? profile.email : undefined, { environment: false });
      if (refusal) return kit.answerSignUpRefusal(ctx, interaction, refusal, newcomerOf(connection, profile));
      let user: User;
      try {
        user = await createEnterpriseUser(db, connection, profile, interaction.app.id);
      } catch (error) {
        if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
        return kit.goTo(ctx, interaction, next.identify(undefined, 'An account with these details was just created. Sign in again.'));
      }
      const created = user.identities.find((identity) => identity.connectionId === connection.id)?.id;
      return kit.afterFirstFactor(ctx, interaction, verifiedBy(connection, user.id, profile), created, user);
    }
  }
}

/**
 * What a request for access carries from the IdP: its person, its names, and its email, filed as it
 * is only when the connection vouches for it (`vouchesForEmail`, the rule linking follows); else the
 * request page asks for a code to it, as the email request does.
 */
function newcomerOf(connection: Offered, profile: EnterpriseProfile): Newcomer {
  return {
    email: profile.email,
    emailProven: vouchesForEmail(connection, profile),
    firstName: profile.given_name,
    lastName: profile.family_name,
    providerIdentity: { connectionId: connection.id, subject: profile.subject, label: enterpriseIdentityLabel(profile) },
  };
}

function suspended(ctx: Context, interaction: Interaction, user: User): boolean {
  if (!user.isSuspended) return false;
  showMessage(ctx, 403, 'This account is suspended', 'Contact the application’s support team.', interaction.app);
  return true;
}

async function link(
  kit: SignInKit,
  ctx: Context,
  interaction: Interaction,
  connection: Offered,
  profile: EnterpriseProfile,
  userId: string,
  how: { overwriteProfile: boolean; preProvisionedIdentityId?: string | undefined; provenEmail?: string | undefined },
): Promise<void> {
  const user = await findUser(kit.db, userId);
  if (!user || suspended(ctx, interaction, user)) return;
  let identityId: string;
  try {
    identityId = await linkEnterpriseIdentity(kit.db, userId, connection, profile, how);
  } catch (error) {
    if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
    const where = { uid: interaction.uid, applicationId: interaction.app.id, connectionId: connection.id, providerName: connection.displayName };
    return showEnterpriseFailure(ctx, kit.services, { kind: 'other_enterprise_identity' }, where);
  }
  return kit.afterFirstFactor(ctx, interaction, verifiedBy(connection, userId, profile), identityId);
}

/** The first factor's result (DESIGN.md §4): the IdP proved the person, and said which groups they are in. */
const verifiedBy = (connection: Offered, userId: string, profile: EnterpriseProfile): Verified => ({ userId, connectionId: connection.id, amr: ENTERPRISE_AMR, externalGroups: profile.ext_groups });

/** The email code was right (one-time-code.ts hands over here): the untrusted IdP's identity joins the account holding that email. */
export async function finishEnterpriseLink(kit: SignInKit, ctx: Context, interaction: Interaction, state: CodeState & { userId: string; enterpriseProfile: PendingEnterpriseProfile }): Promise<void> {
  const pending = state.enterpriseProfile;
  const connection = await offeredConnection(kit, interaction, pending.connectionId);
  const where = { uid: interaction.uid, applicationId: interaction.app.id, connectionId: pending.connectionId, providerName: connection?.displayName };
  if (!connection) return showEnterpriseFailure(ctx, kit.services, { kind: 'misconfigured' }, where);
  const profile: EnterpriseProfile = { subject: pending.subject, email: pending.email, given_name: pending.givenName, family_name: pending.familyName, attributes: {}, ext_groups: pending.externalGroups };
  return link(kit, ctx, interaction, connection, profile, state.userId, { overwriteProfile: false, provenEmail: state.destination });
}
