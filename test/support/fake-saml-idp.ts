import { createVerify, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inflateRawSync } from 'node:zlib';
import { DOMParser } from '@xmldom/xmldom';
import { generate } from 'selfsigned';
import { SignedXml } from 'xml-crypto';

/**
 * A SAML identity provider for tests, built on xml-crypto and its own keys (not the SP's code path):
 * it serves its metadata, reads the AuthnRequests Gatehouse sends (checking their signatures), and
 * writes responses — honest ones, and every kind of forged one a test asks for.
 */

export interface KeyPair {
  privateKey: string;
  certificate: string;
}

export async function newKeyPair(commonName = 'fake-idp.test'): Promise<KeyPair> {
  const pems = await generate([{ name: 'commonName', value: commonName }], { keySize: 2048, algorithm: 'sha256' });
  return { privateKey: pems.private, certificate: pems.cert };
}

const certificateBody = (pem: string) => pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, '').replace(/\s+/g, '');

export const NS = {
  protocol: 'urn:oasis:names:tc:SAML:2.0:protocol',
  assertion: 'urn:oasis:names:tc:SAML:2.0:assertion',
};

export interface AuthnRequest {
  id: string;
  acs: string;
  issuer: string;
  xml: string;
}

export interface AssertionFields {
  id?: string;
  issuer?: string;
  nameId?: string;
  nameIdFormat?: string;
  inResponseTo?: string | null;
  recipient?: string;
  audience?: string;
  notBefore?: Date;
  notOnOrAfter?: Date;
  attributes?: Record<string, string | string[]>;
}

const escape = (value: string) => value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const iso = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');
export const newId = () => `_${randomBytes(16).toString('hex')}`;

export interface FakeSamlIdp {
  entityId: string;
  origin: string;
  metadataUrl: string;
  ssoUrl: string;
  keys: KeyPair;
  /** How often the metadata was fetched. */
  metadataFetches: number;
  /** Answer the metadata URL with this instead (status, body, headers). */
  metadataOverride: { status: number; body: string; headers?: Record<string, string> } | undefined;
  /** Holds the next metadata answer: `arrived` once its request is in, sent when `release` is called. */
  holdMetadata(): { arrived: Promise<void>; release: () => void };
  /** A new key and certificate: the metadata lists only the new one from now on. */
  rotate(): Promise<void>;
  assertion(fields: AssertionFields): string;
  response(options: { assertion?: string; inResponseTo?: string | null; destination?: string | null; issuer?: string; id?: string }): string;
  /** Signs the element with this ID (enveloped, exc-c14n, RSA-SHA256), placing the signature after its Issuer. */
  sign(xml: string, id: string, keys?: KeyPair): string;
  close(): Promise<void>;
}

export async function startFakeSamlIdp(): Promise<FakeSamlIdp> {
  let current = await newKeyPair();
  let hold: { arrive: () => void; released: Promise<void> } | undefined;
  const server: Server = createServer(async (req, res) => {
    if (req.url === '/metadata') {
      fake.metadataFetches++;
      const held = hold;
      hold = undefined;
      if (held) {
        held.arrive();
        await held.released;
      }
      const override = fake.metadataOverride;
      if (override) {
        res.writeHead(override.status, { 'content-type': 'application/xml', ...override.headers }).end(override.body);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/samlmetadata+xml' }).end(metadata());
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const entityId = `${origin}/entity`;

  const metadata = () => `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="${entityId}">
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAuthnRequestsSigned="false">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>${certificateBody(fake.keys.certificate)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="${origin}/sso/redirect"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="${origin}/sso/post"/>
  </md:IDPSSODescriptor>
</md:EntityDescriptor>`;

  const fake: FakeSamlIdp = {
    entityId,
    origin,
    metadataUrl: `${origin}/metadata`,
    ssoUrl: `${origin}/sso/redirect`,
    keys: current,
    metadataFetches: 0,
    metadataOverride: undefined,
    holdMetadata() {
      let arrive!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (arrive = resolve));
      hold = { arrive, released: new Promise<void>((resolve) => (release = resolve)) };
      return { arrived, release };
    },
    async rotate() {
      current = await newKeyPair('rotated.fake-idp.test');
      fake.keys = current;
    },
    assertion(fields) {
      const now = Date.now();
      const notBefore = fields.notBefore ?? new Date(now - 30_000);
      const notOnOrAfter = fields.notOnOrAfter ?? new Date(now + 5 * 60_000);
      const attributes = Object.entries(fields.attributes ?? {})
        .map(([name, value]) => `<saml:Attribute Name="${escape(name)}">${(Array.isArray(value) ? value : [value]).map((one) => `<saml:AttributeValue>${escape(one)}</saml:AttributeValue>`).join('')}</saml:Attribute>`)
        .join('');
      const inResponseTo = fields.inResponseTo === null || fields.inResponseTo === undefined ? '' : ` InResponseTo="${fields.inResponseTo}"`;
      return `<saml:Assertion xmlns:saml="${NS.assertion}" ID="${fields.id ?? newId()}" Version="2.0" IssueInstant="${iso(new Date(now))}">` +
        `<saml:Issuer>${escape(fields.issuer ?? entityId)}</saml:Issuer>` +
        `<saml:Subject><saml:NameID Format="${fields.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress'}">${fields.nameId ?? 'ada@acme.example'}</saml:NameID>` +
        `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer"><saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${iso(notOnOrAfter)}" Recipient="${escape(fields.recipient ?? '')}"/></saml:SubjectConfirmation></saml:Subject>` +
        `<saml:Conditions NotBefore="${iso(notBefore)}" NotOnOrAfter="${iso(notOnOrAfter)}"><saml:AudienceRestriction><saml:Audience>${escape(fields.audience ?? '')}</saml:Audience></saml:AudienceRestriction></saml:Conditions>` +
        `<saml:AuthnStatement AuthnInstant="${iso(new Date(now))}" SessionIndex="${newId()}"><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
        (attributes ? `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` : '') +
        `</saml:Assertion>`;
    },
    response(options) {
      const inResponseTo = options.inResponseTo ? ` InResponseTo="${options.inResponseTo}"` : '';
      const destination = options.destination ? ` Destination="${escape(options.destination)}"` : '';
      return `<samlp:Response xmlns:samlp="${NS.protocol}" xmlns:saml="${NS.assertion}" ID="${options.id ?? newId()}" Version="2.0" IssueInstant="${iso(new Date())}"${destination}${inResponseTo}>` +
        `<saml:Issuer>${escape(options.issuer ?? entityId)}</saml:Issuer>` +
        `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
        (options.assertion ?? '') +
        `</samlp:Response>`;
    },
    sign(xml, id, keys = fake.keys) {
      const signer = new SignedXml({ privateKey: keys.privateKey, publicCert: keys.certificate, signatureAlgorithm: 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256', canonicalizationAlgorithm: 'http://www.w3.org/2001/10/xml-exc-c14n#' });
      signer.addReference({
        xpath: `//*[@ID='${id}']`,
        transforms: ['http://www.w3.org/2000/09/xmldsig#enveloped-signature', 'http://www.w3.org/2001/10/xml-exc-c14n#'],
        digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
      });
      signer.computeSignature(xml, { prefix: 'ds', location: { reference: `//*[@ID='${id}']/*[local-name()='Issuer']`, action: 'after' } });
      return signer.getSignedXml();
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
  return fake;
}

function requestFields(xml: string): AuthnRequest {
  const root = new DOMParser().parseFromString(xml, 'text/xml').documentElement!;
  const issuer = root.getElementsByTagNameNS(NS.assertion, 'Issuer')[0]?.textContent ?? '';
  return { id: root.getAttribute('ID') ?? '', acs: root.getAttribute('AssertionConsumerServiceURL') ?? '', issuer, xml };
}

/** HTTP-Redirect binding (SAML bindings §3.4.4): deflated, base64, signed over the query string when `SigAlg` is there. */
export function readRedirectRequest(url: string, spCertificate?: string): AuthnRequest & { signatureValid?: boolean; sigAlg?: string | null } {
  const query = new URL(url).search.slice(1);
  const params = new URLSearchParams(query);
  const xml = inflateRawSync(Buffer.from(params.get('SAMLRequest')!, 'base64')).toString('utf8');
  const sigAlg = params.get('SigAlg');
  if (!spCertificate || !sigAlg) return { ...requestFields(xml), sigAlg };
  // The signed octets are the query's own encoded parameters, in this order (§3.4.4.1).
  const raw = Object.fromEntries(query.split('&').map((pair) => [pair.slice(0, pair.indexOf('=')), pair]));
  const signed = ['SAMLRequest', 'RelayState', 'SigAlg'].filter((name) => raw[name]).map((name) => raw[name]).join('&');
  const algorithm = sigAlg.endsWith('rsa-sha1') ? 'RSA-SHA1' : 'RSA-SHA256';
  const signatureValid = createVerify(algorithm).update(signed).verify(spCertificate, params.get('Signature')!, 'base64');
  return { ...requestFields(xml), signatureValid, sigAlg };
}

/** HTTP-POST binding (§3.5.4): base64, not deflated; an enveloped XML signature when signed. */
export function readPostRequest(samlRequest: string, spCertificate?: string): AuthnRequest & { signatureValid?: boolean; signatureMethod?: string } {
  const xml = Buffer.from(samlRequest, 'base64').toString('utf8');
  const fields = requestFields(xml);
  if (!spCertificate) return fields;
  const document = new DOMParser().parseFromString(xml, 'text/xml');
  const signature = document.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'Signature')[0];
  if (!signature) return { ...fields, signatureValid: false };
  const verifier = new SignedXml({ publicCert: spCertificate });
  verifier.loadSignature(signature as never);
  const signatureMethod = document.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'SignatureMethod')[0]?.getAttribute('Algorithm') ?? '';
  return { ...fields, signatureValid: verifier.checkSignature(xml), signatureMethod };
}

export const encode = (xml: string) => Buffer.from(xml, 'utf8').toString('base64');
