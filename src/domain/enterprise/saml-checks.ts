import { SamlStatusError } from '@node-saml/node-saml';
import { DOMParser } from '@xmldom/xmldom';
import { clock } from '../../clock.ts';
import { type Db, isUniqueViolation } from '../../store/db.ts';
import { SamlSignInError } from './saml-errors.ts';
import type { IdpMetadata } from './saml-metadata.ts';

/**
 * The checks around node-saml's: what is read off the raw response before it (DOCTYPE, comments,
 * Destination, the response's issuer), what it leaves to its caller on the assertion it verified
 * (issuer, Recipient, InResponseTo, expiry), the replay cache, and its errors by the refusal they mean.
 */

/** SAML's clock-skew allowance (issue 12: at most 2 minutes). */
export const CLOCK_SKEW_MS = 2 * 60 * 1000;

/** node-saml's messages, by the refusal they mean. */
export function failureOf(error: unknown): SamlSignInError {
  if (error instanceof SamlSignInError) return error;
  if (error instanceof SamlStatusError) return new SamlSignInError('idp_error', error.message.slice(0, 200));
  const message = error instanceof Error ? error.message : String(error);
  const kind =
    /InResponseTo is missing/.test(message) ? 'unsolicited'
    : /InResponseTo/.test(message) ? 'bad_in_response_to'
    : /signature|signed data|multiple assertions/i.test(message) ? 'invalid_signature'
    : /audience|AudienceRestriction/i.test(message) ? 'wrong_audience'
    : /expired|not yet valid|subject confirmation|NotOnOrAfter|NotBefore/i.test(message) ? 'expired'
    : 'malformed';
  return new SamlSignInError(kind, `the SAML response was refused: ${message.slice(0, 200)}`);
}

const SAML_ASSERTION = 'urn:oasis:names:tc:SAML:2.0:assertion';
const BEARER = 'urn:oasis:names:tc:SAML:2.0:cm:bearer';

function parse(xml: string): Element {
  let document;
  try {
    document = new DOMParser({ errorHandler: { warning: () => undefined, error: () => undefined } }).parseFromString(xml, 'text/xml');
  } catch {
    throw new SamlSignInError('malformed', 'the SAML response is not XML');
  }
  const root = document?.documentElement as unknown as Element | undefined;
  if (!root) throw new SamlSignInError('malformed', 'the SAML response is not XML');
  return root;
}

function elements(parent: Element, name: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(SAML_ASSERTION, name) as unknown as ArrayLike<Element>);
}

function hasComment(node: { childNodes?: ArrayLike<unknown> | null; nodeType?: number }): boolean {
  if (node.nodeType === 8) return true;
  return Array.from((node.childNodes ?? []) as ArrayLike<{ nodeType?: number }>).some((child) => hasComment(child as never));
}

/** What is read off the raw response before node-saml sees it. */
export function inspectResponse(xml: string, acsUrl: string, metadata: IdpMetadata): { signingCertificates: string[] } {
  if (/<!DOCTYPE/i.test(xml)) throw new SamlSignInError('malformed', 'the SAML response has a DOCTYPE');
  const root = parse(xml);
  if (root.localName !== 'Response') throw new SamlSignInError('malformed', 'not a SAML Response');
  // A comment inside a signed value survives canonicalization (comments are not signed) and cuts the
  // value short for a careless reader: `admin@example.com<!---->.evil.com` (CVE-2017-11427 family).
  if (elements(root, 'Assertion').some(hasComment)) throw new SamlSignInError('invalid_signature', 'the assertion carries XML comments, which can hide a tampered value');
  const destination = root.getAttribute('Destination');
  if (destination && destination !== acsUrl) throw new SamlSignInError('wrong_recipient', `the response is addressed to ${destination.slice(0, 200)}, not this server's ACS URL`);
  const issuer = Array.from(root.childNodes as unknown as ArrayLike<Element>).find((node) => node.localName === 'Issuer');
  if (issuer && issuer.textContent?.trim() !== metadata.entityId) throw new SamlSignInError('wrong_issuer', "the response's issuer is not the IdP's entity ID");
  const signingCertificates = Array.from(root.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'X509Certificate') as unknown as ArrayLike<Element>).map((node) => node.textContent ?? '');
  return { signingCertificates };
}

/**
 * Checks node-saml leaves to its caller, on the assertion it verified (never on the raw response,
 * where a wrapped copy could sit): the IdP's issuer, a bearer confirmation for our ACS in reply to our
 * request, and an expiry for the replay cache.
 */
export function checkAssertion(assertionXml: string, context: { acsUrl: string; requestId: string; idpEntityId: string }): { assertionId: string; expiresAt: number } {
  const assertion = parse(assertionXml);
  const assertionId = assertion.getAttribute('ID');
  if (!assertionId) throw new SamlSignInError('malformed', 'the assertion has no ID');
  const issuer = elements(assertion, 'Issuer')[0]?.textContent?.trim();
  if (issuer !== context.idpEntityId) throw new SamlSignInError('wrong_issuer', "the assertion's issuer is not the IdP's entity ID");
  const confirmations = elements(assertion, 'SubjectConfirmation')
    .filter((confirmation) => confirmation.getAttribute('Method') === BEARER)
    .flatMap((confirmation) => elements(confirmation, 'SubjectConfirmationData'));
  if (confirmations.length === 0) throw new SamlSignInError('malformed', 'the assertion has no bearer subject confirmation');
  // SAML profiles §4.1.4.2: the bearer confirmation names the ACS it is for, and the request it answers.
  if (!confirmations.some((data) => data.getAttribute('Recipient') === context.acsUrl)) throw new SamlSignInError('wrong_recipient', "the assertion's Recipient is not this server's ACS URL");
  if (!confirmations.some((data) => data.getAttribute('InResponseTo') === context.requestId)) throw new SamlSignInError('bad_in_response_to', 'the assertion does not answer the request this sign-in made');
  const expiries = [...confirmations.map((data) => data.getAttribute('NotOnOrAfter')), ...elements(assertion, 'Conditions').map((conditions) => conditions.getAttribute('NotOnOrAfter'))]
    .filter((value): value is string => !!value)
    .map((value) => Date.parse(value))
    .filter((value) => Number.isFinite(value));
  if (expiries.length === 0) throw new SamlSignInError('expired', 'the assertion never expires (no NotOnOrAfter), so it cannot be accepted once only');
  return { assertionId, expiresAt: Math.max(...expiries) + CLOCK_SKEW_MS };
}

/** SAML profiles §4.1.4.5: each assertion is used once; its id is remembered until it expires. */
export async function acceptOnce(db: Db, connectionId: string, assertionId: string, expiresAt: number): Promise<void> {
  await db.deleteFrom('saml_replay').where('expires_at', '<', clock.now()).execute();
  try {
    await db.insertInto('saml_replay').values({ connection_id: connectionId, assertion_id: assertionId, expires_at: expiresAt }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw new SamlSignInError('replayed', 'this assertion was already used to sign in');
    throw error;
  }
}
