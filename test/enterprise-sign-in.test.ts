import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt } from 'jose';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { createOrganization, isMember, updateOrganizationMfaPolicy } from '../src/domain/organizations.ts';
import { createUser, findUser, findUserByIdentity } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { type FakeOidcProvider, followToCallback, startFakeOidcProvider } from './support/fake-providers.ts';
import { type AssertionFields, encode, type FakeSamlIdp, newId, readPostRequest, readRedirectRequest, startFakeSamlIdp } from './support/fake-saml-idp.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

const APP_CALLBACK = 'http://127.0.0.1:9/callback';
const ACME_TENANT = '5f0a7c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
const OTHER_TENANT = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

for (const database of testDatabases()) {
  describe(`enterprise sign-in in the hosted pages (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    serverWithMailForSuite(database, (s, mail) => {
      server = s;
      smtp = mail;
    });
    let idp: FakeSamlIdp;
    let entraAcme: FakeOidcProvider;
    let entraOther: FakeOidcProvider;
    let appId: string;
    let appSecret: string;
    let entraGroups: FakeOidcProvider;
    let keycloak: FakeOidcProvider;
    let acs: string;
    const db = () => server.services.db;

    before(async () => {
      idp = await startFakeSamlIdp();
      acs = `${server.services.config.issuer}/saml/callback`;
      const app = await server.createApplication({ type: 'reg', redirectUrls: [APP_CALLBACK] });
      appId = app.id;
      appSecret = app.secret!;
      const client = { client_id: 'gatehouse-at-entra', client_secret: 'entra-secret-0123456789', redirect_uris: [`${server.services.config.issuer}/login/callback`] };
      entraAcme = await startFakeOidcProvider({ client, account: { sub: 'entra-oid-1', tid: ACME_TENANT, email: 'lin@entra.example', given_name: 'Lin', family_name: 'Entra' } });
      entraOther = await startFakeOidcProvider({ client, account: { sub: 'entra-oid-2', tid: OTHER_TENANT, email: 'eve@other.example' } });
      entraGroups = await startFakeOidcProvider({ client, account: { sub: 'entra-oid-3', tid: ACME_TENANT, email: 'max@groups.example', groups: ['engineering', 'admins'] } });
      keycloak = await startFakeOidcProvider({
        client: { ...client, client_id: 'gatehouse-at-keycloak' },
        account: { sub: 'kc-9', email: 'ines@keycloak.example', email_verified: true, given_name: 'Ines', family_name: 'Custom' },
      });
    });
    after(async () => {
      await Promise.all([idp?.close(), entraAcme?.close(), entraOther?.close(), entraGroups?.close(), keycloak?.close()]);
    });

    let entityCount = 0;
    /** A SAML connection to the fake IdP, enabled for the application; returns its id and SP entity id. */
    async function samlConnection(options: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<{ id: string; entityId: string }> {
      const entityId = `urn:gatehouse:sp:${++entityCount}`;
      const { status, body } = await server.api('POST', '/connections', {
        name: `acme-${entityCount}`,
        display_name: 'Acme SSO',
        strategy: 'saml:custom',
        enabled_applications: [appId],
        options: { saml_entity_id: entityId, saml_idp_metadata_url: idp.metadataUrl, ...options },
        ...extra,
      });
      assert.equal(status, 201, JSON.stringify(body));
      return { id: body.connection.id, entityId };
    }

    const authorizeUrl = (extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: APP_CALLBACK, scope: 'openid email profile', state: 'app-state', ...extra })}`;

    /** What the IdP received: the AuthnRequest's id and the RelayState to post back. */
    function atIdp(url: URL): { requestId: string; relayState: string } {
      assert.equal(url.origin, idp.origin, `the browser is at the IdP (${url})`);
      return { requestId: readRedirectRequest(url.toString()).id, relayState: url.searchParams.get('RelayState')! };
    }

    /** The IdP's signed answer to `requestId`. */
    function answer(requestId: string, entityId: string, fields: AssertionFields = {}): string {
      const id = newId();
      const assertion = idp.sign(
        idp.assertion({ inResponseTo: requestId, recipient: acs, audience: entityId, nameId: 'ada@acme.example', attributes: { email: 'ada@acme.example', firstName: 'Ada', lastName: 'Lovelace' }, ...fields, id }),
        id,
      );
      return encode(idp.response({ assertion, inResponseTo: requestId, destination: acs }));
    }

    /** The IdP posts its answer to the ACS (in the browser that began); returns where Gatehouse lands (the app), or undefined on a page. */
    function postToAcs(driver: FormDriver, samlResponse: string, relayState: string): Promise<URL | undefined> {
      return driver.go(acs, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ SAMLResponse: samlResponse, RelayState: relayState }).toString() });
    }

    /** Types an email on the identify page: home-realm discovery sends the browser to the IdP. */
    async function viaHomeRealm(email: string, extra: Record<string, string> = {}): Promise<{ driver: FormDriver; requestId: string; relayState: string }> {
      const driver = new FormDriver(server.url);
      assert.equal(await driver.go(authorizeUrl(extra)), undefined);
      const out = await driver.submit({ identifier: email }, '/identify');
      assert.ok(out, 'home-realm discovery leaves for the IdP');
      return { driver, ...atIdp(out) };
    }

    /** A refusal page; `wayBack` when the refused answer belonged to a sign-in (one sent with no flow has nowhere to go back to). */
    async function refusedPage(promise: Promise<unknown>, status: number, wayBack = true): Promise<string> {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      assert.ok(error instanceof PageError, `a refusal page, not ${String(error)}`);
      assert.equal(error.status, status, textOf(error.page));
      if (wayBack) assert.match(error.page, /Back to sign-in/);
      return textOf(error.page);
    }

    const failures = async () => (await db().selectFrom('audit_events').select(['data']).where('type', '=', 'user.enterprise_sign_in_failed').execute()).map((row) => JSON.parse(row.data).failure as string);

    it('sends an email of a home-realm domain straight to the IdP, and creates the person just in time', async () => {
      const conn = await samlConnection({ home_realm_domains: ['acme.example'], is_create_missing_user: true, is_trusted: true });
      const { driver, requestId, relayState } = await viaHomeRealm('ada@acme.example');
      const landed = await postToAcs(driver, answer(requestId, conn.entityId), relayState);
      assert.ok(landed?.searchParams.get('code'), `signed in: ${textOf(driver.lastPage)}`);
      const user = await findUserByIdentity(db(), 'email', 'ada@acme.example');
      assert.ok(user, 'a trusted connection vouches for the email');
      assert.equal(user.firstName, 'Ada');
      assert.ok(user.identities.some((identity) => (identity.type as string) === 'saml:custom' && identity.connectionId === conn.id));
      const authenticated = await db().selectFrom('audit_events').select(['data', 'detail']).where('type', '=', 'user.authenticated').where('subject', '=', user.id).executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(authenticated.data), { user: { id: user.id } }, "Kinde's data");
      assert.deepEqual(JSON.parse(authenticated.detail!).amr, ['fed']);
      assert.equal(JSON.parse(authenticated.detail!).connection_id, conn.id);
    });

    it('updates the names from the IdP at each sign-in with is_sync_user_profile_on_login', async () => {
      const conn = await samlConnection({ home_realm_domains: ['sync.example'], is_create_missing_user: true, is_trusted: true, is_sync_user_profile_on_login: true });
      const signIn = async (firstName: string) => {
        const { driver, requestId, relayState } = await viaHomeRealm('nia@sync.example');
        assert.ok(await postToAcs(driver, answer(requestId, conn.entityId, { nameId: 'nia@sync.example', attributes: { email: 'nia@sync.example', firstName } }), relayState));
      };
      await signIn('Nia');
      await signIn('Niamh');
      assert.equal((await findUserByIdentity(db(), 'email', 'nia@sync.example'))!.firstName, 'Niamh');
    });

    it('refuses a replayed assertion on a friendly page, audited, the second sign-in not made', async () => {
      const conn = await samlConnection({ home_realm_domains: ['replay.example'], is_create_missing_user: true });
      const first = await viaHomeRealm('bo@replay.example');
      const samlResponse = answer(first.requestId, conn.entityId, { nameId: 'bo@replay.example', attributes: { email: 'bo@replay.example' } });
      assert.ok(await postToAcs(first.driver, samlResponse, first.relayState));
      // The same assertion again, in a new sign-in of the same browser (the flow's request id differs too).
      const again = await viaHomeRealm('bo@replay.example');
      const page = await refusedPage(postToAcs(again.driver, samlResponse, again.relayState), 400);
      assert.match(page, /could not be finished|already used/);
      assert.ok((await failures()).some((kind) => kind === 'replayed' || kind === 'bad_in_response_to'));
      const audit = await db().selectFrom('audit_events').select('data').where('type', '=', 'user.enterprise_sign_in_failed').execute();
      assert.ok(audit.every((row) => !row.data.includes('bo@replay.example')), 'no assertion contents in the audit log');
    });

    it('refuses an assertion replayed for its own request', async () => {
      const conn = await samlConnection({ home_realm_domains: ['replay2.example'], is_create_missing_user: true });
      const first = await viaHomeRealm('cy@replay2.example');
      const samlResponse = answer(first.requestId, conn.entityId, { nameId: 'cy@replay2.example', attributes: { email: 'cy@replay2.example' } });
      const tab = first.driver.fork();
      assert.ok(await postToAcs(first.driver, samlResponse, first.relayState));
      // The flow ended with the first sign-in: the copy answers nothing that is waiting.
      await refusedPage(postToAcs(tab, samlResponse, first.relayState), 400, false);
    });

    it('refuses a wrong audience, an invalid signature and an unsolicited response, writing nothing', async () => {
      const conn = await samlConnection({ home_realm_domains: ['attack.example'], is_create_missing_user: true });
      const wrongAudience = await viaHomeRealm('dee@attack.example');
      await refusedPage(postToAcs(wrongAudience.driver, answer(wrongAudience.requestId, 'urn:someone-else', { nameId: 'dee@attack.example' }), wrongAudience.relayState), 400);
      const tampered = await viaHomeRealm('dee@attack.example');
      const signed = Buffer.from(answer(tampered.requestId, conn.entityId, { nameId: 'dee@attack.example' }), 'base64').toString('utf8');
      await refusedPage(postToAcs(tampered.driver, encode(signed.replace('Ada', 'Eve')), tampered.relayState), 400);
      // IdP-initiated: no RelayState, no flow.
      assert.match(await refusedPage(postToAcs(new FormDriver(server.url), answer('_none', conn.entityId, { nameId: 'dee@attack.example' }), ''), 400, false), /did not ask for/);
      const kinds = await failures();
      assert.ok(kinds.includes('wrong_audience'), kinds.join());
      assert.ok(kinds.includes('invalid_signature'), kinds.join());
      assert.equal(await findUserByIdentity(db(), 'email', 'dee@attack.example'), undefined);
    });

    it('says the IdP did not sign the person in when it answers with an error status', async () => {
      await samlConnection({ home_realm_domains: ['denied.example'], is_create_missing_user: true });
      const { driver, requestId, relayState } = await viaHomeRealm('ola@denied.example');
      const denied = idp.response({ inResponseTo: requestId, destination: acs }).replace('status:Success', 'status:Responder');
      const page = await refusedPage(postToAcs(driver, encode(denied), relayState), 403);
      assert.match(page, /did not sign you in/);
      assert.ok((await failures()).includes('idp_error'));
    });

    it('refuses a response posted into another browser\'s sign-in (no interaction cookie)', async () => {
      const conn = await samlConnection({ home_realm_domains: ['other-browser.example'], is_create_missing_user: true });
      const victim = await viaHomeRealm('fay@other-browser.example');
      const attacker = new FormDriver(server.url);
      const landed = await postToAcs(attacker, answer(victim.requestId, conn.entityId, { nameId: 'fay@other-browser.example' }), victim.relayState).catch((error: unknown) => error);
      assert.ok(landed instanceof PageError, 'the attacker\'s browser is not signed in');
      assert.equal(await findUserByIdentity(db(), 'email', 'fay@other-browser.example'), undefined);
    });

    it('refuses a RelayState that names a waiting flow without its secret, leaving that flow to its browser', async () => {
      const conn = await samlConnection({ home_realm_domains: ['relay.example'], is_create_missing_user: true });
      const victim = await viaHomeRealm('gil@relay.example');
      const [uid] = victim.relayState.split('.');
      await refusedPage(postToAcs(new FormDriver(server.url), answer(victim.requestId, conn.entityId, { nameId: 'mallory@relay.example' }), `${uid}.guessed`), 400);
      const landed = await postToAcs(victim.driver, answer(victim.requestId, conn.entityId, { nameId: 'gil@relay.example', attributes: { email: 'gil@relay.example' } }), victim.relayState);
      assert.ok(landed?.searchParams.get('code'), textOf(victim.driver.lastPage));
    });

    it('says "We can\'t find your account" without just-in-time provisioning, or offers a request for access when they are on', async () => {
      const conn = await samlConnection({ home_realm_domains: ['nojit.example'] });
      const nobody = async () => {
        const { driver, requestId, relayState } = await viaHomeRealm('gus@nojit.example');
        return refusedPage(postToAcs(driver, answer(requestId, conn.entityId, { nameId: 'gus@nojit.example', attributes: { email: 'gus@nojit.example' } }), relayState), 403);
      };
      await updateEnvironmentPolicy(db(), { allowAccessRequests: false });
      try {
        assert.match(await nobody(), /We can't find your account/);
        assert.ok((await failures()).includes('not_found'));
      } finally {
        await updateEnvironmentPolicy(db(), { allowAccessRequests: true });
      }
      // Untrusted connection: the request page asks for a code to the IdP's email (test/access-requests-federated.test.ts goes on from here).
      assert.match(await nobody(), /Ask your administrator for access/);
    });

    it('signs a pre-provisioned user in through the connection (POST /users/{id}/identities, type enterprise)', async () => {
      const conn = await samlConnection({ home_realm_domains: ['pre.example'] });
      const user = await createUser(db(), { firstName: 'Hal', identities: [{ type: 'username', value: 'hal-pre', isVerified: true }] });
      const added = await server.api('POST', `/users/${user.id}/identities`, { type: 'enterprise', value: 'hal@pre.example', connection_id: conn.id });
      assert.equal(added.status, 201, JSON.stringify(added.body));
      const second = await server.api('POST', `/users/${user.id}/identities`, { type: 'enterprise', value: 'hal2@pre.example', connection_id: conn.id });
      assert.equal(second.status, 409, 'one enterprise identity per user');
      const { driver, requestId, relayState } = await viaHomeRealm('hal@pre.example');
      const landed = await postToAcs(driver, answer(requestId, conn.entityId, { nameId: 'hal-subject', nameIdFormat: 'urn:oasis:names:tc:SAML:2.0:nameid-format:persistent', attributes: { email: 'hal@pre.example' } }), relayState);
      assert.ok(landed?.searchParams.get('code'), textOf(driver.lastPage));
      const after = await findUser(db(), user.id);
      const identity = after!.identities.find((one) => one.connectionId === conn.id);
      assert.equal(identity?.isVerified, true);
      assert.equal(identity?.id, added.body.identity.id, 'the pre-provisioned identity became the IdP person\'s');
    });

    it('links by a trusted connection\'s email to the existing user, overwriting the profile; refuses a second enterprise identity', async () => {
      const trusted = await samlConnection({ home_realm_domains: ['trusted.example'], is_trusted: true });
      const user = await createUser(db(), { firstName: 'Old', identities: [{ type: 'email', value: 'ida@trusted.example', isVerified: true }] });
      const { driver, requestId, relayState } = await viaHomeRealm('ida@trusted.example');
      const landed = await postToAcs(driver, answer(requestId, trusted.entityId, { nameId: 'ida@trusted.example', attributes: { email: 'ida@trusted.example', firstName: 'Ida' } }), relayState);
      assert.ok(landed?.searchParams.get('code'), textOf(driver.lastPage));
      assert.equal((await findUser(db(), user.id))!.firstName, 'Ida');

      // Another trusted connection vouching for the same email: the user already has an enterprise identity.
      const another = await samlConnection({ is_trusted: true, is_force_show_sso_button: true }, { display_name: 'Second SSO' });
      const browser = new FormDriver(server.url);
      const out = await browser.go(authorizeUrl({ connection_id: another.id }));
      const at = atIdp(out!);
      const page = await refusedPage(postToAcs(browser, answer(at.requestId, another.entityId, { nameId: 'ida-2', attributes: { email: 'ida@trusted.example' } }), at.relayState), 409);
      assert.match(page, /already signs in through another/);
    });

    it('links an untrusted connection\'s email only after a code proves it', async () => {
      const conn = await samlConnection({ home_realm_domains: ['untrusted.example'] });
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'jo@untrusted.example', isVerified: true }] });
      const { driver, requestId, relayState } = await viaHomeRealm('jo@untrusted.example');
      const mail = smtp.nextMessageTo('jo@untrusted.example');
      assert.equal(await postToAcs(driver, answer(requestId, conn.entityId, { nameId: 'jo-subject', attributes: { email: 'jo@untrusted.example' } }), relayState), undefined);
      assert.match(driver.lastPage, /code/i);
      const landed = await driver.submit({ code: codeIn(await mail) });
      assert.ok(landed?.searchParams.get('code'), textOf(driver.lastPage));
      assert.ok((await findUser(db(), user.id))!.identities.some((identity) => identity.connectionId === conn.id));
    });

    it('auto-joins the connection\'s organization, and its MFA exempts the connection', async () => {
      const org = await createOrganization(db(), { name: 'Acme Corp' });
      const conn = await samlConnection({ home_realm_domains: ['org.example'], is_create_missing_user: true, is_auto_join_organization_enabled: true }, { organization_code: org.code });
      await updateOrganizationMfaPolicy(db(), org.code, { enforced: true, factors: ['totp'] });
      const signIn = async (nameId: string) => {
        const { driver, requestId, relayState } = await viaHomeRealm(`${nameId}@org.example`, { org_code: org.code });
        return { driver, landed: await postToAcs(driver, answer(requestId, conn.entityId, { nameId, attributes: { email: `${nameId}@org.example` } }), relayState) };
      };
      const enforced = await signIn('kim');
      assert.equal(enforced.landed, undefined, 'MFA asked');
      assert.match(enforced.driver.lastPage, /Set up two-step verification/);
      const kim = (await db().selectFrom('identities').select('user_id').where('connection_id', '=', conn.id).executeTakeFirstOrThrow()).user_id;
      assert.ok(await isMember(db(), org.code, kim), 'auto-joined');

      // The organization's own connection serves only its sign-ins (section 036): no home realm without org_code.
      const elsewhere = new FormDriver(server.url);
      await elsewhere.go(authorizeUrl());
      assert.equal(await elsewhere.submit({ identifier: 'kim@org.example' }, '/identify'), undefined, 'stays on Gatehouse');
      assert.doesNotMatch(textOf(elsewhere.lastPage), /Continue with Acme SSO/);

      await updateOrganizationMfaPolicy(db(), org.code, { exemptConnectionIds: [conn.id] });
      const exempt = await signIn('lee');
      assert.ok(exempt.landed?.searchParams.get('code'), `the exempt connection skips MFA: ${textOf(exempt.driver.lastPage)}`);
    });

    it('shows a forced SSO button, and connection_id goes straight to the IdP over the POST binding', async () => {
      const conn = await samlConnection({ home_realm_domains: ['button.example'], is_force_show_sso_button: true, protocol_binding: 'HTTP-POST', is_create_missing_user: true }, { display_name: 'Button SSO' });
      const hidden = await samlConnection({ home_realm_domains: ['hidden.example'] }, { display_name: 'Hidden SSO' });
      const driver = new FormDriver(server.url);
      await driver.go(authorizeUrl());
      assert.match(textOf(driver.lastPage), /Continue with Button SSO/);
      assert.doesNotMatch(textOf(driver.lastPage), /Continue with Hidden SSO/);
      assert.ok(hidden.id);

      const direct = new FormDriver(server.url);
      assert.equal(await direct.go(authorizeUrl({ connection_id: conn.id })), undefined, 'a page with the form to post');
      assert.match(textOf(direct.lastPage), /Continue to Button SSO/);
      const samlRequest = /name="SAMLRequest" value="([^"]+)"/.exec(direct.lastPage)![1]!;
      const relayState = /name="RelayState" value="([^"]+)"/.exec(direct.lastPage)![1]!;
      const request = readPostRequest(samlRequest);
      const landed = await postToAcs(direct, answer(request.id, conn.entityId, { nameId: 'max@button.example', attributes: { email: 'max@button.example' } }), relayState);
      assert.ok(landed?.searchParams.get('code'), textOf(direct.lastPage));
    });

    it('asks an enterprise-only application\'s people for their work email, and says when no sign-in uses its domain', async () => {
      const onlySso = (await server.createApplication({ type: 'reg', redirectUrls: [APP_CALLBACK] })).id;
      await server.useSignInMethods(onlySso, []);
      const conn = await samlConnection({ home_realm_domains: ['only.example'], is_create_missing_user: true }, { enabled_applications: [onlySso] });
      const driver = new FormDriver(server.url);
      await driver.go(authorizeUrl({ client_id: onlySso }));
      assert.match(driver.lastPage, /type="email"/);
      await driver.submit({ identifier: 'pat@elsewhere.example' }, '/identify');
      assert.match(textOf(driver.lastPage), /No sign-in here uses this email/);
      const out = await driver.submit({ identifier: 'pat@only.example' }, '/identify');
      const at = atIdp(out!);
      assert.ok(await postToAcs(driver, answer(at.requestId, conn.entityId, { nameId: 'pat@only.example', attributes: { email: 'pat@only.example' } }), at.relayState));
    });

    describe('Entra ID through /login/callback', () => {
      async function entraConnection(fake: FakeOidcProvider, domain: string, extra: Record<string, unknown> = {}): Promise<string> {
        const { status, body } = await server.api('POST', '/connections', {
          name: `entra-${domain}`,
          display_name: 'Contoso',
          strategy: 'oauth2:azure_ad',
          enabled_applications: [appId],
          options: {
            client_id: 'gatehouse-at-entra',
            client_secret: 'entra-secret-0123456789',
            entra_id_domain: ACME_TENANT,
            home_realm_domains: [domain],
            is_create_missing_user: true,
            endpoints: { issuer: fake.issuer, authorization_endpoint: `${fake.issuer}/auth`, token_endpoint: `${fake.issuer}/token`, jwks_uri: `${fake.issuer}/jwks` },
            ...extra,
          },
        });
        assert.equal(status, 201, JSON.stringify(body));
        return body.connection.id;
      }

      async function entraRoundTrip(fake: FakeOidcProvider, email: string): Promise<{ driver: FormDriver; landed: URL | undefined }> {
        const driver = new FormDriver(server.url);
        await driver.go(authorizeUrl());
        const out = await driver.submit({ identifier: email }, '/identify');
        assert.equal(out?.origin, new URL(fake.issuer).origin, 'at the IdP');
        const callback = await followToCallback(out!.toString(), `${server.services.config.issuer}/login/callback`);
        return { driver, landed: await driver.go(callback.toString()) };
      }

      it('signs a person of the connection\'s tenant in just in time', async () => {
        const id = await entraConnection(entraAcme, 'entra.example');
        const { driver, landed } = await entraRoundTrip(entraAcme, 'lin@entra.example');
        assert.ok(landed?.searchParams.get('code'), textOf(driver.lastPage));
        const identity = await db().selectFrom('identities').select('type').where('connection_id', '=', id).executeTakeFirstOrThrow();
        assert.equal(identity.type, 'oauth2:azure_ad');
        const tokens = await tokensFor(landed!.searchParams.get('code')!);
        assert.equal(decodeJwt(tokens.access_token).ext_groups, undefined, 'a connection that does not retrieve groups sends none');
      });

      async function tokensFor(code: string): Promise<{ access_token: string; id_token: string }> {
        const response = await fetch(`${server.url}/oauth2/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`${appId}:${appSecret}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: APP_CALLBACK }),
        });
        const tokens = (await response.json()) as { access_token: string; id_token: string };
        assert.equal(response.status, 200, JSON.stringify(tokens));
        return tokens;
      }

      it("puts the person's Entra groups in ext_groups of the access and ID tokens when the connection retrieves them", async () => {
        await entraConnection(entraGroups, 'groups.example', { is_retrieve_provider_user_groups: true });
        const { driver, landed } = await entraRoundTrip(entraGroups, 'max@groups.example');
        const code = landed?.searchParams.get('code');
        assert.ok(code, textOf(driver.lastPage));
        const tokens = await tokensFor(code!);
        assert.deepEqual(decodeJwt(tokens.access_token).ext_groups, ['engineering', 'admins']);
        assert.deepEqual(decodeJwt(tokens.id_token).ext_groups, ['engineering', 'admins']);
      });

      it('signs a person in through any OpenID Provider found by its issuer (oidc:custom), by home-realm discovery', async () => {
        const { status, body } = await server.api('POST', '/connections', {
          name: 'keycloak-corp',
          display_name: 'Corp Keycloak',
          strategy: 'oidc:custom',
          enabled_applications: [appId],
          options: {
            issuer: keycloak.issuer,
            client_id: 'gatehouse-at-keycloak',
            client_secret: 'entra-secret-0123456789',
            scopes: ['email', 'profile'],
            home_realm_domains: ['keycloak.example'],
            is_create_missing_user: true,
            is_trusted: true,
          },
        });
        assert.equal(status, 201, JSON.stringify(body));
        const { driver, landed } = await entraRoundTrip(keycloak, 'ines@keycloak.example');
        assert.ok(landed?.searchParams.get('code'), textOf(driver.lastPage));
        const user = (await findUserByIdentity(db(), 'email', 'ines@keycloak.example'))!;
        assert.equal(user.firstName, 'Ines');
        assert.ok(user.identities.some((identity) => (identity.type as string) === 'oidc:custom' && identity.connectionId === body.connection.id));
      });

      it('refuses a person of another tenant on a friendly page', async () => {
        await entraConnection(entraOther, 'other.example');
        const { driver } = await entraRoundTrip(entraOther, 'eve@other.example').catch((error: unknown) => {
          assert.ok(error instanceof PageError);
          assert.equal(error.status, 403);
          assert.match(textOf(error.page), /cannot sign in here/);
          return { driver: undefined };
        });
        assert.equal(driver, undefined, 'refused');
        assert.ok((await failures()).includes('wrong_tenant'));
      });
    });
  });
}
