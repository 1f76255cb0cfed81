import { createPrivateKey, X509Certificate } from 'node:crypto';
import { z } from 'zod';
import { endpoints, endpointUrl, parseOptions, secret, upstreamParams, type UpstreamParams, visibleOptions } from '../connection-options.ts';
import { DomainError } from '../errors.ts';
import type { ProviderEndpoints } from '../social/providers.ts';

/**
 * Enterprise connections' options (sections 030–043), as Kinde's `CreateConnectionData` takes them,
 * plus Gatehouse's `oidc:custom`, `endpoints` and `entra_allowed_tenant_ids`. Sealed at rest like the
 * social ones; `SECRET_OPTIONS` are never shown again. A SAML preset (`saml:okta`…) only changes
 * defaults (`samlDefaults`); every check is the same for all of them.
 */
export const SECRET_OPTIONS = ['client_secret', 'saml_signing_private_key'] as const;

export const SAML_STRATEGIES = ['saml:custom', 'saml:okta', 'saml:google', 'saml:cloudflare', 'saml:microsoft'] as const;
export const ENTRA_STRATEGY = 'oauth2:azure_ad';
export const CUSTOM_OIDC_STRATEGY = 'oidc:custom';

export type EnterpriseProtocol = 'saml' | 'entra' | 'oidc';

export function enterpriseProtocol(strategy: string): EnterpriseProtocol | undefined {
  if ((SAML_STRATEGIES as readonly string[]).includes(strategy)) return 'saml';
  if (strategy === ENTRA_STRATEGY) return 'entra';
  if (strategy === CUSTOM_OIDC_STRATEGY) return 'oidc';
  return undefined;
}

/** A domain as people type it after the `@`: lower-cased, at least one dot, no scheme or path. */
const domain = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$/, 'must be a domain such as example.com');

/** Section 038, and what every enterprise connection shares (sections 036, 040, 042). */
const common = {
  is_trusted: z.boolean().optional(),
  home_realm_domains: z
    .array(domain)
    .max(100)
    .refine((domains) => new Set(domains).size === domains.length, 'must not repeat a domain')
    .nullable()
    .optional(),
  is_create_missing_user: z.boolean().optional(),
  is_force_show_sso_button: z.boolean().optional(),
  is_auto_join_organization_enabled: z.boolean().optional(),
  is_sync_user_profile_on_login: z.boolean().optional(),
  is_use_custom_domain: z.boolean().optional(),
  upstream_params: upstreamParams.nullable().optional(),
};

const attributeName = z.string().trim().min(1).max(500);
const pem = z.string().min(1).max(20_000);

export const NAME_ID_FORMATS = {
  Persistent: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent',
  Transient: 'urn:oasis:names:tc:SAML:2.0:nameid-format:transient',
  'Email address': 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
  Unspecified: 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified',
} as const;

const samlInput = z
  .object({
    ...common,
    saml_entity_id: z.string().trim().min(1).max(1024).optional(),
    saml_idp_metadata_url: endpointUrl.optional(),
    saml_sign_in_url: endpointUrl.nullable().optional(),
    sign_request_algorithm: z.enum(['RSA-SHA256', 'RSA-SHA1']).nullable().optional(),
    protocol_binding: z.enum(['HTTP-REDIRECT', 'HTTP-POST']).nullable().optional(),
    name_id_format: z.enum(Object.keys(NAME_ID_FORMATS) as [keyof typeof NAME_ID_FORMATS]).nullable().optional(),
    saml_email_key_attr: attributeName.nullable().optional(),
    saml_user_id_key_attr: attributeName.nullable().optional(),
    saml_first_name_key_attr: attributeName.nullable().optional(),
    saml_last_name_key_attr: attributeName.nullable().optional(),
    saml_signing_certificate: pem.nullable().optional(),
    saml_signing_private_key: secret.nullable().optional(),
  })
  .strict();

const tenantId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, 'must be a tenant id (a GUID)').transform((id) => id.toLowerCase());

const entraInput = z
  .object({
    ...common,
    client_id: z.string().min(1).max(500).optional(),
    client_secret: secret.optional(),
    /** The tenant: its primary domain (`contoso.onmicrosoft.com`) or its id. */
    entra_id_domain: z.string().trim().min(1).max(253).regex(/^[A-Za-z0-9.-]+$/, 'must be a domain or tenant id').nullable().optional(),
    is_use_common_endpoint: z.boolean().optional(),
    /** Gatehouse: with the common endpoint, the tenants whose people may sign in. */
    entra_allowed_tenant_ids: z.array(tenantId).max(100).nullable().optional(),
    is_retrieve_provider_user_groups: z.boolean().optional(),
    is_extended_attributes_required: z.boolean().optional(),
    endpoints: endpoints.nullable().optional(),
  })
  .strict();

const claimName = z.string().trim().min(1).max(200);

const oidcInput = z
  .object({
    ...common,
    issuer: endpointUrl.optional(),
    client_id: z.string().min(1).max(500).optional(),
    client_secret: secret.optional(),
    scopes: z.array(z.string().regex(/^[\x21\x23-\x5B\x5D-\x7E]{1,200}$/, 'must be a scope token')).max(50).nullable().optional(),
    /** Which claim holds each profile field, where the provider does not use the standard names (OIDC Core §5.1). */
    claim_mapping: z
      .object({ subject: claimName, email: claimName, email_verified: claimName, given_name: claimName, family_name: claimName, name: claimName, picture: claimName, groups: claimName })
      .partial()
      .strict()
      .nullable()
      .optional(),
    is_retrieve_provider_user_groups: z.boolean().optional(),
    /** How Gatehouse authenticates at the token endpoint, when the provider's registration says (RFC 6749 §2.3.1). */
    token_endpoint_auth_method: z.enum(['client_secret_basic', 'client_secret_post']).nullable().optional(),
  })
  .strict();

interface CommonOptions {
  home_realm_domains?: string[];
  is_create_missing_user?: boolean;
  is_force_show_sso_button?: boolean;
  is_auto_join_organization_enabled?: boolean;
  is_sync_user_profile_on_login?: boolean;
  is_use_custom_domain?: boolean;
  upstream_params?: UpstreamParams;
}

export interface SamlOptions extends CommonOptions {
  saml_entity_id?: string;
  saml_idp_metadata_url?: string;
  saml_sign_in_url?: string;
  sign_request_algorithm?: 'RSA-SHA256' | 'RSA-SHA1';
  protocol_binding?: 'HTTP-REDIRECT' | 'HTTP-POST';
  name_id_format?: keyof typeof NAME_ID_FORMATS;
  saml_email_key_attr?: string;
  saml_user_id_key_attr?: string;
  saml_first_name_key_attr?: string;
  saml_last_name_key_attr?: string;
  saml_signing_certificate?: string;
  saml_signing_private_key?: string;
}

export interface EntraOptions extends CommonOptions {
  client_id?: string;
  client_secret?: string;
  entra_id_domain?: string;
  is_use_common_endpoint?: boolean;
  entra_allowed_tenant_ids?: string[];
  is_retrieve_provider_user_groups?: boolean;
  is_extended_attributes_required?: boolean;
  endpoints?: ProviderEndpoints;
}

export interface OidcOptions extends CommonOptions {
  issuer?: string;
  client_id?: string;
  client_secret?: string;
  scopes?: string[];
  claim_mapping?: Partial<Record<'subject' | 'email' | 'email_verified' | 'given_name' | 'family_name' | 'name' | 'picture' | 'groups', string>>;
  is_retrieve_provider_user_groups?: boolean;
  token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post';
}

export type EnterpriseOptions = SamlOptions & EntraOptions & OidcOptions;

const SCHEMAS = { saml: samlInput, entra: entraInput, oidc: oidcInput } as const;

export function parseEnterpriseOptions(strategy: string, given: unknown): Record<string, unknown> {
  const protocol = enterpriseProtocol(strategy);
  if (!protocol) throw new DomainError('STRATEGY_NOT_SUPPORTED', `Connections of strategy ${strategy} cannot be created yet`, 400);
  return parseOptions(SCHEMAS[protocol], given);
}

/** What a SAML preset changes: defaults only, never a check (issue 12). */
interface SamlDefaults {
  name_id_format: keyof typeof NAME_ID_FORMATS;
  protocol_binding: 'HTTP-REDIRECT' | 'HTTP-POST';
  saml_email_key_attr: string;
  saml_first_name_key_attr: string;
  saml_last_name_key_attr: string;
}

const MICROSOFT_CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

const PRESETS: Record<(typeof SAML_STRATEGIES)[number], SamlDefaults> = {
  'saml:custom': { name_id_format: 'Unspecified', protocol_binding: 'HTTP-REDIRECT', saml_email_key_attr: 'email', saml_first_name_key_attr: 'firstName', saml_last_name_key_attr: 'lastName' },
  // Section 041: Okta's Name ID format is EmailAddress.
  'saml:okta': { name_id_format: 'Email address', protocol_binding: 'HTTP-REDIRECT', saml_email_key_attr: 'email', saml_first_name_key_attr: 'firstName', saml_last_name_key_attr: 'lastName' },
  // Section 034: Google Workspace sends the primary email as Name ID (format EMAIL); POST is what its SAML app takes.
  'saml:google': { name_id_format: 'Email address', protocol_binding: 'HTTP-POST', saml_email_key_attr: 'email', saml_first_name_key_attr: 'firstName', saml_last_name_key_attr: 'lastName' },
  'saml:cloudflare': { name_id_format: 'Email address', protocol_binding: 'HTTP-POST', saml_email_key_attr: 'email', saml_first_name_key_attr: 'firstName', saml_last_name_key_attr: 'lastName' },
  // Section 037: Entra ID's default claims.
  'saml:microsoft': {
    name_id_format: 'Email address',
    protocol_binding: 'HTTP-REDIRECT',
    saml_email_key_attr: `${MICROSOFT_CLAIMS}/emailaddress`,
    saml_first_name_key_attr: `${MICROSOFT_CLAIMS}/givenname`,
    saml_last_name_key_attr: `${MICROSOFT_CLAIMS}/surname`,
  },
};

/** The options in effect: the preset's defaults under what the administrator set. */
export function samlSettings(strategy: string, options: SamlOptions): SamlOptions & SamlDefaults & { sign_request_algorithm: 'RSA-SHA256' | 'RSA-SHA1' } {
  const defaults = PRESETS[strategy as (typeof SAML_STRATEGIES)[number]] ?? PRESETS['saml:custom'];
  return { sign_request_algorithm: 'RSA-SHA256', ...defaults, ...options };
}

function invalid(message: string): never {
  throw new DomainError('INVALID_REQUEST', message, 400);
}

/** The AuthnRequest signing pair: both or neither, an RSA key that belongs to the certificate. */
function assertSigningPair(options: SamlOptions): void {
  const { saml_signing_certificate: certificatePem, saml_signing_private_key: keyPem } = options;
  if (!certificatePem && !keyPem) return;
  if (!certificatePem || !keyPem) invalid('options: saml_signing_certificate and saml_signing_private_key go together');
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    invalid('options.saml_signing_certificate: must be a PEM X.509 certificate');
  }
  let key;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    invalid('options.saml_signing_private_key: must be a PEM private key');
  }
  if (key.asymmetricKeyType !== 'rsa') invalid('options.saml_signing_private_key: must be an RSA key (RSA-SHA256 / RSA-SHA1)');
  if (!certificate.checkPrivateKey(key)) invalid('options: saml_signing_private_key does not belong to saml_signing_certificate');
}

/** A connection no one could sign in through is refused whole. */
export async function assertUsableEnterpriseOptions(strategy: string, options: EnterpriseOptions): Promise<void> {
  switch (enterpriseProtocol(strategy)) {
    case 'saml':
      if (!options.saml_entity_id) invalid('options.saml_entity_id: a SAML connection needs the entity ID your IdP knows Gatehouse by');
      if (!options.saml_idp_metadata_url) invalid("options.saml_idp_metadata_url: a SAML connection needs your IdP's metadata URL");
      assertSigningPair(options);
      return;
    case 'entra':
      if (!options.client_id) invalid('options.client_id: an Entra ID connection needs the client ID of your app registration');
      if (!options.client_secret) invalid('options.client_secret: an Entra ID connection needs the client secret of your app registration');
      if (options.is_use_common_endpoint) {
        // The common endpoint signs in people of any tenant; only the ones listed may come in (issue 12).
        if (!options.entra_allowed_tenant_ids?.length) invalid('options.entra_allowed_tenant_ids: with the common endpoint, list the tenant ids whose people may sign in');
      } else if (!options.entra_id_domain) {
        invalid('options.entra_id_domain: an Entra ID connection needs the tenant (its domain or id), or the common endpoint');
      }
      return;
    case 'oidc':
      if (!options.issuer) invalid("options.issuer: an OIDC connection needs the provider's issuer URL");
      if (!options.client_id) invalid('options.client_id: an OIDC connection needs the client ID of your app at the provider');
      if (!options.client_secret) invalid('options.client_secret: an OIDC connection needs the client secret of your app at the provider');
      return;
    default:
      throw new DomainError('STRATEGY_NOT_SUPPORTED', `Connections of strategy ${strategy} cannot be created yet`, 400);
  }
}

/** The options as the management API shows them: everything but the secrets. */
export function visibleEnterpriseOptions(options: EnterpriseOptions, isTrusted: boolean): Record<string, unknown> {
  return visibleOptions(options, isTrusted, SECRET_OPTIONS);
}
