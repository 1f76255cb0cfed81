import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { InteractionResults } from 'oidc-provider';
import { hmacHex, safeEqual } from '../../crypto/secrets.ts';
import { type Application, applicationForSignIn } from '../../domain/applications.ts';
import { type Connection, enabledConnections, listConnections, servesOrganization } from '../../domain/connections.ts';
import { effectiveConnectionIds, organizationConnectionIds } from '../../domain/organizations.ts';
import { type EnvironmentPolicy, environmentPolicy } from '../../domain/environment.ts';
import { field, type FormParams, readForm } from '../../http/forms.ts';
import { networkOf } from '../../http/networks.ts';
import type { Services } from '../../services.ts';
import { enterpriseConnectionsOffered, offeredIdentityTypes, type SignInMethods, signInMethods, type SocialButton, socialConnectionsOffered } from '../connectors/registry.ts';
import { findEnterpriseConnection } from '../../domain/enterprise/connections.ts';
import { showsSsoButton } from '../../domain/enterprise/rules.ts';
import type { IdentityType } from '../../domain/users.ts';
import { parseSignInRequest, type SignInRequest } from './request.ts';
import { MessagePage } from '../../ui/pages/message.tsx';
import { renderPage } from '../../ui/render.ts';

/** Everything a sign-in step needs to know about the authorization request it serves. */
export interface Interaction {
  uid: string;
  app: Application;
  methods: SignInMethods;
  /** The social connections offered as buttons (with a social `connection_id`: that one alone). */
  socialConnections: SocialButton[];
  /**
   * The enterprise connections this sign-in may use (with an enterprise `connection_id`: that one
   * alone); `button` when the identify page shows it (section 038: hidden behind home-realm domains
   * unless forced), `homeRealm` when typing an email of its domains leads to it.
   */
  enterpriseConnections: EnterpriseOffer[];
  policy: EnvironmentPolicy;
  /** What the engine kept of the authorization request, raw (the device consent reads its scopes). */
  params: Record<string, unknown>;
  /** Kinde's parameters, parsed once. */
  request: SignInRequest;
  /** Someone already signed in to this browser, when the interaction is only about their organization. */
  signedInUserId: string | undefined;
  /** How that person signed in (the session's `amr`): 'mfa' means two-step verification is done. */
  signedInAmr: string[];
  /** Which prompt the engine asked for (`login` or `consent`) and why (oidc-provider's prompt reasons). */
  promptName: string;
  promptReasons: string[];
  /** Set when a device is being approved (RFC 8628): the engine's device code id. */
  deviceCode: string | undefined;
  /** The network the request came from (`TRUST_PROXY` decides whose address counts): what per-network limits count. */
  network: string;
  /** The engine's record of the interaction, as this request loaded it (its cookie checked): what `finishInteraction` writes the result to. */
  record: EngineInteraction;
}

type EngineInteraction = Awaited<ReturnType<Provider['interactionDetails']>>;

export type EnterpriseOffer = SocialButton & { button: boolean; homeRealm: boolean };

export const interactionUrl = (uid: string, action = '') => `/interaction/${uid}${action ? `/${action}` : ''}`;

export function csrfToken(services: Services, uid: string): string {
  return hmacHex(services.csrfKey, `csrf:${uid}`).slice(0, 40);
}

/** The way back from an error page: the application's login URI, else its homepage (section 019). */
export function escapeHatch(app: Application | undefined): string | null {
  return app?.loginUri ?? app?.homepageUri ?? null;
}

export function showMessage(ctx: Context, status: number, title: string, message: string, app?: Application): void {
  ctx.status = status;
  renderPage(ctx, MessagePage({ title, message, backUrl: escapeHatch(app), backLabel: app ? `Return to ${app.name}` : undefined }));
}

function expired(ctx: Context): void {
  showMessage(ctx, 400, 'This sign-in has expired', 'Sign-in links last an hour and work in the browser that opened them. Go back to the application and start again.');
}

/** Section 046: an organization with its own sign-in methods replaces the application's; nothing is inherited. */
async function connectionsFor(services: Services, applicationId: string, organizationCode: string | undefined): Promise<Connection[]> {
  const appConnections = (await enabledConnections(services.db, applicationId)).filter((connection) => servesOrganization(connection, organizationCode));
  if (organizationCode === undefined) return appConnections;
  const own = await organizationConnectionIds(services.db, organizationCode);
  const effective = new Set(effectiveConnectionIds(appConnections.map((c) => c.id), own));
  const all = own ? await listConnections(services.db) : appConnections;
  return all.filter((connection) => effective.has(connection.id) && servesOrganization(connection, organizationCode));
}

/** Whether each enterprise connection shows a button and has home-realm domains (its options are sealed: opened here). */
async function enterpriseOffers(services: Services, offered: SocialButton[]): Promise<EnterpriseOffer[]> {
  const opened = await Promise.all(offered.map((button) => findEnterpriseConnection(services.db, services.masterKey, button.id)));
  return offered.flatMap((button, index) => {
    const connection = opened[index];
    if (!connection) return [];
    return [{ ...button, button: showsSsoButton(connection.options), homeRealm: (connection.options.home_realm_domains?.length ?? 0) > 0 }];
  });
}

/** Loads the interaction this browser is in (its cookie must match the uid in the URL). */
export async function loadInteraction(ctx: Context, services: Services): Promise<Interaction | undefined> {
  let details;
  try {
    details = await services.provider().interactionDetails(ctx.req, ctx.res);
  } catch {
    expired(ctx);
    return undefined;
  }
  const app = details.uid === ctx.params.uid ? await applicationForSignIn(services.db, String(details.params.client_id)) : undefined;
  if (!app) {
    expired(ctx);
    return undefined;
  }
  const request = parseSignInRequest(details.params);
  const connections = await connectionsFor(services, app.id, request.organizationCode);
  const methods = signInMethods(connections, request.connectionId);
  const socialConnections = socialConnectionsOffered(connections, request.connectionId);
  const enterpriseConnections = await enterpriseOffers(services, enterpriseConnectionsOffered(connections, request.connectionId));
  if (Object.keys(methods).length === 0 && socialConnections.length === 0 && enterpriseConnections.length === 0) {
    showMessage(ctx, 400, 'Sign-in is not set up', 'This application has no sign-in method turned on. Ask its administrator.', app);
    return undefined;
  }
  return {
    uid: details.uid,
    app,
    methods,
    socialConnections,
    enterpriseConnections,
    policy: await environmentPolicy(services.db),
    params: details.params,
    request,
    signedInUserId: details.session?.accountId,
    signedInAmr: (details.session as { amr?: string[] } | undefined)?.amr ?? [],
    promptName: details.prompt.name,
    promptReasons: details.prompt.reasons,
    deviceCode: typeof details.deviceCode === 'string' ? details.deviceCode : undefined,
    network: networkOf(ctx.ip),
    record: details,
  };
}

/**
 * Ends the interaction with `result` and returns where the browser resumes (the engine's
 * authorization endpoint). This is what oidc-provider's `interactionResult` does, done on the record
 * this request already loaded through `interactionDetails` (cookie and session checked): calling
 * `interactionResult` would check the cookie and read the interaction a second time.
 */
export async function finishInteraction(interaction: Interaction, result: InteractionResults): Promise<string> {
  const { record } = interaction;
  record.result = result;
  // The engine's own arithmetic (lib/helpers/epoch_time.js): the record keeps the expiry it had.
  await record.save(record.exp - Math.floor(Date.now() / 1000));
  return record.returnTo;
}

/** A form post: the body, a valid CSRF token, and the interaction it belongs to. */
export async function loadFormPost(ctx: Context, services: Services): Promise<{ interaction: Interaction; form: FormParams } | undefined> {
  const form = await readForm(ctx);
  const interaction = await loadInteraction(ctx, services);
  if (!interaction) return undefined;
  const csrf = typeof form === 'object' ? field(form, 'csrf') : undefined;
  if (typeof form !== 'object' || !csrf || !safeEqual(csrf, csrfToken(services, interaction.uid))) {
    ctx.status = 403;
    renderPage(
      ctx,
      MessagePage({ title: 'Please try again', message: 'This form was not sent from the sign-in page, so we did not act on it.', backUrl: interactionUrl(interaction.uid), backLabel: 'Back to sign-in' }),
    );
    return undefined;
  }
  return { interaction, form };
}

/**
 * What the identify page asks for: the application's identity types, and an email when home-realm
 * discovery can use one even though no email method is on (an enterprise-only application).
 */
export function identifyTypes(interaction: Interaction): IdentityType[] {
  const types = offeredIdentityTypes(interaction.methods);
  if (types.includes('email') || !interaction.enterpriseConnections.some((offered) => offered.homeRealm)) return types;
  return ['email', ...types];
}
