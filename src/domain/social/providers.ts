/**
 * The social providers Gatehouse signs people in with (sections 055–069): each one's endpoints,
 * scopes, protocol details and how its answers become one profile. The strategy registry
 * (domain/strategies.ts) names them; the upstream client (upstream.ts) drives the round trip with
 * openid-client; nothing else knows a provider by name.
 *
 * OIDC providers are trusted through their ID token (issuer, audience, nonce and signature from their
 * JWKS); plain OAuth 2.0 providers through their profile API, read with the access token.
 */

/** One shape for every provider's account (`username` where the provider has handles). */
export interface SocialProfile {
  /** The provider's stable id for the person: with the connection, what identifies the social identity. */
  subject: string;
  email: string | undefined;
  /** The provider says it verified `email` (linking to an existing account needs this and a trusted connection, section 004). */
  emailVerified: boolean;
  givenName: string | undefined;
  familyName: string | undefined;
  name: string | undefined;
  picture: string | undefined;
  username?: string | undefined;
}

/** Endpoints as in OAuth 2.0 server metadata (RFC 8414), plus the emails API of GitHub and Bitbucket. */
export interface ProviderEndpoints {
  issuer?: string | undefined;
  authorization_endpoint?: string | undefined;
  token_endpoint?: string | undefined;
  /** OIDC: the UserInfo endpoint; OAuth 2.0: the profile API read with the access token. */
  userinfo_endpoint?: string | undefined;
  jwks_uri?: string | undefined;
  emails_endpoint?: string | undefined;
}

export const ENDPOINT_NAMES = ['issuer', 'authorization_endpoint', 'token_endpoint', 'userinfo_endpoint', 'jwks_uri', 'emails_endpoint'] as const;

/** What the provider gave us, by where it came from. */
export interface ProviderAnswers {
  /** OIDC: the validated ID token's claims. */
  claims?: Record<string, unknown>;
  /** OAuth 2.0: the profile API's JSON. */
  profile?: Record<string, unknown>;
  /** GitHub and Bitbucket: the emails API's JSON. */
  emails?: unknown;
  /** Fields of the authorization response beyond OAuth's own (Apple's `user`). */
  callback: Record<string, string>;
}

interface ProviderBase {
  strategy: string;
  endpoints: Required<Pick<ProviderEndpoints, 'authorization_endpoint' | 'token_endpoint'>> & ProviderEndpoints;
  scopes: readonly string[];
  /** RFC 7636 S256, sent only to providers that document it. */
  pkce: boolean;
  /** How the client authenticates at the token endpoint (RFC 6749 §2.3.1). */
  tokenAuth: 'client_secret_post' | 'client_secret_basic';
  /** Fixed authorization request parameters this provider needs. */
  authorizationParams?: Readonly<Record<string, string>>;
  /** Apple: the client secret is a JWT made from the connection's key (upstream.ts `appleClientSecret`). */
  clientSecretJwt?: boolean;
  toProfile(answers: ProviderAnswers): SocialProfile;
}

export interface OidcProvider extends ProviderBase {
  protocol: 'oidc';
  endpoints: ProviderBase['endpoints'] & { issuer: string; jwks_uri: string };
  /**
   * false: the provider never puts a `nonce` in its ID tokens, so sending one would fail every
   * sign-in (OIDC Core §3.1.3.7 step 11 checks it only when sent); `state` still binds the flow.
   */
  nonce?: false;
  /**
   * Discover the metadata here instead of using `endpoints`: Microsoft's `common` authority serves
   * every tenant, so its `iss` is `https://login.microsoftonline.com/{tenantid}/v2.0`, checked against
   * the token's `tid` — which openid-client does only for metadata it discovered itself.
   */
  discovery?: string;
}

export interface OAuth2Provider extends ProviderBase {
  protocol: 'oauth2';
  endpoints: ProviderBase['endpoints'] & { userinfo_endpoint: string };
  /** Headers the profile and emails APIs need. */
  apiHeaders?: Readonly<Record<string, string>>;
}

export type SocialProvider = OidcProvider | OAuth2Provider;

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
const id = (value: unknown): string | undefined => (typeof value === 'number' ? String(value) : text(value));
const record = (value: unknown): Record<string, unknown> => (typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : {});

/** Apple sends `email_verified` as the string "true" (developer.apple.com, "Authenticating users with Sign in with Apple"). */
const isTrue = (value: unknown): boolean => value === true || value === 'true';

/** A provider whose answer lacks a subject answered garbage; upstream.ts turns this into `provider_error`. */
export class ProfileUnreadable extends Error {
  override name = 'ProfileUnreadable';
}

function subjectOf(value: unknown): string {
  const subject = id(value);
  if (!subject) throw new ProfileUnreadable('the provider did not say who the person is');
  return subject;
}

/** Providers with one display name and no given/family split: first word / the rest, for prefilling. */
function splitName(name: string | undefined): { givenName: string | undefined; familyName: string | undefined } {
  const words = name?.trim().split(/\s+/) ?? [];
  if (words.length < 2) return { givenName: words[0], familyName: undefined };
  return { givenName: words[0], familyName: words.slice(1).join(' ') };
}

/** The standard OIDC claims (OpenID Connect Core §5.1). */
function standardClaims(claims: Record<string, unknown> = {}): SocialProfile {
  return {
    subject: subjectOf(claims.sub),
    email: text(claims.email),
    emailVerified: text(claims.email) !== undefined && isTrue(claims.email_verified),
    givenName: text(claims.given_name),
    familyName: text(claims.family_name),
    name: text(claims.name),
    picture: text(claims.picture),
    username: text(claims.preferred_username) ?? text(claims.nickname),
  };
}

/** The personal-accounts tenant of Microsoft Entra ID ("consumers"), learn.microsoft.com id-token-claims-reference (`tid`). */
const MICROSOFT_CONSUMERS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad';

const PROVIDERS: readonly SocialProvider[] = [
  {
    // developer.apple.com/documentation/sign_in_with_apple/request_an_authorization_to_the_sign_in_with_apple_server
    strategy: 'oauth2:apple',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://appleid.apple.com',
      authorization_endpoint: 'https://appleid.apple.com/auth/authorize',
      token_endpoint: 'https://appleid.apple.com/auth/token',
      jwks_uri: 'https://appleid.apple.com/auth/keys',
    },
    scopes: ['openid', 'name', 'email'],
    // Apple's discovery document lists no code_challenge_methods_supported.
    pkce: false,
    tokenAuth: 'client_secret_post',
    // Apple requires form_post whenever `name` or `email` is asked for; the browser then POSTs the
    // response (and, the first time only, the `user` JSON with the name) to the callback.
    authorizationParams: { response_mode: 'form_post' },
    clientSecretJwt: true,
    toProfile({ claims, callback }) {
      const profile = standardClaims(claims);
      // The name is never in the ID token: Apple posts it once, at the first sign-in, as
      // `user={"name":{"firstName":…,"lastName":…},"email":…}` beside `code` and `state`.
      let user: Record<string, unknown> = {};
      try {
        user = record(JSON.parse(callback.user ?? '{}'));
      } catch {
        // A malformed `user` only costs the name.
      }
      const name = record(user.name);
      const givenName = text(name.firstName);
      const familyName = text(name.lastName);
      return { ...profile, givenName, familyName, name: [givenName, familyName].filter(Boolean).join(' ') || undefined, username: undefined };
    },
  },
  {
    // developer.atlassian.com/cloud/bitbucket/oauth-2/ ; /2.0/user and /2.0/user/emails in the REST API reference.
    strategy: 'oauth2:bitbucket',
    protocol: 'oauth2',
    endpoints: {
      authorization_endpoint: 'https://bitbucket.org/site/oauth2/authorize',
      token_endpoint: 'https://bitbucket.org/site/oauth2/access_token',
      userinfo_endpoint: 'https://api.bitbucket.org/2.0/user',
      emails_endpoint: 'https://api.bitbucket.org/2.0/user/emails',
    },
    scopes: ['account', 'email'],
    pkce: false,
    // Bitbucket's examples authenticate the consumer with HTTP Basic (`curl -u key:secret`).
    tokenAuth: 'client_secret_basic',
    toProfile({ profile = {}, emails }) {
      const values = Array.isArray(record(emails).values) ? (record(emails).values as unknown[]).map(record) : [];
      const primary = values.find((entry) => entry.is_primary === true && entry.is_confirmed === true);
      const name = text(profile.display_name);
      return {
        subject: subjectOf(profile.uuid),
        email: text(primary?.email),
        emailVerified: primary !== undefined && text(primary.email) !== undefined,
        ...splitName(name),
        name,
        picture: text(record(record(profile.links).avatar).href),
        username: text(profile.username) ?? text(profile.nickname),
      };
    },
  },
  {
    // discord.com/developers/docs/topics/oauth2 ; users/@me in discord.com/developers/docs/resources/user
    strategy: 'oauth2:discord',
    protocol: 'oauth2',
    endpoints: {
      authorization_endpoint: 'https://discord.com/oauth2/authorize',
      token_endpoint: 'https://discord.com/api/oauth2/token',
      userinfo_endpoint: 'https://discord.com/api/users/@me',
    },
    scopes: ['identify', 'email'],
    pkce: false,
    tokenAuth: 'client_secret_post',
    toProfile({ profile = {} }) {
      const subject = subjectOf(profile.id);
      const name = text(profile.global_name) ?? text(profile.username);
      const avatar = text(profile.avatar);
      return {
        subject,
        email: text(profile.email),
        // `verified`: "whether the email on this account has been verified".
        emailVerified: text(profile.email) !== undefined && profile.verified === true,
        ...splitName(name),
        name,
        // Image formatting in the Discord reference: cdn.discordapp.com/avatars/{user_id}/{avatar}.png
        picture: avatar ? `https://cdn.discordapp.com/avatars/${subject}/${avatar}.png` : undefined,
        username: text(profile.username),
      };
    },
  },
  {
    // developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow ; Graph API /me fields.
    strategy: 'oauth2:facebook',
    protocol: 'oauth2',
    endpoints: {
      authorization_endpoint: 'https://www.facebook.com/v22.0/dialog/oauth',
      token_endpoint: 'https://graph.facebook.com/v22.0/oauth/access_token',
      userinfo_endpoint: 'https://graph.facebook.com/v22.0/me?fields=id,name,first_name,last_name,email,picture',
    },
    scopes: ['email', 'public_profile'],
    pkce: false,
    tokenAuth: 'client_secret_post',
    toProfile({ profile = {} }) {
      return {
        subject: subjectOf(profile.id),
        email: text(profile.email),
        // Meta does not say the email was verified (section 059: Kinde asks when none arrives).
        emailVerified: false,
        givenName: text(profile.first_name),
        familyName: text(profile.last_name),
        name: text(profile.name),
        picture: text(record(record(profile.picture).data).url),
      };
    },
  },
  {
    // docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps ;
    // PKCE: github.blog/changelog/2025-07-14-pkce-support-for-oauth-and-github-app-authentication
    strategy: 'oauth2:github',
    protocol: 'oauth2',
    endpoints: {
      authorization_endpoint: 'https://github.com/login/oauth/authorize',
      token_endpoint: 'https://github.com/login/oauth/access_token',
      userinfo_endpoint: 'https://api.github.com/user',
      emails_endpoint: 'https://api.github.com/user/emails',
    },
    // `user:email` reads /user/emails, which has the verified flag /user lacks.
    scopes: ['read:user', 'user:email'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    // docs.github.com/en/rest: the REST API refuses requests without a User-Agent.
    apiHeaders: { accept: 'application/vnd.github+json', 'user-agent': 'Gatehouse' },
    toProfile({ profile = {}, emails }) {
      const list = Array.isArray(emails) ? emails.map(record) : [];
      const primary = list.find((entry) => entry.primary === true && entry.verified === true);
      const name = text(profile.name) ?? text(profile.login);
      return {
        subject: subjectOf(profile.id),
        email: text(primary?.email),
        emailVerified: primary !== undefined && text(primary.email) !== undefined,
        ...splitName(text(profile.name)),
        name,
        picture: text(profile.avatar_url),
        username: text(profile.login),
      };
    },
  },
  {
    // docs.gitlab.com/ee/integration/openid_connect_provider.html (gitlab.com/.well-known/openid-configuration)
    strategy: 'oauth2:gitlab',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://gitlab.com',
      authorization_endpoint: 'https://gitlab.com/oauth/authorize',
      token_endpoint: 'https://gitlab.com/oauth/token',
      userinfo_endpoint: 'https://gitlab.com/oauth/userinfo',
      jwks_uri: 'https://gitlab.com/oauth/discovery/keys',
    },
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    toProfile: ({ claims }) => ({ ...standardClaims(claims), ...splitName(text(claims?.name)) }),
  },
  {
    // developers.google.com/identity/openid-connect/openid-connect (accounts.google.com/.well-known/openid-configuration)
    strategy: 'oauth2:google',
    protocol: 'oidc',
    endpoints: {
      // Tokens from the token endpoint carry `https://accounts.google.com` (the bare host form appears only in older flows).
      issuer: 'https://accounts.google.com',
      authorization_endpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
      token_endpoint: 'https://oauth2.googleapis.com/token',
      userinfo_endpoint: 'https://openidconnect.googleapis.com/v1/userinfo',
      jwks_uri: 'https://www.googleapis.com/oauth2/v3/certs',
    },
    scopes: ['openid', 'email', 'profile'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    toProfile: ({ claims }) => standardClaims(claims),
  },
  {
    // learn.microsoft.com/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2
    strategy: 'oauth2:linkedin',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://www.linkedin.com/oauth',
      authorization_endpoint: 'https://www.linkedin.com/oauth/v2/authorization',
      token_endpoint: 'https://www.linkedin.com/oauth/v2/accessToken',
      userinfo_endpoint: 'https://api.linkedin.com/v2/userinfo',
      jwks_uri: 'https://www.linkedin.com/oauth/openid/jwks',
    },
    scopes: ['openid', 'profile', 'email'],
    // LinkedIn's ID tokens carry no `nonce` whatever the request sends (python-social-auth/social-core
    // PR 833, authlib issue 763), and it offers PKCE to native clients only.
    nonce: false,
    pkce: false,
    tokenAuth: 'client_secret_post',
    toProfile: ({ claims }) => ({ ...standardClaims(claims), username: undefined }),
  },
  {
    // learn.microsoft.com/entra/identity-platform/v2-protocols-oidc (the `common` authority: work,
    // school and personal accounts, as section 064 sets the app up).
    strategy: 'oauth2:microsoft',
    protocol: 'oidc',
    discovery: 'https://login.microsoftonline.com/common/v2.0',
    endpoints: {
      issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
      authorization_endpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/authorize',
      token_endpoint: 'https://login.microsoftonline.com/common/oauth2/v2.0/token',
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      jwks_uri: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
    },
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    toProfile({ claims = {} }) {
      const profile = standardClaims(claims);
      // Entra ID's `email` is whatever the tenant's administrator typed ("nOAuth", Descope 2023;
      // learn.microsoft.com/entra/identity-platform/migrate-off-email-claim-authorization): it counts
      // as verified only for personal accounts, or with `xms_edov` (domain owner verified).
      const verified = profile.email !== undefined && (claims.tid === MICROSOFT_CONSUMERS_TENANT || claims.xms_edov === true || claims.xms_edov === 'true' || claims.xms_edov === '1');
      return { ...profile, emailVerified: verified, username: text(claims.preferred_username) };
    },
  },
  {
    // create.roblox.com/docs/cloud/reference/oauth2 (apis.roblox.com/oauth/.well-known/openid-configuration)
    strategy: 'oauth2:roblox',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://apis.roblox.com/oauth/',
      authorization_endpoint: 'https://apis.roblox.com/oauth/v1/authorize',
      token_endpoint: 'https://apis.roblox.com/oauth/v1/token',
      userinfo_endpoint: 'https://apis.roblox.com/oauth/v1/userinfo',
      jwks_uri: 'https://apis.roblox.com/oauth/v1/certs',
    },
    // Roblox has no email scope: the person is asked for one (section 055).
    scopes: ['openid', 'profile'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    toProfile: ({ claims }) => ({ ...standardClaims(claims), email: undefined, emailVerified: false, ...splitName(text(claims?.name)) }),
  },
  {
    // api.slack.com/authentication/sign-in-with-slack (slack.com/.well-known/openid-configuration)
    strategy: 'oauth2:slack',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://slack.com',
      authorization_endpoint: 'https://slack.com/openid/connect/authorize',
      token_endpoint: 'https://slack.com/api/openid.connect.token',
      userinfo_endpoint: 'https://slack.com/api/openid.connect.userInfo',
      jwks_uri: 'https://slack.com/openid/connect/keys',
    },
    scopes: ['openid', 'profile', 'email'],
    pkce: false,
    tokenAuth: 'client_secret_post',
    toProfile: ({ claims }) => standardClaims(claims),
  },
  {
    // dev.twitch.tv/docs/authentication/getting-tokens-oidc (id.twitch.tv/oauth2/.well-known/openid-configuration)
    strategy: 'oauth2:twitch',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://id.twitch.tv/oauth2',
      authorization_endpoint: 'https://id.twitch.tv/oauth2/authorize',
      token_endpoint: 'https://id.twitch.tv/oauth2/token',
      userinfo_endpoint: 'https://id.twitch.tv/oauth2/userinfo',
      jwks_uri: 'https://id.twitch.tv/oauth2/keys',
    },
    scopes: ['openid', 'user:read:email'],
    pkce: false,
    tokenAuth: 'client_secret_post',
    // Twitch's ID token carries only what the `claims` parameter asks for ("Requesting claims").
    authorizationParams: { claims: JSON.stringify({ id_token: { email: null, email_verified: null, picture: null, preferred_username: null } }) },
    toProfile: ({ claims }) => ({ ...standardClaims(claims), name: text(claims?.preferred_username) }),
  },
  {
    // developer.x.com/en/docs/authentication/oauth-2-0/authorization-code ; GET /2/users/me
    strategy: 'oauth2:twitter',
    protocol: 'oauth2',
    endpoints: {
      authorization_endpoint: 'https://x.com/i/oauth2/authorize',
      token_endpoint: 'https://api.x.com/2/oauth2/token',
      userinfo_endpoint: 'https://api.x.com/2/users/me?user.fields=profile_image_url',
    },
    // `users.read` needs `tweet.read` beside it (X's scope table).
    scopes: ['users.read', 'tweet.read'],
    // X requires PKCE on every authorization request.
    pkce: true,
    // Confidential clients authenticate with Basic ("Confidential clients" in X's OAuth 2.0 guide).
    tokenAuth: 'client_secret_basic',
    toProfile({ profile = {} }) {
      const user = record(profile.data);
      const name = text(user.name);
      // X gives no email: the person is asked for one (section 068).
      return { subject: subjectOf(user.id), email: undefined, emailVerified: false, ...splitName(name), name, picture: text(user.profile_image_url), username: text(user.username) };
    },
  },
  {
    // developer.xero.com/documentation/guides/oauth2/sign-in (identity.xero.com/.well-known/openid-configuration)
    strategy: 'oauth2:xero',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://identity.xero.com',
      authorization_endpoint: 'https://login.xero.com/identity/connect/authorize',
      token_endpoint: 'https://identity.xero.com/connect/token',
      userinfo_endpoint: 'https://identity.xero.com/connect/userinfo',
      jwks_uri: 'https://identity.xero.com/.well-known/openid-configuration/jwks',
    },
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    // Xero's token examples send `Authorization: Basic base64(client_id:client_secret)`.
    tokenAuth: 'client_secret_basic',
    toProfile: ({ claims }) => standardClaims(claims),
  },
];

const BY_STRATEGY = new Map(PROVIDERS.map((provider) => [provider.strategy, provider]));

export function socialProvider(strategy: string): SocialProvider | undefined {
  return BY_STRATEGY.get(strategy);
}

export const SOCIAL_PROVIDER_STRATEGIES = PROVIDERS.map((provider) => provider.strategy);
