import { importPKCS8, SignJWT } from 'jose';
import * as client from 'openid-client';
import { outboundFetch } from '../../http/outbound.ts';
import type { SocialConnection } from './connections.ts';
import type { UpstreamParams } from '../connection-options.ts';
import { ProfileUnreadable, type ProviderAnswers, type ProviderEndpoints, type SocialProfile, type SocialProvider, socialProvider } from './providers.ts';

/**
 * The round trip to a social provider, on openid-client (a certified relying party; it does plain
 * OAuth 2.0 too): `beginSocialSignIn` makes the authorization URL and the secrets the flow must keep,
 * `completeSocialSignIn` checks the provider's answer and returns the person's profile.
 *
 * How the `/login/callback` route uses them:
 * 1. begin → store `{ connectionId, state, nonce, codeVerifier, redirectUri }` in the sign-in flow (in
 *    the database, bound to the browser's interaction), then redirect to `authorizationUrl`.
 * 2. The provider sends the browser to `<issuer>/login/callback`: a GET with `code`/`state` in the
 *    query, or — Apple, `response_mode=form_post` — a cross-site POST with them (and, at the first
 *    sign-in only, the name as `user`) in the form body. A cross-site POST carries no `SameSite=Lax`
 *    cookie, so find the flow by `state` (and re-check the browser binding after a same-site hop).
 * 3. complete with every field of the query or form as `callbackParams`, and the stored values.
 * Every failure is a `SocialSignInError` whose `kind` the page and the audit event can name.
 */

export type SocialSignInFailure =
  /** The person cancelled or refused consent at the provider. */
  | 'access_denied'
  /** The callback's `state` is not this flow's (forged, replayed, or another tab's). */
  | 'bad_state'
  /** The provider is down, refused the code, or answered something that is not OAuth. */
  | 'provider_error'
  /** The ID token failed validation: signature, issuer, audience, nonce or lifetime. */
  | 'invalid_id_token'
  /** The connection cannot work (unknown provider, unusable key). */
  | 'misconfigured'
  /** Entra ID: the person's tenant is not the connection's, nor one it allows (issue 12). */
  | 'wrong_tenant';

/**
 * Carries no `cause`: openid-client's errors hold the provider's response body (access tokens, ID
 * token claims), and an error logged with its cause chain would put them in the logs. The message and
 * openid-client's error code are enough to say what went wrong.
 */
export class SocialSignInError extends Error {
  override name = 'SocialSignInError';
  constructor(
    readonly kind: SocialSignInFailure,
    message: string,
    /** openid-client's code, e.g. `OAUTH_JWT_CLAIM_COMPARISON_FAILED`. */
    readonly upstreamCode?: string,
  ) {
    super(message);
  }
}

export interface BeginOptions {
  /** `<issuer>/login/callback`. */
  redirectUri: string;
  /** The authorization request's own parameters that `{"alias": …}` upstream params may copy (section 009). */
  upstreamParams?: Partial<Record<'prompt' | 'login_hint', string | undefined>>;
  /** An email the person typed at Gatehouse: Kinde's `login_hint` alias (section 009, "Kinde-provided aliases"). */
  loginHint?: string | undefined;
  /** See `providerCallsMayReachPrivateNetwork`. */
  allowPrivateNetwork: boolean;
  /**
   * The sign-in flow's id, put before the random part of `state` (`<flow>.<random>`): the one
   * callback URL finds the flow from it. It is no secret (the browser binding is the interaction cookie).
   */
  flowId?: string;
}

/** The flow id `beginSocialSignIn` put in a state, if any. */
export function flowIdOfState(state: string): string | undefined {
  const at = state.indexOf('.');
  return at > 0 ? state.slice(0, at) : undefined;
}

export interface BegunSignIn {
  authorizationUrl: string;
  state: string;
  nonce: string | undefined;
  codeVerifier: string | undefined;
}

export interface CompleteOptions {
  state: string;
  nonce: string | undefined;
  codeVerifier: string | undefined;
  redirectUri: string;
  allowPrivateNetwork: boolean;
}

/**
 * Calls to providers may reach loopback and private addresses only in local development (Gatehouse's
 * own issuer on loopback) or when GATEHOUSE_ALLOW_PRIVATE_NETWORK=true (a provider on the private
 * network, e.g. a self-managed GitLab); otherwise an administrator-typed endpoint could make Gatehouse
 * reach what only it can reach (OWASP SSRF).
 */
export function providerCallsMayReachPrivateNetwork(config: { issuer: string; allowPrivateNetwork: boolean }): boolean {
  return config.allowPrivateNetwork || isLoopback(new URL(config.issuer).hostname);
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** Authorization-response parameters (RFC 6749 §4.1.2, RFC 9207): everything else stays out of openid-client. */
const RESPONSE_PARAMETERS = ['code', 'state', 'iss', 'error', 'error_description', 'error_uri'];

const APPLE_AUDIENCE = 'https://appleid.apple.com';

/**
 * Apple's client secret is a JWT the client signs itself (ES256 with the .p8 key, `kid` its key id,
 * `iss` the team id, `sub` the client id, `aud` Apple; developer.apple.com "Creating a client secret").
 * Made per request with a 5-minute life, so there is never a long-lived secret to renew or leak.
 */
export async function appleClientSecret(options: { client_id: string; team_id: string; key_id: string; private_key: string }): Promise<string> {
  const key = await importPKCS8(options.private_key, 'ES256');
  return new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: options.key_id })
    .setIssuer(options.team_id)
    .setSubject(options.client_id)
    .setAudience(APPLE_AUDIENCE)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key);
}

function providerOf(connection: SocialConnection): SocialProvider {
  const provider = socialProvider(connection.strategy);
  if (!provider) throw new SocialSignInError('misconfigured', `${connection.strategy} is not a social provider`);
  return provider;
}

/** The catalogue's endpoints with the connection's `endpoints` over them. */
function endpointsOf(provider: SocialProvider, connection: SocialConnection): ProviderEndpoints & { authorization_endpoint: string; token_endpoint: string } {
  return { ...provider.endpoints, ...connection.options.endpoints };
}

async function clientAuthentication(provider: SocialProvider, connection: SocialConnection): Promise<client.ClientAuth> {
  const { options } = connection;
  let secret = options.client_secret;
  // Apple: the key wins over a client secret made by hand, which expires within 6 months (section 056).
  if (provider.clientSecretJwt && options.client_id && options.team_id && options.key_id && options.private_key) {
    try {
      secret = await appleClientSecret({ client_id: options.client_id, team_id: options.team_id, key_id: options.key_id, private_key: options.private_key });
    } catch (error) {
      throw new SocialSignInError('misconfigured', `the connection's private key cannot sign: ${(error as Error).message}`);
    }
  }
  if (!secret) throw new SocialSignInError('misconfigured', 'the connection has no client secret');
  return provider.tokenAuth === 'client_secret_basic' ? client.ClientSecretBasic(secret) : client.ClientSecretPost(secret);
}

/** Verified signing keys, per JWKS URL, shared by every sign-in in this process (openid-client refetches on an unknown `kid`). */
const jwksCaches = new Map<string, client.ExportedJWKSCache>();

/**
 * Twitch answers `scope` as a JSON array in its token response (dev.twitch.tv "Getting tokens: OIDC"
 * examples), which RFC 6749 §5.1 makes a space-delimited string and openid-client insists on.
 */
function normalisingTokenScope(fetch: ReturnType<typeof outboundFetch>, tokenEndpoint: string): client.CustomFetch {
  return async (input, init) => {
    // openid-client sends strings, form parameters or bytes: what outboundFetch takes.
    const response = await fetch(input, init as RequestInit);
    if (String(input) !== tokenEndpoint || !response.headers.get('content-type')?.includes('json')) return response;
    const body = await response.text();
    let fixed = body;
    try {
      const json = JSON.parse(body) as Record<string, unknown>;
      if (Array.isArray(json.scope)) fixed = JSON.stringify({ ...json, scope: json.scope.join(' ') });
    } catch {
      // Not JSON after all: openid-client reports it.
    }
    return new Response(fixed, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

async function configurationFor(provider: SocialProvider, connection: SocialConnection, allowPrivateNetwork: boolean): Promise<client.Configuration> {
  const clientId = connection.options.client_id;
  if (!clientId) throw new SocialSignInError('misconfigured', 'the connection has no client id');
  const endpoints = endpointsOf(provider, connection);
  const fetch = normalisingTokenScope(outboundFetch({ allowPrivateNetwork }), endpoints.token_endpoint);
  const auth = await clientAuthentication(provider, connection);
  const discover = provider.protocol === 'oidc' && provider.discovery && !connection.options.endpoints;
  let config: client.Configuration;
  if (discover) {
    try {
      const discovery = new URL(provider.discovery!);
      // http only where options.ts let it through (loopback: local development, tests against fakes).
      const execute = discovery.protocol === 'http:' ? [client.allowInsecureRequests] : [];
      config = await client.discovery(discovery, clientId, undefined, auth, { [client.customFetch]: fetch, timeout: 10, execute });
    } catch (error) {
      throw new SocialSignInError('provider_error', `${provider.strategy}: discovery failed: ${(error as Error).message}`, (error as { code?: string }).code);
    }
  } else {
    const server: client.ServerMetadata = {
      issuer: endpoints.issuer ?? new URL(endpoints.authorization_endpoint).origin,
      authorization_endpoint: endpoints.authorization_endpoint,
      token_endpoint: endpoints.token_endpoint,
      ...(endpoints.userinfo_endpoint ? { userinfo_endpoint: endpoints.userinfo_endpoint } : {}),
      ...(endpoints.jwks_uri ? { jwks_uri: endpoints.jwks_uri } : {}),
    };
    config = new client.Configuration(server, clientId, undefined, auth);
    config[client.customFetch] = fetch;
    config.timeout = 10;
    allowHttpOnLoopback(config, endpoints);
  }
  if (provider.protocol === 'oidc') {
    // OIDC Core §3.1.3.7 lets TLS stand in for the signature; we check it anyway (issue 11), against the provider's JWKS.
    client.enableNonRepudiationChecks(config);
    const jwksUri = config.serverMetadata().jwks_uri;
    const cached = jwksUri ? jwksCaches.get(jwksUri) : undefined;
    if (cached) client.setJwksCache(config, cached);
  }
  return config;
}

/** The `endpoints` option allows http only on loopback (options.ts): local fakes, development. */
function allowHttpOnLoopback(config: client.Configuration, endpoints: ProviderEndpoints): void {
  if (Object.values(endpoints).some((url) => typeof url === 'string' && url.startsWith('http:'))) client.allowInsecureRequests(config);
}

/** Section 009: `{"value": …}` as is; `{"alias": …}` from the authorization request (or what the person typed). */
export function resolveUpstreamParams(configured: UpstreamParams | undefined, request: BeginOptions['upstreamParams'] = {}, loginHint?: string): Record<string, string> {
  const sent: Record<string, string> = {};
  for (const [name, param] of Object.entries(configured ?? {})) {
    const value = 'value' in param ? param.value : param.alias === 'login_hint' ? (loginHint ?? request.login_hint) : request[param.alias];
    if (value !== undefined && value !== '') sent[name] = value;
  }
  return sent;
}

export function beginSocialSignIn(connection: SocialConnection, options: BeginOptions): Promise<BegunSignIn> {
  return beginUpstreamSignIn(providerOf(connection), connection, options);
}

/** The authorization request to any OAuth 2.0 / OIDC provider described as a catalogue entry (social, Entra ID, custom OIDC). */
export async function beginUpstreamSignIn(provider: SocialProvider, connection: SocialConnection, options: BeginOptions): Promise<BegunSignIn> {
  const endpoints = endpointsOf(provider, connection);
  const clientId = connection.options.client_id;
  if (!clientId) throw new SocialSignInError('misconfigured', 'the connection has no client id');
  // Building the URL needs no network: Microsoft's discovery waits for the callback.
  const config = new client.Configuration(
    { issuer: endpoints.issuer ?? new URL(endpoints.authorization_endpoint).origin, authorization_endpoint: endpoints.authorization_endpoint, token_endpoint: endpoints.token_endpoint },
    clientId,
  );
  allowHttpOnLoopback(config, endpoints);
  const state = options.flowId ? `${options.flowId}.${client.randomState()}` : client.randomState();
  const nonce = provider.protocol === 'oidc' && provider.nonce !== false ? client.randomNonce() : undefined;
  const codeVerifier = provider.pkce ? client.randomPKCECodeVerifier() : undefined;
  const parameters: Record<string, string> = {
    // Upstream params first: the protocol's own parameters below always win (options.ts refuses them anyway).
    ...resolveUpstreamParams(connection.options.upstream_params, options.upstreamParams, options.loginHint),
    ...provider.authorizationParams,
    response_type: 'code',
    redirect_uri: options.redirectUri,
    scope: provider.scopes.join(' '),
    state,
  };
  if (nonce) parameters.nonce = nonce;
  if (codeVerifier) {
    parameters.code_challenge = await client.calculatePKCECodeChallenge(codeVerifier);
    parameters.code_challenge_method = 'S256';
  }
  return { authorizationUrl: client.buildAuthorizationUrl(config, parameters).href, state, nonce, codeVerifier };
}

function failureOf(error: unknown): SocialSignInError {
  if (error instanceof SocialSignInError) return error;
  if (error instanceof ProfileUnreadable) return new SocialSignInError('provider_error', error.message);
  const code = typeof (error as { code?: unknown })?.code === 'string' ? (error as { code: string }).code : undefined;
  const message = error instanceof Error ? error.message : 'unknown failure';
  const idToken =
    code === 'OAUTH_JWT_CLAIM_COMPARISON_FAILED' || code === 'OAUTH_JWT_TIMESTAMP_CHECK_FAILED' || code === 'OAUTH_KEY_SELECTION_FAILED' || /ID Token|JWT signature/.test(message);
  return new SocialSignInError(idToken ? 'invalid_id_token' : 'provider_error', idToken ? `the ID token was refused: ${message}` : `the provider's answer was refused: ${message}`, code);
}

async function readJson(config: client.Configuration, accessToken: string, url: string, headers: Readonly<Record<string, string>> = {}): Promise<unknown> {
  const response = await client.fetchProtectedResource(config, accessToken, new URL(url), 'GET', undefined, new Headers({ accept: 'application/json', ...headers }));
  if (response.status !== 200) throw new SocialSignInError('provider_error', `${new URL(url).host} answered ${response.status}`);
  try {
    return await response.json();
  } catch (error) {
    throw new SocialSignInError('provider_error', `${new URL(url).host} did not answer JSON: ${(error as Error).message}`);
  }
}

export async function completeSocialSignIn(
  connection: SocialConnection,
  callbackParams: URLSearchParams | Record<string, string>,
  options: CompleteOptions,
): Promise<SocialProfile> {
  const provider = providerOf(connection);
  const answers = await completeUpstreamSignIn(provider, connection, callbackParams, options);
  try {
    return provider.toProfile(answers);
  } catch (caught) {
    throw failureOf(caught);
  }
}

/**
 * The callback of any OAuth 2.0 / OIDC round trip: checks `state`, redeems the code, validates the ID
 * token (OIDC) or reads the profile API (OAuth 2.0), and returns what the provider said.
 */
export async function completeUpstreamSignIn(
  provider: SocialProvider,
  connection: SocialConnection,
  callbackParams: URLSearchParams | Record<string, string>,
  options: CompleteOptions,
): Promise<ProviderAnswers> {
  const received = new URLSearchParams(callbackParams);
  // The state is checked before anything else, an error response included: only this flow's provider may end it.
  if (received.get('state') !== options.state) throw new SocialSignInError('bad_state', 'the callback does not belong to this sign-in');
  const error = received.get('error');
  if (error === 'access_denied') throw new SocialSignInError('access_denied', 'the person did not allow the sign-in');
  if (error) throw new SocialSignInError('provider_error', `the provider answered ${error.slice(0, 100)}`);
  try {
    const config = await configurationFor(provider, connection, options.allowPrivateNetwork);
    const currentUrl = new URL(options.redirectUri);
    for (const name of RESPONSE_PARAMETERS) {
      const value = received.get(name);
      if (value !== null) currentUrl.searchParams.set(name, value);
    }
    const tokens = await client.authorizationCodeGrant(config, currentUrl, {
      expectedState: options.state,
      ...(options.nonce ? { expectedNonce: options.nonce } : {}),
      ...(options.codeVerifier ? { pkceCodeVerifier: options.codeVerifier } : {}),
      idTokenExpected: provider.protocol === 'oidc',
    });
    const jwksUri = config.serverMetadata().jwks_uri;
    const jwks = client.getJwksCache(config);
    if (jwksUri && jwks) jwksCaches.set(jwksUri, jwks);
    const callback = Object.fromEntries([...received].filter(([name]) => !RESPONSE_PARAMETERS.includes(name) && name !== 'id_token'));
    if (provider.protocol === 'oidc') return { claims: tokens.claims() as Record<string, unknown>, callback };
    const endpoints = endpointsOf(provider, connection);
    const profile = (await readJson(config, tokens.access_token, endpoints.userinfo_endpoint!, provider.apiHeaders)) as Record<string, unknown>;
    const emails = endpoints.emails_endpoint ? await readJson(config, tokens.access_token, endpoints.emails_endpoint, provider.apiHeaders) : undefined;
    return { profile, emails, callback };
  } catch (caught) {
    throw failureOf(caught);
  }
}
