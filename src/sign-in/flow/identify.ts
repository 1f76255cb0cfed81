import type Router from '@koa/router';
import { hashPassword, passwordProblem } from '../../domain/passwords.ts';
import { findUserByIdentity, type User } from '../../domain/users.ts';
import { connectionForEmailDomain } from '../../domain/enterprise/connections.ts';
import { field } from '../../http/forms.ts';
import { emailProblem, type Identifier, parseIdentifier, parseLoginHint } from './identifiers.ts';
import { identifyTypes, type Interaction, loadInteraction } from './interaction.ts';
import type { IdentityConnectors } from '../connectors/connector.ts';
import type { Context } from 'koa';
import { ORGANIZATION_PROMPT_REASON } from '../../protocol/interaction-policy.ts';
import * as next from './machine.ts';
import { loadFlow, type SignInState } from './state.ts';
import { type SignInKit } from './kit.ts';
import { beginSocial } from '../connectors/social.ts';
import { beginEnterprise } from '../connectors/enterprise.ts';

/** Steps 1–2: the first page, identifying the person, and registering someone new. */
export function identifySteps(router: Router, kit: SignInKit, connectors: IdentityConnectors): void {
  const { postedStep, services, db, defaultCountry, render, goTo, continueToOrganization, sendCodeStep, askForAccessWhenSignUpClosed, startRegistration } = kit;

  /** An identified, existing person: on to the connector of the application's method for what they typed. */
  async function signInExisting(interaction: Interaction, user: User, identifier: Identifier, registering: boolean | undefined): Promise<SignInState> {
    if (user.isSuspended) return next.identify({ registering, identifier: identifier.value }, 'This account is suspended. Contact the application’s support team.');
    const connector = interaction.methods[identifier.type]?.verification === 'password' ? connectors.password : connectors.code;
    return connector.begin(interaction, user, { identifierType: identifier.type, identifier: identifier.value, registering });
  }

  async function proceedWith(ctx: Context, interaction: Interaction, identifier: Identifier, registering: boolean | undefined): Promise<void> {
    const user = await findUserByIdentity(db, identifier.type, identifier.value);
    if (user) return goTo(ctx, interaction, await signInExisting(interaction, user, identifier, registering));
    if (await askForAccessWhenSignUpClosed(ctx, interaction, identifier)) return;
    return goTo(ctx, interaction, await startRegistration(interaction, identifier, registering));
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
      // The session does not say which connection proved the person: no connection exemption applies.
      return continueToOrganization(ctx, interaction, { userId: interaction.signedInUserId, connectionId: undefined, amr: ['sso', ...interaction.signedInAmr.filter((value) => value === 'mfa')] });
    }
    const { registering, connectionId } = interaction.request;
    // A social `connection_id` goes straight to the provider (section 020).
    if (connectionId && interaction.socialConnections.some((offered) => offered.id === connectionId)) return beginSocial(kit, ctx, interaction, connectionId, registering);
    // So does an enterprise one, with the `login_hint` passed on (section 020).
    if (connectionId && interaction.enterpriseConnections.some((offered) => offered.id === connectionId)) {
      return beginEnterprise(kit, ctx, interaction, connectionId, { registering, loginHint: interaction.request.loginHint });
    }
    const hint = parseLoginHint(interaction.request.loginHint, defaultCountry());
    const usableHint = hint && interaction.methods[hint.type] ? hint : undefined;
    if (usableHint && interaction.request.connectionId !== undefined) return proceedWith(ctx, interaction, usableHint, registering);
    await render(ctx, interaction, next.identify({ registering, identifier: usableHint?.value }));
  });

  router.get('/sign-in', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    await goTo(ctx, interaction, next.identify({ registering: false, identifier: identifierIn(await loadFlow(db, interaction.uid)) }));
  });

  router.get('/register', async (ctx) => {
    const interaction = await loadInteraction(ctx, services);
    if (!interaction) return;
    if (await askForAccessWhenSignUpClosed(ctx, interaction)) return;
    await goTo(ctx, interaction, next.identify({ registering: true, identifier: identifierIn(await loadFlow(db, interaction.uid)) }));
  });

  router.post('/identify', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form } = posted;
    const registering = posted.state && 'registering' in posted.state ? posted.state.registering : undefined;
    const typed = field(form, 'identifier') ?? '';
    // Section 038, home-realm discovery: an email of a connection's domains goes straight to its IdP.
    const email = typed.trim();
    if (interaction.enterpriseConnections.some((offered) => offered.homeRealm) && !emailProblem(email)) {
      const homeRealm = await connectionForEmailDomain(db, { applicationId: interaction.app.id, organizationCode: interaction.request.organizationCode }, email);
      if (homeRealm && interaction.enterpriseConnections.some((offered) => offered.id === homeRealm)) return beginEnterprise(kit, ctx, interaction, homeRealm, { registering, loginHint: email });
    }
    const parsed = parseIdentifier(typed, identifyTypes(interaction), defaultCountry());
    if ('problem' in parsed) return goTo(ctx, interaction, next.identify({ registering, identifier: typed.trim() }, parsed.problem));
    // The email box was there only for home-realm discovery, and no connection claims this domain.
    if (!interaction.methods[parsed.type]) return goTo(ctx, interaction, next.identify({ registering, identifier: typed.trim() }, 'No sign-in here uses this email’s domain. Use your work email, or choose another way to sign in.'));
    return proceedWith(ctx, interaction, parsed, registering);
  });

  router.post('/register', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'register') return goTo(ctx, interaction, next.identify({ registering: true }));
    const identifier: Identifier = { type: state.identifierType, value: state.identifier };
    const firstName = field(form, 'given_name')?.trim() || undefined;
    const lastName = field(form, 'family_name')?.trim() || undefined;
    const email = identifier.type === 'username' ? (field(form, 'email') ?? '').trim() : undefined;
    const acceptsMarketing = interaction.app.askMarketingConsent && field(form, 'accepts_marketing') === 'yes';
    const retry = (error: string) => goTo(ctx, interaction, next.withError({ ...state, firstName, lastName, email, acceptsMarketing }, error));

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
    if (existing) return goTo(ctx, interaction, await signInExisting(interaction, existing, identifier, true));
    const details = next.withoutMessages({ ...state, firstName, lastName, email, acceptsMarketing, pendingPasswordHash });
    const destination = identifier.type === 'phone' ? { channel: 'sms' as const, to: identifier.value } : { channel: 'email' as const, to: email ?? identifier.value };
    return goTo(ctx, interaction, await sendCodeStep(interaction, details, 'sign_up', destination, details));
  });
}

/** The identifier a flow was about, to show again when the person switches between signing in and registering. */
function identifierIn(state: SignInState | undefined): string | undefined {
  return state && 'identifier' in state ? state.identifier : undefined;
}
