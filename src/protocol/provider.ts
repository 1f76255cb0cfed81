import { CookieSignatures } from '../crypto/cookie-signatures.ts';
import Provider, { type Configuration, type KoaContextWithOIDC, errors } from 'oidc-provider';
import type { Db } from '../store/db.ts';
import type { KeySet } from '../domain/signing-keys.ts';
import { sessionActivityNow, sessionActivityUpsert } from '../domain/sessions.ts';
import { alreadyUsed, databaseAdapter, endRedeemedGrant } from './adapter.ts';
import { readGrantWithSessionFor } from './model-reads.ts';
import { accountFinder, CLAIMS_BY_SCOPE } from './accounts.ts';
import { CLIENT_METADATA_PROPERTIES, clientLookup, compareHashedClientSecret, rememberClients } from './clients.ts';
import { resourceServerInfo } from './resource-servers.ts';
import { extraTokenClaims, shapeAccessToken } from './token-claims.ts';
import { NO_AUDIENCE } from './audiences.ts';
import { ROUTES } from './provider-routes.ts';
import { DPOP_ALGORITHMS } from './dpop-proofs.ts';
import { organizationOfGrant } from './grant-organizations.ts';
import { gatehouseInteractionPolicy, organizationForSilentGrant } from './interaction-policy.ts';
import { holdSessionActivity, withHeldWrites } from './model-writes.ts';
import { consentedDeviceGrant, DEVICE_CODE_LIFETIME_SECONDS, deviceFlowFeature, isDeviceVerification } from './device-flow.ts';
import { renderProtocolError } from './error-page.ts';

export interface ProviderOptions {
  issuer: string;
  db: Db;
  keys: KeySet;
  cookieKeys: string[];
}


/** Kinde's extra authorization parameters, kept on the interaction for the sign-in experience. */
const KINDE_AUTHORIZATION_PARAMS = [
  'start_page',
  'connection_id',
  'org_code',
  'org_name',
  'is_create_org',
  'lang',
  'has_success_page',
  'invitation_code',
  'is_invitation',
  'supports_reauth',
];

type Ttl = (ctx: KoaContextWithOIDC, token: unknown, client: { [key: string]: unknown }) => number;
const clientTtl =
  (property: string, fallback: number): Ttl =>
  (_ctx, _token, client) =>
    typeof client?.[property] === 'number' ? (client[property] as number) : fallback;

export function createProvider(options: ProviderOptions): Provider {
  const { db, issuer } = options;
  const configuration: Configuration = {
    adapter: databaseAdapter(db, clientLookup(db)),
    findAccount: accountFinder(db),
    jwks: { keys: options.keys.privateKeys as never },
    cookies: {
      // An object with Keygrip's methods is taken as is (oidc-provider and `cookies` both allow it).
      keys: new CookieSignatures(options.cookieKeys) as never,
      long: { signed: true, sameSite: 'lax', httpOnly: true },
      short: { signed: true, sameSite: 'lax', httpOnly: true },
    },
    routes: ROUTES,
    scopes: ['openid', 'profile', 'email', 'phone', 'offline'],
    claims: CLAIMS_BY_SCOPE,
    conformIdTokenClaims: false,
    extraParams: KINDE_AUTHORIZATION_PARAMS,
    extraClientMetadata: { properties: CLIENT_METADATA_PROPERTIES },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      id_token_signed_response_alg: 'RS256',
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_post',
    },
    responseTypes: ['code'],
    // A Basic credential is moved into the body before the engine runs (kinde-requests.ts), so every
    // client registered for client_secret_post authenticates with either (RFC 6749 §2.3.1).
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'none'],
    enabledJWA: { idTokenSigningAlgValues: ['RS256'], dPoPSigningAlgValues: [...DPOP_ALGORITHMS] },
    pkce: {
      // RFC 9700 §2.1.1: required for public clients; confidential clients may still send it.
      required: (_ctx, client) => client.clientAuthMethod === 'none',
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client, code) =>
      client.grantTypeAllowed('refresh_token') && code.scopes.has('offline'),
    // The engine's default (bound unless `offline_access`, a scope Kinde does not use) for browsers; a
    // device's tokens outlive the browser session it was approved in, and another device approved
    // from the same browser must not end them.
    expiresWithSession: async (_ctx, code) => code.kind !== 'DeviceCode',
    // First-party applications: the requested scopes are granted without a consent screen.
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      if (!oidc.client || !oidc.session?.accountId) return undefined;
      if (isDeviceVerification(ctx)) return consentedDeviceGrant(ctx);
      const grantId = oidc.result?.consent?.grantId ?? oidc.session.grantIdFor(oidc.client.clientId);
      const existing = grantId ? await oidc.provider.Grant.find(grantId) : undefined;
      // A different organization than the grant speaks for needs a grant of its own.
      const requestedOrg = typeof oidc.params?.org_code === 'string' ? oidc.params.org_code : undefined;
      const reusable = existing && (!requestedOrg || oidc.result?.consent?.grantId || (await organizationOfGrant(db, existing.jti)) === requestedOrg);
      const grant = reusable ? existing : new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      const requested = [...(oidc.requestParamScopes ?? [])].join(' ');
      const resources = Object.keys(oidc.resourceServers ?? {});
      const scopesHeld = () => [grant.getOIDCScope(), ...resources.map((resource) => grant.getResourceScope(resource))].join('|');
      const before = reusable ? scopesHeld() : undefined;
      grant.addOIDCScope(requested);
      for (const resource of resources) grant.addResourceScope(resource, requested);
      // An SSO sign-in to an application usually asks for what its grant already holds: no write then.
      const savedId = before === scopesHeld() && grant.jti ? grant.jti : await grant.save();
      if (!oidc.result?.consent?.grantId) await organizationForSilentGrant(db, ctx, savedId, oidc.session.accountId);
      return grant;
    },
    extraTokenClaims: extraTokenClaims(db),
    // Allowed browser origins were already answered by protocol/cors.ts; anything reaching the engine is not allowed.
    clientBasedCORS: () => false,
    formats: { customizers: { jwt: shapeAccessToken as never } },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // An application may only introspect or revoke its own tokens.
      introspection: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: false },
      deviceFlow: deviceFlowFeature,
      rpInitiatedLogout: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => NO_AUDIENCE,
        useGrantedResource: () => true,
        getResourceServerInfo: resourceServerInfo(db),
      },
    },
    ttl: {
      AccessToken: clientTtl('access_token_ttl', 86_400) as never,
      ClientCredentials: clientTtl('access_token_ttl', 86_400) as never,
      IdToken: clientTtl('id_token_ttl', 86_400) as never,
      RefreshToken: clientTtl('refresh_token_ttl', 2_592_000) as never,
      AuthorizationCode: 60,
      DeviceCode: DEVICE_CODE_LIFETIME_SECONDS,
      Interaction: 60 * 60,
      Session: 30 * 24 * 60 * 60,
      Grant: 30 * 24 * 60 * 60,
    },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}`, policy: gatehouseInteractionPolicy(db) },
    renderError: renderProtocolError,
    discovery: {
      userinfo_endpoint: `${issuer}/oauth2/v2/user_profile`,
      end_session_endpoint: `${issuer}/logout`,
      // RFC 8414 §2: without these, a client would assume client_secret_basic only (revocation) or guess.
      introspection_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post', 'none'],
    },
  };

  const provider = new Provider(issuer, configuration);
  provider.Client.prototype.compareClientSecret = compareHashedClientSecret;
  rememberClients(provider, db);
  // Activity counts once the authorization succeeded (the inactivity check must see the time before
  // it); the middleware from `writesAroundTheEngine` writes it before the response goes out.
  provider.on('authorization.success', (ctx: KoaContextWithOIDC) => {
    if (ctx.oidc.session?.uid) ctx.state.activeSessionUid = ctx.oidc.session.uid;
  });
  return provider;
}

export { errors as oidcErrors };

const SESSION_ACTIVITY_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

/** An authorization request names its client: the session's grant for it is read with the session (model-reads.ts). */
export async function grantReadWithSession(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  if (ctx.method === 'GET') readGrantWithSessionFor(ctx.query.client_id);
  await next();
}

/** The authorization endpoint, its resume, and the token endpoint: their writes are held (model-writes.ts). */
const holdsWrites = (path: string) => path === ROUTES.authorization || path.startsWith(`${ROUTES.authorization}/`) || path === ROUTES.token;

/**
 * Around the engine's own handling: the writes of the endpoints that hold theirs go out together once it
 * has answered, before the response does (model-writes.ts); and a successful authorization records the
 * SSO session's activity, with those writes or on its own, so the next request sees it.
 */
export function writesAroundTheEngine(db: Db) {
  return async (ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> => {
    const engineThenActivity = async () => {
      await next();
      const uid = ctx.state.activeSessionUid as string | undefined;
      if (!uid) return;
      const activity = sessionActivityNow(uid, SESSION_ACTIVITY_LIFETIME_SECONDS);
      if (!holdSessionActivity(activity)) await sessionActivityUpsert(db, activity);
    };
    if (!holdsWrites(ctx.path)) return engineThenActivity();
    const { lostRedemption } = await withHeldWrites(db, engineThenActivity);
    if (!lostRedemption) return;
    // The engine answered with tokens for a code another request redeemed first: they never go out.
    await endRedeemedGrant(db, lostRedemption);
    const { error, error_description } = alreadyUsed(lostRedemption.model);
    ctx.status = 400;
    ctx.body = { error, error_description };
  };
}
