import { DOMParser } from '@xmldom/xmldom';
import { clock } from '../../clock.ts';
import { outboundFetch } from '../../http/outbound.ts';
import type { Db, Tx } from '../../store/db.ts';
import { endpointUrl } from '../connection-options.ts';
import { SamlSignInError } from './saml-errors.ts';

/**
 * The IdP's SAML metadata (SAML metadata §2.4.3 IDPSSODescriptor): its entity ID (the issuer its
 * assertions must carry), signing certificates, and single sign-on URLs per binding. Fetched from
 * `saml_idp_metadata_url`, kept in the database so every replica shares it, refreshed on demand
 * (section 043) and when a response is signed by a certificate the cached copy does not list.
 */
export interface IdpMetadata {
  entityId: string;
  /** PEM certificates from the KeyDescriptors for signing (or with no `use`). */
  certificates: string[];
  signOn: { redirect?: string | undefined; post?: string | undefined };
}

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const BINDINGS = {
  redirect: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
  post: 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
};

/** Metadata documents are small; a large one is a mistake or an attack on our memory. */
const MAX_METADATA_BYTES = 512 * 1024;
const FETCH_TIMEOUT_MS = 10_000;
const MAX_REDIRECTS = 3;
/** Cached metadata older than this is fetched again at the next sign-in (the IdP may have changed it). */
const METADATA_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** A signature by an unknown certificate refreshes the metadata at most this often per connection. */
const MIN_REFRESH_INTERVAL_MS = 60_000;

export function toPem(base64Certificate: string): string {
  const body = base64Certificate.replace(/\s+/g, '');
  return `-----BEGIN CERTIFICATE-----\n${body.match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
}

/** The same certificate however it is wrapped: base64 of its DER, no whitespace. */
export function certificateBody(pemOrBase64: string): string {
  return pemOrBase64.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');
}

function children(parent: Element, namespace: string, name: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(namespace, name) as unknown as ArrayLike<Element>);
}

export function parseIdpMetadata(xml: string): IdpMetadata {
  if (/<!DOCTYPE/i.test(xml)) throw new SamlSignInError('misconfigured', 'the IdP metadata has a DOCTYPE, which SAML metadata never needs');
  let document;
  try {
    document = new DOMParser({ errorHandler: { warning: () => undefined, error: () => undefined } }).parseFromString(xml, 'text/xml');
  } catch {
    throw new SamlSignInError('misconfigured', 'the IdP metadata is not XML');
  }
  const descriptor = document?.documentElement ? children(document.documentElement as unknown as Element, MD, 'IDPSSODescriptor')[0] : undefined;
  const entity = document?.documentElement?.localName === 'EntityDescriptor' ? (document.documentElement as unknown as Element) : (descriptor?.parentNode as Element | undefined);
  const entityId = entity?.getAttribute('entityID');
  if (!descriptor || !entityId) throw new SamlSignInError('misconfigured', 'the IdP metadata has no EntityDescriptor with an IDPSSODescriptor');
  const certificates = children(descriptor, MD, 'KeyDescriptor')
    .filter((key) => (key.getAttribute('use') ?? 'signing') === 'signing' || key.getAttribute('use') === '')
    .flatMap((key) => children(key, DS, 'X509Certificate'))
    .map((certificate) => toPem(certificate.textContent ?? ''))
    .filter((pem) => certificateBody(pem) !== '');
  if (certificates.length === 0) throw new SamlSignInError('misconfigured', 'the IdP metadata lists no signing certificate');
  const signOn: IdpMetadata['signOn'] = {};
  for (const service of children(descriptor, MD, 'SingleSignOnService')) {
    const binding = service.getAttribute('Binding');
    // The browser is sent there: an https URL (http only on loopback), as if an administrator had typed it.
    const given = service.getAttribute('Location') ?? '';
    const location = endpointUrl.safeParse(given).success ? given : undefined;
    if (binding === BINDINGS.redirect) signOn.redirect ??= location;
    if (binding === BINDINGS.post) signOn.post ??= location;
  }
  return { entityId, certificates, signOn };
}

/**
 * Fetches the metadata document under the outbound policy (issue 11's private-network rule), with a
 * size and time limit; redirects are followed only on the same host (an `https` → other-host hop
 * could point an administrator-typed URL anywhere).
 */
export async function fetchIdpMetadata(url: string, allowPrivateNetwork: boolean): Promise<string> {
  const fetch = outboundFetch({ allowPrivateNetwork, timeoutMs: FETCH_TIMEOUT_MS, maxBytes: MAX_METADATA_BYTES });
  let current = new URL(url);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    let response: Response;
    try {
      response = await fetch(current, { headers: { accept: 'application/samlmetadata+xml, application/xml, text/xml' } });
    } catch (error) {
      throw new SamlSignInError('misconfigured', `the IdP metadata could not be fetched from ${current.host}: ${(error as Error).message}`);
    }
    const location = response.headers.get('location');
    if (response.status >= 300 && response.status < 400 && location) {
      const next = new URL(location, current);
      if (next.host !== current.host || (next.protocol !== current.protocol && next.protocol !== 'https:')) {
        throw new SamlSignInError('misconfigured', `the IdP metadata URL redirects to another host (${next.host}); use the final URL`);
      }
      current = next;
      continue;
    }
    if (response.status !== 200) throw new SamlSignInError('misconfigured', `the IdP metadata URL answered ${response.status}`);
    return response.text();
  }
  throw new SamlSignInError('misconfigured', 'the IdP metadata URL redirects too often');
}

export interface MetadataSource {
  db: Db | Tx;
  allowPrivateNetwork: boolean;
}

/** Fetches, checks and stores the metadata; on any failure the cached copy stays as it was. */
export async function refreshIdpMetadata(source: MetadataSource, connectionId: string, url: string): Promise<IdpMetadata> {
  const xml = await fetchIdpMetadata(url, source.allowPrivateNetwork);
  const metadata = parseIdpMetadata(xml);
  const row = { url, xml, fetched_at: clock.now() };
  await source.db
    .insertInto('saml_idp_metadata')
    .values({ connection_id: connectionId, ...row })
    .onConflict((oc) => oc.column('connection_id').doUpdateSet(row))
    .execute();
  return metadata;
}

/**
 * The cached metadata: fetched first if there is none or the URL changed, and again once a day (if
 * that fetch fails, the IdP being down for a moment, the cached copy keeps serving).
 */
export async function idpMetadata(source: MetadataSource, connectionId: string, url: string): Promise<IdpMetadata> {
  const row = await source.db.selectFrom('saml_idp_metadata').selectAll().where('connection_id', '=', connectionId).executeTakeFirst();
  if (!row || row.url !== url) return refreshIdpMetadata(source, connectionId, url);
  if (clock.now() - Number(row.fetched_at) < METADATA_MAX_AGE_MS) return parseIdpMetadata(row.xml);
  return refreshIdpMetadata(source, connectionId, url).catch(() => parseIdpMetadata(row.xml));
}

/**
 * A response signed by a certificate the cached metadata does not list may mean the IdP rotated its
 * key: fetch again (at most once a minute, so forged responses cannot make us hammer the IdP) and say
 * whether the certificates changed.
 */
export async function refreshAfterUnknownCertificate(source: MetadataSource, connectionId: string, url: string, known: IdpMetadata): Promise<IdpMetadata | undefined> {
  const row = await source.db.selectFrom('saml_idp_metadata').select('fetched_at').where('connection_id', '=', connectionId).executeTakeFirst();
  if (row && clock.now() - Number(row.fetched_at) < MIN_REFRESH_INTERVAL_MS) return undefined;
  const fresh = await refreshIdpMetadata(source, connectionId, url);
  const before = new Set(known.certificates.map(certificateBody));
  return fresh.certificates.some((certificate) => !before.has(certificateBody(certificate))) ? fresh : undefined;
}
