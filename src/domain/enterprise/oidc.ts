import * as client from 'openid-client';
import { outboundFetch } from '../../http/outbound.ts';
import type { OidcProvider, ProviderEndpoints } from '../social/providers.ts';
import type { SocialConnection } from '../social/connections.ts';
import { type BegunSignIn, type BeginOptions, beginUpstreamSignIn, type CompleteOptions, completeUpstreamSignIn, SocialSignInError } from '../social/upstream.ts';
import type { EnterpriseConnection } from './connections.ts';
import { type EnterpriseOptions, enterpriseProtocol } from './options.ts';
import type { EnterpriseProfile } from './profile.ts';

export type { EnterpriseProfile } from './profile.ts';

/**
 * Enterprise sign-in over OpenID Connect: Microsoft Entra ID (`oauth2:azure_ad`, section 032) and any
 * OpenID Provider by its issuer (`oidc:custom`). Each connection becomes a provider description like a
 * social catalogue entry and goes through the same openid-client round trip (social/upstream.ts):
 * state, nonce, PKCE, ID token signature, issuer, audience. What is enterprise-only is here: the
 * tenant check, groups, and the claim mapping.
 */

const MICROSOFT = 'https://login.microsoftonline.com';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The common endpoint is Microsoft's `organizations` authority: work and school accounts of any
 * tenant (personal accounts could never pass the allowed-tenant check anyway).
 */
function entraAuthority(options: EnterpriseOptions): string {
  return options.is_use_common_endpoint ? 'organizations' : options.entra_id_domain!;
}

function entraProvider(options: EnterpriseOptions): OidcProvider {
  const tenant = entraAuthority(options);
  return {
    strategy: 'oauth2:azure_ad',
    protocol: 'oidc',
    // Discovered (so openid-client checks the tenant-templated issuer of multi-tenant metadata itself).
    discovery: `${MICROSOFT}/${tenant}/v2.0`,
    endpoints: {
      issuer: `${MICROSOFT}/${tenant}/v2.0`,
      authorization_endpoint: `${MICROSOFT}/${tenant}/oauth2/v2.0/authorize`,
      token_endpoint: `${MICROSOFT}/${tenant}/oauth2/v2.0/token`,
      jwks_uri: `${MICROSOFT}/${tenant}/discovery/v2.0/keys`,
    },
    scopes: ['openid', 'profile', 'email'],
    pkce: true,
    tokenAuth: 'client_secret_post',
    toProfile: () => {
      throw new Error('enterprise profiles are read by enterpriseProfile');
    },
  };
}

/** Discovered metadata per issuer, for a few minutes: the authorization URL is built before any callback. */
const discovered = new Map<string, { endpoints: ProviderEndpoints & { issuer: string; authorization_endpoint: string; token_endpoint: string; jwks_uri: string }; tokenAuth: OidcProvider['tokenAuth']; at: number }>();
const DISCOVERY_TTL_MS = 5 * 60_000;

async function customProvider(options: EnterpriseOptions, allowPrivateNetwork: boolean): Promise<OidcProvider> {
  const issuer = options.issuer!;
  let known = discovered.get(issuer);
  if (!known || Date.now() - known.at > DISCOVERY_TTL_MS) {
    let server: client.ServerMetadata;
    try {
      const execute = issuer.startsWith('http:') ? [client.allowInsecureRequests] : [];
      const config = await client.discovery(new URL(issuer), options.client_id!, undefined, undefined, { [client.customFetch]: outboundFetch({ allowPrivateNetwork }) as client.CustomFetch, timeout: 10, execute });
      server = config.serverMetadata();
    } catch (error) {
      throw new SocialSignInError('provider_error', `${new URL(issuer).host}: discovery failed: ${(error as Error).message}`, (error as { code?: string }).code);
    }
    if (!server.authorization_endpoint || !server.token_endpoint || !server.jwks_uri) throw new SocialSignInError('provider_error', 'the provider\'s metadata lacks an authorization, token or JWKS endpoint');
    // OIDC Discovery §9: client_secret_basic is the default when the provider names none.
    const methods = server.token_endpoint_auth_methods_supported ?? ['client_secret_basic'];
    known = {
      endpoints: { issuer: server.issuer, authorization_endpoint: server.authorization_endpoint, token_endpoint: server.token_endpoint, jwks_uri: server.jwks_uri, ...(server.userinfo_endpoint ? { userinfo_endpoint: server.userinfo_endpoint } : {}) },
      tokenAuth: methods.includes('client_secret_basic') ? 'client_secret_basic' : 'client_secret_post',
      at: Date.now(),
    };
    discovered.set(issuer, known);
  }
  return {
    strategy: 'oidc:custom',
    protocol: 'oidc',
    endpoints: known.endpoints,
    scopes: options.scopes?.length ? [...new Set(['openid', ...options.scopes])] : ['openid', 'profile', 'email'],
    pkce: true,
    tokenAuth: options.token_endpoint_auth_method ?? known.tokenAuth,
    toProfile: () => {
      throw new Error('enterprise profiles are read by enterpriseProfile');
    },
  };
}

async function providerFor(connection: EnterpriseConnection, allowPrivateNetwork: boolean): Promise<OidcProvider> {
  switch (enterpriseProtocol(connection.strategy)) {
    case 'entra':
      return entraProvider(connection.options);
    case 'oidc':
      return customProvider(connection.options, allowPrivateNetwork);
    default:
      throw new SocialSignInError('misconfigured', `${connection.strategy} is not an OpenID Connect connection`);
  }
}

/** The options the shared round trip reads (client credentials, endpoints, upstream params). */
function asUpstream(connection: EnterpriseConnection): SocialConnection {
  const { client_id, client_secret, endpoints, upstream_params } = connection.options;
  return { id: connection.id, strategy: connection.strategy, isTrusted: connection.isTrusted, options: { client_id, client_secret, endpoints, upstream_params } };
}

export async function beginEnterpriseOidcSignIn(connection: EnterpriseConnection, options: BeginOptions): Promise<BegunSignIn> {
  return beginUpstreamSignIn(await providerFor(connection, options.allowPrivateNetwork), asUpstream(connection), options);
}

/**
 * Section 032 and issue 12: a tenant-specific connection takes only its tenant's people; with the
 * common endpoint, only the tenants it lists. Entra ID's issuer names the tenant
 * (`https://login.microsoftonline.com/{tid}/v2.0`), and must agree with `tid`.
 */
export function assertEntraTenant(options: EnterpriseOptions, claims: Record<string, unknown>): void {
  const tid = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : undefined;
  if (!tid) throw new SocialSignInError('wrong_tenant', 'the ID token names no tenant (tid)');
  const issuerTenant = typeof claims.iss === 'string' ? /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/.exec(claims.iss)?.[1]?.toLowerCase() : undefined;
  if (issuerTenant !== undefined && issuerTenant !== tid) throw new SocialSignInError('wrong_tenant', "the ID token's issuer and tid name different tenants");
  if (options.is_use_common_endpoint) {
    if (!(options.entra_allowed_tenant_ids ?? []).includes(tid)) throw new SocialSignInError('wrong_tenant', 'the person\'s tenant is not one this connection allows');
    return;
  }
  // A tenant given by domain name is checked by the issuer discovery returned (openid-client compares `iss`).
  if (options.entra_id_domain && GUID.test(options.entra_id_domain) && options.entra_id_domain.toLowerCase() !== tid) {
    throw new SocialSignInError('wrong_tenant', 'the person\'s tenant is not this connection\'s');
  }
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value.trim() !== '' ? value : undefined);
const isTrue = (value: unknown): boolean => value === true || value === 'true';
const strings = (value: unknown): string[] | undefined => (Array.isArray(value) ? value.filter((one): one is string => typeof one === 'string') : undefined);

/** The validated ID token's claims as an enterprise profile. */
export function enterpriseProfile(connection: EnterpriseConnection, claims: Record<string, unknown>): EnterpriseProfile {
  const { options } = connection;
  const entra = enterpriseProtocol(connection.strategy) === 'entra';
  const mapping = entra ? {} : (options.claim_mapping ?? {});
  const subject = text(claims[mapping.subject ?? 'sub']);
  if (!subject) throw new SocialSignInError('provider_error', 'the provider did not say who the person is');
  const email = text(claims[mapping.email ?? 'email']) ?? (entra ? text(claims.preferred_username) : undefined);
  // Entra's `email` is what the tenant's administrator typed ("nOAuth"): verified only with xms_edov.
  const emailVerified = email !== undefined && (entra ? isTrue(claims.xms_edov) || claims.xms_edov === '1' : isTrue(claims[mapping.email_verified ?? 'email_verified']));
  const profile: EnterpriseProfile = {
    subject,
    email,
    email_verified: emailVerified,
    given_name: text(claims[mapping.given_name ?? 'given_name']),
    family_name: text(claims[mapping.family_name ?? 'family_name']),
    attributes: claims,
  };
  if (options.is_retrieve_provider_user_groups) profile.ext_groups = strings(claims[mapping.groups ?? 'groups']) ?? [];
  return profile;
}

export async function completeEnterpriseOidcSignIn(connection: EnterpriseConnection, callbackParams: URLSearchParams | Record<string, string>, options: CompleteOptions): Promise<EnterpriseProfile> {
  const provider = await providerFor(connection, options.allowPrivateNetwork);
  const answers = await completeUpstreamSignIn(provider, asUpstream(connection), callbackParams, options);
  const claims = answers.claims ?? {};
  if (enterpriseProtocol(connection.strategy) === 'entra') assertEntraTenant(connection.options, claims);
  return enterpriseProfile(connection, claims);
}
