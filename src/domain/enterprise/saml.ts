import { randomBytes } from 'node:crypto';
import { type CacheProvider, generateServiceProviderMetadata, type Profile, SAML, type SamlConfig, ValidateInResponseTo } from '@node-saml/node-saml';
import { clock } from '../../clock.ts';
import type { Db } from '../../store/db.ts';
import { resolveUpstreamParams } from '../social/upstream.ts';
import type { EnterpriseConnection } from './connections.ts';
import { enterpriseProtocol, NAME_ID_FORMATS, samlSettings } from './options.ts';
import { acceptOnce, checkAssertion, CLOCK_SKEW_MS, failureOf, inspectResponse } from './saml-checks.ts';
import type { EnterpriseProfile } from './profile.ts';
import { SamlSignInError } from './saml-errors.ts';
import { DomainError } from '../errors.ts';
import { certificateBody, type IdpMetadata, idpMetadata, refreshAfterUnknownCertificate, refreshIdpMetadata } from './saml-metadata.ts';

/**
 * Gatehouse as a SAML service provider, on @node-saml/node-saml (no XML signature code of our own).
 * SP-initiated only (DESIGN.md §5): `beginSamlSignIn` makes the AuthnRequest and returns its id, which
 * the sign-in flow keeps; `completeSamlSignIn` accepts a response only in reply to that id, signed over
 * the assertion it uses, from the IdP's issuer, for our entity ID and ACS, in time, and once.
 *
 * How the `/saml/callback` route uses them: begin → keep `{ connectionId, requestId }` in the flow,
 * send the browser on (redirect, or the auto-posting form with `fields`) with the flow's handle as
 * `RelayState`; the IdP POSTs `SAMLResponse` + `RelayState` cross-site to the ACS (no `SameSite=Lax`
 * cookie comes with it), so find the flow by `RelayState`, then complete with its `requestId`.
 */

export { SamlSignInError, type SamlSignInFailure } from './saml-errors.ts';

export interface SamlContext {
  db: Db;
  /** Gatehouse's issuer URL: the ACS is `<issuer>/saml/callback`. */
  issuer: string;
  /** See `providerCallsMayReachPrivateNetwork` (metadata fetches obey it). */
  allowPrivateNetwork: boolean;
}

export const samlAcsUrl = (issuer: string) => `${issuer}/saml/callback`;
export const samlMetadataUrl = (issuer: string, connectionId: string) => `${issuer}/saml/metadata/${connectionId}`;

/** A SAMLResponse larger than this is not one an IdP sends for one person. */
const MAX_RESPONSE_BYTES = 256 * 1024;

/** Where the browser goes with the AuthnRequest: a redirect, or a form the page posts (auto-submitting) to `url`. */
export type SamlRequestDelivery = { binding: 'HTTP-Redirect'; url: string } | { binding: 'HTTP-POST'; url: string; fields: Record<string, string> };

/** The delivery and the request id the flow must keep. */
export type BegunSamlSignIn = SamlRequestDelivery & { requestId: string };

/** A SAML sign-in's profile: attributes by name (a value, or several). */
export type SamlProfile = EnterpriseProfile & { attributes: Record<string, string | string[]> };

/** The request id flows keep (an XML NCName: starts with `_`). */
const newRequestId = () => `_${randomBytes(20).toString('hex')}`;

/** node-saml's InResponseTo check against exactly one request: the one this flow started. */
function onlyRequest(requestId: string | undefined): CacheProvider {
  return {
    saveAsync: async () => null,
    getAsync: async (key) => (requestId !== undefined && key === requestId ? new Date(clock.now()).toISOString() : null),
    removeAsync: async () => null,
  };
}

function samlFor(connection: EnterpriseConnection, metadata: IdpMetadata, issuer: string, requestId: string | undefined, forceAuthn = false): { saml: SAML; post: boolean } {
  const settings = samlSettings(connection.strategy, connection.options);
  const post = settings.protocol_binding === 'HTTP-POST';
  const entryPoint = settings.saml_sign_in_url ?? (post ? (metadata.signOn.post ?? metadata.signOn.redirect) : (metadata.signOn.redirect ?? metadata.signOn.post));
  if (!entryPoint) throw new SamlSignInError('misconfigured', 'the IdP metadata has no single sign-on URL, and the connection sets no saml_sign_in_url');
  const signing = settings.saml_signing_private_key
    ? { privateKey: settings.saml_signing_private_key, publicCert: settings.saml_signing_certificate, signatureAlgorithm: settings.sign_request_algorithm === 'RSA-SHA1' ? ('sha1' as const) : ('sha256' as const) }
    : {};
  const config: SamlConfig = {
    entryPoint,
    issuer: settings.saml_entity_id!,
    audience: settings.saml_entity_id!,
    callbackUrl: samlAcsUrl(issuer),
    idpCert: metadata.certificates,
    ...signing,
    identifierFormat: NAME_ID_FORMATS[settings.name_id_format],
    authnRequestBinding: post ? 'HTTP-POST' : 'HTTP-Redirect',
    // The POST binding carries the message base64-encoded, not deflated (SAML bindings §3.5.4).
    skipRequestCompression: post,
    disableRequestedAuthnContext: true,
    forceAuthn,
    validateInResponseTo: ValidateInResponseTo.always,
    cacheProvider: onlyRequest(requestId),
    acceptedClockSkewMs: CLOCK_SKEW_MS,
    // Either a signed response or a signed assertion; node-saml then reads only what the signature covers.
    wantAssertionsSigned: false,
    wantAuthnResponseSigned: false,
    generateUniqueId: () => requestId ?? newRequestId(),
  };
  return { saml: new SAML(config), post };
}

function metadataSource(context: SamlContext) {
  return { db: context.db, allowPrivateNetwork: context.allowPrivateNetwork };
}

function metadataUrlOf(connection: EnterpriseConnection): string {
  const url = connection.options.saml_idp_metadata_url;
  if (!url) throw new SamlSignInError('misconfigured', 'the connection has no saml_idp_metadata_url');
  return url;
}

export async function beginSamlSignIn(
  connection: EnterpriseConnection,
  context: SamlContext & {
    /** The flow's handle: the IdP posts it back with the response (the cross-site POST carries no Lax cookie). */
    relayState: string;
    upstreamParams?: Partial<Record<'prompt' | 'login_hint', string | undefined>>;
    loginHint?: string | undefined;
    /** `prompt=login` reaches the IdP as `ForceAuthn` (SAML core §3.4.1): the person must sign in again there too. */
    forceAuthn?: boolean | undefined;
  },
): Promise<BegunSamlSignIn> {
  const metadata = await idpMetadata(metadataSource(context), connection.id, metadataUrlOf(connection));
  const requestId = newRequestId();
  const { saml, post } = samlFor(connection, metadata, context.issuer, requestId, context.forceAuthn);
  // Section 031: upstream params travel beside the message; the protocol's own never move (options.ts refuses them).
  const additionalParams = resolveUpstreamParams(connection.options.upstream_params, context.upstreamParams, context.loginHint);
  try {
    if (!post) return { binding: 'HTTP-Redirect', requestId, url: await saml.getAuthorizeUrlAsync(context.relayState, undefined, { additionalParams }) };
    const message = await saml.getAuthorizeMessageAsync(context.relayState, undefined, { additionalParams });
    const fields = Object.fromEntries(Object.entries(message).map(([name, value]) => [name, String(value)]));
    return { binding: 'HTTP-POST', requestId, url: saml.options.entryPoint!, fields };
  } catch (error) {
    throw new SamlSignInError('misconfigured', `the AuthnRequest could not be made: ${(error as Error).message}`);
  }
}

const text = (value: unknown): string | undefined => {
  const first = Array.isArray(value) ? value[0] : value;
  return typeof first === 'string' && first.trim() !== '' ? first.trim() : undefined;
};

function profileOf(connection: EnterpriseConnection, profile: Profile): SamlProfile {
  const settings = samlSettings(connection.strategy, connection.options);
  const attributes: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries((profile.attributes ?? {}) as Record<string, unknown>)) {
    if (typeof value === 'string') attributes[name] = value;
    else if (Array.isArray(value)) attributes[name] = value.filter((one): one is string => typeof one === 'string');
  }
  const nameIdIsEmail = profile.nameIDFormat === NAME_ID_FORMATS['Email address'];
  const subject = (settings.saml_user_id_key_attr && text(attributes[settings.saml_user_id_key_attr])) || text(profile.nameID);
  if (!subject) throw new SamlSignInError('malformed', 'the assertion does not say who the person is (no NameID or user id attribute)');
  return {
    subject,
    email: text(attributes[settings.saml_email_key_attr]) ?? (nameIdIsEmail ? text(profile.nameID) : undefined),
    given_name: text(attributes[settings.saml_first_name_key_attr]),
    family_name: text(attributes[settings.saml_last_name_key_attr]),
    attributes,
  };
}

async function validate(connection: EnterpriseConnection, metadata: IdpMetadata, samlResponse: string, expectedRequestId: string, context: SamlContext): Promise<Profile> {
  const { saml } = samlFor(connection, metadata, context.issuer, expectedRequestId);
  const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: samlResponse });
  if (!profile) throw new SamlSignInError('malformed', 'the SAML response carries no assertion');
  return profile;
}

export async function completeSamlSignIn(connection: EnterpriseConnection, samlResponse: string, expectedRequestId: string, context: SamlContext): Promise<SamlProfile> {
  if (samlResponse.length > (MAX_RESPONSE_BYTES * 4) / 3) throw new SamlSignInError('malformed', 'the SAML response is too large');
  const acsUrl = samlAcsUrl(context.issuer);
  const source = metadataSource(context);
  const url = metadataUrlOf(connection);
  let metadata = await idpMetadata(source, connection.id, url);
  const xml = Buffer.from(samlResponse, 'base64').toString('utf8');
  try {
    const { signingCertificates } = inspectResponse(xml, acsUrl, metadata);
    let profile: Profile;
    try {
      profile = await validate(connection, metadata, samlResponse, expectedRequestId, context);
    } catch (error) {
      const failure = failureOf(error);
      const known = new Set(metadata.certificates.map(certificateBody));
      const unknownCertificate = signingCertificates.some((certificate) => !known.has(certificateBody(certificate)));
      if (failure.kind !== 'invalid_signature' || !unknownCertificate) throw failure;
      // Section 043: the IdP may have rotated its certificate; try once more with fresh metadata.
      const fresh = await refreshAfterUnknownCertificate(source, connection.id, url, metadata);
      if (!fresh) throw failure;
      metadata = fresh;
      profile = await validate(connection, metadata, samlResponse, expectedRequestId, context);
    }
    const { assertionId, expiresAt } = checkAssertion(profile.getAssertionXml!(), { acsUrl, requestId: expectedRequestId, idpEntityId: metadata.entityId });
    const result = profileOf(connection, profile);
    await acceptOnce(context.db, connection.id, assertionId, expiresAt);
    return result;
  } catch (error) {
    throw failureOf(error);
  }
}

/** `GET <issuer>/saml/metadata/{connection_id}`: what the IdP administrator imports. */
export function serviceProviderMetadata(connection: EnterpriseConnection, issuer: string): string {
  const settings = samlSettings(connection.strategy, connection.options);
  return generateServiceProviderMetadata({
    issuer: settings.saml_entity_id!,
    callbackUrl: samlAcsUrl(issuer),
    identifierFormat: NAME_ID_FORMATS[settings.name_id_format],
    wantAssertionsSigned: true,
    // node-saml lists the signing certificate (AuthnRequestsSigned) only when given the key too; the
    // metadata itself stays unsigned and never carries the key.
    ...(settings.saml_signing_private_key && settings.saml_signing_certificate ? { privateKey: settings.saml_signing_private_key, publicCerts: settings.saml_signing_certificate, signMetadata: false } : {}),
  });
}

/** `POST /connections/{id}/refresh_metadata` (section 043): the metadata fetched again, and what it now says. */
export async function refreshConnectionMetadata(connection: EnterpriseConnection, context: SamlContext): Promise<{ entity_id: string; signing_certificates: number; sign_in_urls: IdpMetadata['signOn'] }> {
  if (enterpriseProtocol(connection.strategy) !== 'saml') throw new DomainError('NOT_A_SAML_CONNECTION', 'Only SAML connections have IdP metadata to refresh', 400);
  try {
    const metadata = await refreshIdpMetadata(metadataSource(context), connection.id, metadataUrlOf(connection));
    return { entity_id: metadata.entityId, signing_certificates: metadata.certificates.length, sign_in_urls: metadata.signOn };
  } catch (error) {
    if (error instanceof SamlSignInError) throw new DomainError('METADATA_REFRESH_FAILED', error.message, 400);
    throw error;
  }
}
