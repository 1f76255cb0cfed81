import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import type { EnterpriseConnection } from '../src/domain/enterprise/connections.ts';
import type { SamlOptions } from '../src/domain/enterprise/options.ts';
import { beginSamlSignIn, completeSamlSignIn, refreshConnectionMetadata, type SamlContext, SamlSignInError, type SamlSignInFailure, serviceProviderMetadata } from '../src/domain/enterprise/saml.ts';
import { beginEnterpriseSignIn } from '../src/domain/enterprise/sign-in.ts';
import type { Db } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { type AssertionFields, encode, type FakeSamlIdp, type KeyPair, newId, newKeyPair, readPostRequest, readRedirectRequest, startFakeSamlIdp } from './support/fake-saml-idp.ts';
import { storeForSuite } from './support/store-suite.ts';

const ISSUER = 'http://127.0.0.1:9';
const ACS = `${ISSUER}/saml/callback`;
const ENTITY_ID = 'urn:gatehouse:test-sp';

const refusedAs = (kind: SamlSignInFailure) => (error: unknown) => {
  assert.ok(error instanceof SamlSignInError, String(error));
  assert.equal(error.kind, kind, error.message);
  assert.equal(error.cause, undefined);
  return true;
};

for (const database of testDatabases()) {
  describe(`SAML service provider against a fake IdP (${database.name})`, () => {
    let db: Db;
    let idp: FakeSamlIdp;
    let spKeys: KeyPair;
    storeForSuite(database, (store) => {
      db = store.db;
    });
    before(async () => {
      idp = await startFakeSamlIdp();
      spKeys = await newKeyPair('gatehouse-sp.test');
    });
    after(async () => {
      clock.reset();
      await idp?.close();
    });

    const context = (): SamlContext => ({ db, issuer: ISSUER, allowPrivateNetwork: true });

    async function connection(options: SamlOptions = {}, strategy = 'saml:custom'): Promise<EnterpriseConnection> {
      const id = `conn_${randomBytes(16).toString('hex')}`;
      await db.insertInto('connections').values({ id, strategy, name: id, display_name: 'SAML', created_at: Date.now(), options_sealed: null }).execute();
      return { id, strategy, isTrusted: false, organizationCode: null, options: { saml_entity_id: ENTITY_ID, saml_idp_metadata_url: idp.metadataUrl, ...options } };
    }

    /** An honest answer to `requestId`, with any field changed. */
    const honest = (requestId: string, fields: AssertionFields = {}): AssertionFields => ({
      inResponseTo: requestId,
      recipient: ACS,
      audience: ENTITY_ID,
      attributes: { email: 'ada@acme.example', firstName: 'Ada', lastName: 'Lovelace', groups: ['engineering', 'admins'] },
      ...fields,
    });

    /** A response with a signed assertion (what Okta and Entra send by default). */
    function signedAssertionResponse(requestId: string, fields: AssertionFields = {}, response: { destination?: string | null; inResponseTo?: string | null } = {}) {
      const id = newId();
      const assertion = idp.sign(idp.assertion({ ...honest(requestId, fields), id }), id);
      return encode(idp.response({ assertion, inResponseTo: response.inResponseTo === undefined ? requestId : response.inResponseTo, destination: response.destination === undefined ? ACS : response.destination }));
    }

    async function begin(conn: EnterpriseConnection): Promise<string> {
      return (await beginSamlSignIn(conn, { ...context(), relayState: 'flow-handle' })).requestId;
    }

    async function assertNothingWritten(conn: EnterpriseConnection) {
      const rows = await db.selectFrom('saml_replay').select('assertion_id').where('connection_id', '=', conn.id).execute();
      assert.equal(rows.length, 0, 'no assertion was accepted');
    }

    it('sends a signed AuthnRequest over the Redirect binding (RSA-SHA256) and keeps its id', async () => {
      const conn = await connection({ saml_signing_certificate: spKeys.certificate, saml_signing_private_key: spKeys.privateKey, upstream_params: { domain_hint: { value: 'acme.example' } } });
      const begun = await beginSamlSignIn(conn, { ...context(), relayState: 'flow-handle' });
      assert.equal(begun.binding, 'HTTP-Redirect');
      assert.ok(begun.url.startsWith(`${idp.origin}/sso/redirect?`), begun.url);
      const request = readRedirectRequest(begun.url, spKeys.certificate);
      assert.equal(request.id, begun.requestId);
      assert.equal(request.acs, ACS);
      assert.equal(request.issuer, ENTITY_ID);
      assert.equal(request.sigAlg, 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
      assert.equal(request.signatureValid, true, 'the IdP can check the request with the connection certificate');
      const query = new URL(begun.url).searchParams;
      assert.equal(query.get('RelayState'), 'flow-handle');
      assert.equal(query.get('domain_hint'), 'acme.example', 'upstream params travel beside the message');
    });

    it('sends a signed AuthnRequest over the POST binding (RSA-SHA1), base64 without deflate', async () => {
      const conn = await connection({ protocol_binding: 'HTTP-POST', sign_request_algorithm: 'RSA-SHA1', saml_signing_certificate: spKeys.certificate, saml_signing_private_key: spKeys.privateKey });
      const begun = await beginSamlSignIn(conn, { ...context(), relayState: 'flow-handle' });
      assert.equal(begun.binding, 'HTTP-POST');
      assert.equal(begun.url, `${idp.origin}/sso/post`);
      assert.ok(begun.binding === 'HTTP-POST');
      assert.equal(begun.fields.RelayState, 'flow-handle');
      const request = readPostRequest(begun.fields.SAMLRequest!, spKeys.certificate);
      assert.equal(request.id, begun.requestId);
      assert.equal(request.signatureValid, true);
      assert.equal(request.signatureMethod, 'http://www.w3.org/2000/09/xmldsig#rsa-sha1');
    });

    it('sends an unsigned request when no signing key is set, with ForceAuthn for prompt=login', async () => {
      const conn = await connection();
      const begun = await beginSamlSignIn(conn, { ...context(), relayState: 'x' });
      assert.equal(new URL(begun.url).searchParams.get('Signature'), null);
      assert.ok(!readRedirectRequest(begun.url).xml.includes('ForceAuthn'));
      const again = await beginSamlSignIn(conn, { ...context(), relayState: 'x', forceAuthn: true });
      assert.match(readRedirectRequest(again.url).xml, /ForceAuthn="true"/);
    });

    it('sends the request to saml_sign_in_url when the connection sets one', async () => {
      const conn = await connection({ saml_sign_in_url: `${idp.origin}/custom/sso` });
      const begun = await beginSamlSignIn(conn, { ...context(), relayState: 'x' });
      assert.ok(begun.url.startsWith(`${idp.origin}/custom/sso?SAMLRequest=`), begun.url);
    });

    it('signs the person in from a signed assertion: NameID, attributes by the configured names', async () => {
      const conn = await connection();
      const requestId = await begin(conn);
      const profile = await completeSamlSignIn(conn, signedAssertionResponse(requestId), requestId, context());
      assert.deepEqual(profile, {
        subject: 'ada@acme.example',
        email: 'ada@acme.example',
        given_name: 'Ada',
        family_name: 'Lovelace',
        attributes: { email: 'ada@acme.example', firstName: 'Ada', lastName: 'Lovelace', groups: ['engineering', 'admins'] },
      });
    });

    it('accepts a signed response around an unsigned assertion, and reads a preset\'s attribute names', async () => {
      const conn = await connection({ saml_user_id_key_attr: 'objectid' }, 'saml:microsoft');
      const requestId = await begin(conn);
      const claims = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
      const assertion = idp.assertion(honest(requestId, { nameId: 'opaque-1', nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes: { objectid: 'oid-42', [`${claims}/emailaddress`]: 'grace@acme.example', [`${claims}/givenname`]: 'Grace', [`${claims}/surname`]: 'Hopper' } }));
      const responseId = newId();
      const response = idp.sign(idp.response({ id: responseId, assertion, inResponseTo: requestId, destination: ACS }), responseId);
      const profile = await completeSamlSignIn(conn, encode(response), requestId, context());
      assert.equal(profile.subject, 'oid-42');
      assert.equal(profile.email, 'grace@acme.example');
      assert.equal(profile.given_name, 'Grace');
      assert.equal(profile.family_name, 'Hopper');
    });

    it('accepts an assertion once: a replay is refused', async () => {
      const conn = await connection();
      const requestId = await begin(conn);
      const response = signedAssertionResponse(requestId);
      await completeSamlSignIn(conn, response, requestId, context());
      await assert.rejects(completeSamlSignIn(conn, response, requestId, context()), refusedAs('replayed'));
      const kept = await db.selectFrom('saml_replay').select('expires_at').where('connection_id', '=', conn.id).executeTakeFirstOrThrow();
      assert.ok(Number(kept.expires_at) > Date.now() && Number(kept.expires_at) < Date.now() + 10 * 60_000, 'kept until the assertion expires');
    });

    it('accepts an assertion that expired less than 2 minutes ago (clock skew)', async () => {
      const conn = await connection();
      const requestId = await begin(conn);
      const response = signedAssertionResponse(requestId, { notOnOrAfter: new Date(Date.now() - 60_000) });
      assert.equal((await completeSamlSignIn(conn, response, requestId, context())).subject, 'ada@acme.example');
    });

    describe('refuses, with nothing written', () => {
      const cases: [string, SamlSignInFailure, (requestId: string) => Promise<string> | string][] = [
        ['an unsigned response', 'invalid_signature', (requestId) => encode(idp.response({ assertion: idp.assertion(honest(requestId)), inResponseTo: requestId, destination: ACS }))],
        ['an assertion signed by another key', 'invalid_signature', async (requestId) => {
          const id = newId();
          const stranger = await newKeyPair('stranger.test');
          return encode(idp.response({ assertion: idp.sign(idp.assertion({ ...honest(requestId), id }), id, stranger), inResponseTo: requestId, destination: ACS }));
        }],
        ['a tampered attribute', 'invalid_signature', (requestId) => encode(Buffer.from(signedAssertionResponse(requestId), 'base64').toString('utf8').replace('>Lovelace<', '>Byron<'))],
        ['a comment-injected NameID', 'invalid_signature', (requestId) => {
          const id = newId();
          const signed = idp.sign(idp.assertion({ ...honest(requestId), id, nameId: 'admin@acme.example.evil.test' }), id);
          return encode(idp.response({ assertion: signed.replace('admin@acme.example.evil.test', 'admin@acme.example<!---->.evil.test'), inResponseTo: requestId, destination: ACS }));
        }],
        ['a wrong audience', 'wrong_audience', (requestId) => signedAssertionResponse(requestId, { audience: 'urn:someone-else' })],
        ['a wrong Recipient', 'wrong_recipient', (requestId) => signedAssertionResponse(requestId, { recipient: 'https://evil.test/saml/callback' })],
        ['a wrong Destination', 'wrong_recipient', (requestId) => signedAssertionResponse(requestId, {}, { destination: 'https://evil.test/saml/callback' })],
        ['an assertion from another issuer (signed with the IdP key)', 'wrong_issuer', (requestId) => signedAssertionResponse(requestId, { issuer: 'https://other-idp.test' })],
        ['an expired assertion', 'expired', (requestId) => signedAssertionResponse(requestId, { notBefore: new Date(Date.now() - 20 * 60_000), notOnOrAfter: new Date(Date.now() - 10 * 60_000) })],
        ['an assertion not yet valid', 'expired', (requestId) => signedAssertionResponse(requestId, { notBefore: new Date(Date.now() + 5 * 60_000), notOnOrAfter: new Date(Date.now() + 10 * 60_000) })],
        ['an unsolicited response (no InResponseTo)', 'unsolicited', (requestId) => signedAssertionResponse(requestId, { inResponseTo: null }, { inResponseTo: null })],
        ['a response to another browser\'s request', 'bad_in_response_to', () => {
          const other = newId();
          return signedAssertionResponse(other);
        }],
        ['a signed assertion for another request inside a response naming ours', 'bad_in_response_to', (requestId) => signedAssertionResponse(newId(), {}, { inResponseTo: requestId })],
        ['an IdP-initiated assertion inside a response naming our request', 'bad_in_response_to', (requestId) => signedAssertionResponse(requestId, { inResponseTo: null }, { inResponseTo: requestId })],
        // XML signature wrapping (Somorovsky et al. 2012, XSW1–8): the signature stays valid over one
        // assertion while another, unsigned, is offered to the reader.
        ['XSW: an evil assertion beside the signed one', 'invalid_signature', (requestId) => {
          const id = newId();
          const signed = idp.sign(idp.assertion({ ...honest(requestId), id }), id);
          const evil = idp.assertion({ ...honest(requestId), nameId: 'admin@acme.example' });
          return encode(idp.response({ assertion: evil + signed, inResponseTo: requestId, destination: ACS }));
        }],
        ['XSW: the signed assertion hidden in Extensions, an evil one in its place', 'invalid_signature', (requestId) => {
          const id = newId();
          const signed = idp.sign(idp.assertion({ ...honest(requestId), id }), id);
          const evil = idp.assertion({ ...honest(requestId), nameId: 'admin@acme.example' });
          const response = idp.response({ assertion: evil, inResponseTo: requestId, destination: ACS });
          return encode(response.replace('<samlp:Status>', `<samlp:Extensions>${signed}</samlp:Extensions><samlp:Status>`));
        }],
        ['XSW: the signed assertion nested inside the evil one', 'invalid_signature', (requestId) => {
          const id = newId();
          const signed = idp.sign(idp.assertion({ ...honest(requestId), id }), id);
          const evil = idp.assertion({ ...honest(requestId), nameId: 'admin@acme.example' }).replace('</saml:Issuer>', `</saml:Issuer><saml:Advice>${signed}</saml:Advice>`);
          return encode(idp.response({ assertion: evil, inResponseTo: requestId, destination: ACS }));
        }],
        ['XSW: an evil assertion carrying the signed one\'s ID and signature', 'invalid_signature', (requestId) => {
          const id = newId();
          const signed = idp.sign(idp.assertion({ ...honest(requestId), id }), id);
          const signature = /<ds:Signature[\s\S]*<\/ds:Signature>/.exec(signed)![0];
          const evil = idp.assertion({ ...honest(requestId), id, nameId: 'admin@acme.example' }).replace('</saml:Issuer>', `</saml:Issuer>${signature}`);
          const response = idp.response({ assertion: evil, inResponseTo: requestId, destination: ACS });
          return encode(response.replace('<samlp:Status>', `<samlp:Extensions>${signed}</samlp:Extensions><samlp:Status>`));
        }],
        ['XSW: a signed response wrapped inside an evil response', 'invalid_signature', (requestId) => {
          const responseId = newId();
          const honestResponse = idp.sign(idp.response({ id: responseId, assertion: idp.assertion(honest(requestId)), inResponseTo: requestId, destination: ACS }), responseId);
          const signature = /<ds:Signature[\s\S]*?<\/ds:Signature>/.exec(honestResponse)![0];
          const evil = idp.response({ id: responseId, assertion: idp.assertion({ ...honest(requestId), nameId: 'admin@acme.example' }), inResponseTo: requestId, destination: ACS });
          return encode(evil.replace('</saml:Issuer>', `</saml:Issuer>${signature}<samlp:Extensions>${honestResponse}</samlp:Extensions>`));
        }],
        ['not XML at all', 'malformed', () => encode('this is not a SAML response')],
        ['an error status from the IdP (the person is not assigned to the app)', 'idp_error', (requestId) =>
          encode(idp.response({ inResponseTo: requestId, destination: ACS }).replace('<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/>', '<samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Responder"><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:RequestDenied"/></samlp:StatusCode>'))],
      ];
      for (const [name, kind, make] of cases) {
        it(`${name} (${kind})`, async () => {
          const conn = await connection();
          const requestId = await begin(conn);
          await assert.rejects(completeSamlSignIn(conn, await make(requestId), requestId, context()), refusedAs(kind));
          await assertNothingWritten(conn);
        });
      }
    });

    it('fetches the IdP metadata once and then reads it from the database', async () => {
      const conn = await connection();
      const before = idp.metadataFetches;
      await begin(conn);
      await begin(conn);
      assert.equal(idp.metadataFetches, before + 1);
      const row = await db.selectFrom('saml_idp_metadata').select('url').where('connection_id', '=', conn.id).executeTakeFirstOrThrow();
      assert.equal(row.url, idp.metadataUrl);
    });

    it('fetches the metadata again after a day, and keeps the cached copy if the IdP is down then', async () => {
      const conn = await connection();
      await begin(conn);
      const fetches = idp.metadataFetches;
      clock.advance(25 * 60 * 60_000);
      idp.metadataOverride = { status: 503, body: 'down' };
      try {
        await begin(conn);
        assert.equal(idp.metadataFetches, fetches + 1, 'tried again');
      } finally {
        idp.metadataOverride = undefined;
      }
      await begin(conn);
      assert.equal(idp.metadataFetches, fetches + 2, 'still stale, so tried again, now with success');
      await begin(conn);
      assert.equal(idp.metadataFetches, fetches + 2, 'fresh again');
      clock.reset();
    });

    it('follows the IdP when it rotates its certificate: a signature by a certificate the cache does not list refreshes the metadata', async () => {
      const conn = await connection();
      const first = await begin(conn);
      await completeSamlSignIn(conn, signedAssertionResponse(first), first, context());
      await idp.rotate();
      // The refresh after an unknown certificate happens at most once a minute per connection.
      clock.advance(2 * 60_000);
      const second = await begin(conn);
      const fetches = idp.metadataFetches;
      const profile = await completeSamlSignIn(conn, signedAssertionResponse(second), second, context());
      assert.equal(profile.subject, 'ada@acme.example');
      assert.equal(idp.metadataFetches, fetches + 1, 'fetched again once');
      clock.reset();
    });

    it('refreshes the metadata on demand (section 043) and keeps the cached copy when the fetch fails', async () => {
      const conn = await connection();
      await begin(conn);
      const refreshed = await refreshConnectionMetadata(conn, context());
      assert.equal(refreshed.entity_id, idp.entityId);
      assert.equal(refreshed.signing_certificates, 1);
      idp.metadataOverride = { status: 500, body: 'down' };
      try {
        await assert.rejects(refreshConnectionMetadata(conn, context()), (error: Error & { code?: string }) => error.code === 'METADATA_REFRESH_FAILED');
        const requestId = await begin(conn);
        assert.match(requestId, /^_[0-9a-f]{40}$/, 'the cached metadata still serves');
      } finally {
        idp.metadataOverride = undefined;
      }
    });

    it('ignores a single sign-on URL in the metadata that is not https', async () => {
      const conn = await connection();
      const good = await (await fetch(idp.metadataUrl)).text();
      idp.metadataOverride = { status: 200, body: good.replace(`Location="${idp.origin}/sso/redirect"`, 'Location="javascript:alert(1)"').replace(`Location="${idp.origin}/sso/post"`, 'Location="http://idp.example/sso"') };
      try {
        await refreshConnectionMetadata(conn, context());
        await assert.rejects(beginSamlSignIn(conn, { ...context(), relayState: 'x' }), refusedAs('misconfigured'));
      } finally {
        idp.metadataOverride = undefined;
      }
    });

    it('refuses metadata that redirects to another host, is too large, or sits on a private address without permission', async () => {
      const conn = await connection();
      idp.metadataOverride = { status: 302, body: '', headers: { location: idp.metadataUrl.replace('127.0.0.1', 'localhost') } };
      try {
        await assert.rejects(refreshConnectionMetadata(conn, context()), /another host/);
        idp.metadataOverride = { status: 200, body: `<x>${'a'.repeat(600 * 1024)}</x>` };
        await assert.rejects(refreshConnectionMetadata(conn, context()), /larger than/);
      } finally {
        idp.metadataOverride = undefined;
      }
      await assert.rejects(refreshConnectionMetadata(conn, { ...context(), allowPrivateNetwork: false }), /not allowed|not a public address/);
    });

    it('begins any enterprise sign-in through one function: what to send and what the flow keeps', async () => {
      const conn = await connection({ protocol_binding: 'HTTP-POST' });
      const saml = await beginEnterpriseSignIn(conn, { ...context(), relayState: 'flow-handle' });
      assert.equal(saml.protocol, 'saml');
      assert.ok(saml.protocol === 'saml' && saml.send.binding === 'HTTP-POST' && saml.send.fields.RelayState === 'flow-handle');
      assert.equal(saml.send.binding === 'HTTP-POST' && readPostRequest(saml.send.fields.SAMLRequest!).id, saml.keep.requestId);
      const entra: EnterpriseConnection = { id: conn.id, strategy: 'oauth2:azure_ad', isTrusted: false, organizationCode: null, options: { client_id: 'app', client_secret: 's', entra_id_domain: 'acme.onmicrosoft.com' } };
      const oidc = await beginEnterpriseSignIn(entra, { ...context(), relayState: 'unused', loginHint: 'ada@acme.example', upstreamParams: {} });
      assert.equal(oidc.protocol, 'oidc');
      assert.ok(oidc.protocol === 'oidc');
      assert.equal(oidc.keep.redirectUri, `${ISSUER}/login/callback`);
      assert.equal(new URL(oidc.send.url).searchParams.get('state'), oidc.keep.state);
    });

    it('describes Gatehouse as a service provider: entity ID, ACS, signing certificate', async () => {
      const conn = await connection({ saml_signing_certificate: spKeys.certificate, saml_signing_private_key: spKeys.privateKey });
      const xml = serviceProviderMetadata(conn, ISSUER);
      assert.match(xml, new RegExp(`entityID="${ENTITY_ID}"`));
      assert.match(xml, new RegExp(`Location="${ACS}"`));
      const body = spKeys.certificate.replace(/-----(BEGIN|END) CERTIFICATE-----|\s/g, '');
      assert.ok(xml.replace(/\s/g, '').includes(body), 'the signing certificate is listed');
      assert.ok(!xml.includes('PRIVATE KEY'));
    });
  });
}
