import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { linkSocialIdentity } from '../src/domain/social/identities.ts';
import { createUser, findUserByIdentity, primaryIdentity } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { type FakeOidcProvider, followToCallback, startFakeOidcProvider } from './support/fake-providers.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { assertKindeError, serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

/**
 * Access requests from social and enterprise sign-ins, and sign-ups an organization turns away: a
 * person whom sign-up refuses is offered "Request access" before any account is written, the
 * provider's verified email and names filling the request, and approval links the provider's
 * identity so the person signs in with it afterwards.
 */
for (const database of testDatabases()) {
  describe(`access requests from providers and closed organizations (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let appId: string;
    let google: FakeOidcProvider;
    let microsoft: FakeOidcProvider;
    let keycloak: FakeOidcProvider;
    const conn = { google: '', microsoft: '', keycloak: '' };
    const googleAccount: Record<string, unknown> & { sub: string } = { sub: 'g-ask', email: 'gina@gmail.example', email_verified: true, given_name: 'Gina', family_name: 'Google' };
    const microsoftAccount: Record<string, unknown> & { sub: string } = { sub: 'ms-ask', email: 'milo@outlook.example', email_verified: false, name: 'Milo Soft' };
    const keycloakAccount: Record<string, unknown> & { sub: string } = { sub: 'kc-ask', email: 'kim@corp.example', email_verified: true, given_name: 'Kim', family_name: 'Corp' };

    serverWithMailForSuite(database, (started, mail) => {
      server = started;
      smtp = mail;
    });

    const db = () => server.services.db;
    const settings = async (patch: Record<string, boolean>) => assert.equal((await server.api('PATCH', '/environment/settings', patch)).status, 200);
    const pending = async () => (await server.api('GET', '/access_requests?status=pending&page_size=100')).body.access_requests as any[];
    const identityOf = (connectionId: string, subject: string) =>
      db().selectFrom('identities').select('user_id').where('connection_id', '=', connectionId).where('normalized_value', '=', `${connectionId}:${subject}`).executeTakeFirst();

    before(async () => {
      appId = (await server.createApplication({ type: 'reg', name: 'Federated Club', redirectUrls: [CALLBACK] })).id;
      const callback = `${server.services.config.issuer}/login/callback`;
      const client = { client_secret: 'provider-secret-0123456789', redirect_uris: [callback] };
      google = await startFakeOidcProvider({ client: { ...client, client_id: 'ask-google' }, account: googleAccount });
      microsoft = await startFakeOidcProvider({ client: { ...client, client_id: 'ask-microsoft' }, account: microsoftAccount });
      keycloak = await startFakeOidcProvider({ client: { ...client, client_id: 'ask-keycloak' }, account: keycloakAccount });
      const endpoints = (fake: FakeOidcProvider) => ({ issuer: fake.issuer, authorization_endpoint: `${fake.issuer}/auth`, token_endpoint: `${fake.issuer}/token`, jwks_uri: `${fake.issuer}/jwks` });
      const create = async (body: Record<string, unknown>) => {
        const { status, body: answer } = await server.api('POST', '/connections', { enabled_applications: [appId], ...body });
        assert.equal(status, 201, JSON.stringify(answer));
        return answer.connection.id as string;
      };
      conn.google = await create({ strategy: 'oauth2:google', options: { client_id: 'ask-google', client_secret: client.client_secret, is_trusted: true, endpoints: endpoints(google) } });
      conn.microsoft = await create({ strategy: 'oauth2:microsoft', options: { client_id: 'ask-microsoft', client_secret: client.client_secret, endpoints: endpoints(microsoft) } });
      // No just-in-time provisioning: the IdP's people have no account here until an administrator lets them in.
      conn.keycloak = await create({
        name: 'keycloak-ask',
        strategy: 'oidc:custom',
        options: { issuer: keycloak.issuer, client_id: 'ask-keycloak', client_secret: client.client_secret, scopes: ['email', 'profile'], is_trusted: true, is_create_missing_user: false },
      });
    });
    after(async () => {
      await Promise.all([google?.close(), microsoft?.close(), keycloak?.close()]);
    });

    async function begin(extra: Record<string, string> = {}): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      const params = new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email', state: 'federated', ...extra });
      assert.equal(await driver.go(`/oauth2/auth?${params}`), undefined, 'a sign-in page is shown');
      return driver;
    }

    /** Through the provider and back (`connection_id` sends the browser straight there); the page Gatehouse answers with, or where it sends the browser. */
    async function viaProvider(connectionId: string, extra: Record<string, string> = {}): Promise<{ driver: FormDriver; out: URL | undefined; status: number }> {
      const driver = new FormDriver(server.url);
      const params = new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email', state: 'federated', connection_id: connectionId, ...extra });
      const atProvider = await driver.go(`/oauth2/auth?${params}`);
      assert.ok(atProvider, 'the browser leaves for the provider');
      const callback = await followToCallback(atProvider.href, `${server.services.config.issuer}/login/callback`);
      try {
        return { driver, out: await driver.go(callback.href), status: 200 };
      } catch (error) {
        if (!(error instanceof PageError)) throw error;
        return { driver, out: undefined, status: error.status };
      }
    }

    it('offers a trusted provider’s person a request with its verified email and names: no account, no identity, no code', async () => {
      await settings({ is_self_sign_up_enabled: false, is_access_request_enabled: true });
      const { driver, status } = await viaProvider(conn.google);
      assert.equal(status, 403);
      assert.match(driver.lastPage, /Ask your administrator for access/);
      assert.match(driver.lastPage, /The request will be sent as gina@gmail.example/);
      assert.match(driver.lastPage, /value="Gina"/, 'the provider’s names are the defaults');
      await driver.submit({ given_name: 'Gina', family_name: 'Gee' }, '/request-access');
      assert.match(driver.lastPage, /Request sent/);
      assert.equal(await findUserByIdentity(db(), 'email', 'gina@gmail.example'), undefined, 'no account before approval');
      assert.equal(await identityOf(conn.google, 'g-ask'), undefined, 'no identity before approval');

      const [request] = (await pending()).filter((r) => r.email === 'gina@gmail.example');
      assert.deepEqual([request.first_name, request.last_name, request.user_id], ['Gina', 'Gee', null]);
    });

    it('on approval creates the account with the provider’s identity linked: the person then signs in with the provider', async () => {
      const [request] = (await pending()).filter((r) => r.email === 'gina@gmail.example');
      const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      const user = (await findUserByIdentity(db(), 'email', 'gina@gmail.example'))!;
      assert.equal(primaryIdentity(user, 'email')?.isVerified, true);
      assert.equal((await identityOf(conn.google, 'g-ask'))?.user_id, user.id, 'the Google identity is the new account’s');
      const { out } = await viaProvider(conn.google);
      assert.ok(out?.href.startsWith(CALLBACK) && out.searchParams.get('code'), 'signed in with Google, sign-up still closed');
    });

    it('asks an untrusted provider’s person to prove the email with a code before the request is filed', async () => {
      const { driver, status } = await viaProvider(conn.microsoft);
      assert.equal(status, 403);
      assert.match(driver.lastPage, /Ask your administrator for access/);
      assert.match(driver.lastPage, /value="milo@outlook.example"/, 'the provider’s email, to be proven');
      const mail = smtp.nextMessageTo('milo@outlook.example');
      await driver.submit({ email: 'milo@outlook.example', given_name: 'Milo', family_name: 'Soft' }, '/request-access');
      assert.match(driver.lastPage, /Check your email/);
      assert.equal((await pending()).filter((r) => r.email === 'milo@outlook.example').length, 0, 'nothing filed before the code');
      await driver.submit({ code: codeIn(await mail) });
      assert.match(driver.lastPage, /Request sent/);
      assert.equal(await identityOf(conn.microsoft, 'ms-ask'), undefined);

      const [request] = (await pending()).filter((r) => r.email === 'milo@outlook.example');
      assert.equal((await server.api('POST', `/access_requests/${request.id}/approve`)).status, 200);
      const user = (await findUserByIdentity(db(), 'email', 'milo@outlook.example'))!;
      assert.equal((await identityOf(conn.microsoft, 'ms-ask'))?.user_id, user.id);
    });

    it('offers an enterprise IdP’s person without an account a request (no just-in-time provisioning); approval links the enterprise identity', async () => {
      const { driver, status } = await viaProvider(conn.keycloak);
      assert.equal(status, 403);
      assert.match(driver.lastPage, /The request will be sent as kim@corp.example/);
      await driver.submit({ given_name: 'Kim', family_name: 'Corp' }, '/request-access');
      assert.match(driver.lastPage, /Request sent/);
      assert.equal(await findUserByIdentity(db(), 'email', 'kim@corp.example'), undefined);

      const [request] = (await pending()).filter((r) => r.email === 'kim@corp.example');
      assert.equal((await server.api('POST', `/access_requests/${request.id}/approve`)).status, 200);
      const user = (await findUserByIdentity(db(), 'email', 'kim@corp.example'))!;
      assert.equal((await identityOf(conn.keycloak, 'kc-ask'))?.user_id, user.id);
      const { out } = await viaProvider(conn.keycloak);
      assert.ok(out?.href.startsWith(CALLBACK), 'signed in through the IdP');
    });

    it('approves a request whose person signed up through the provider meanwhile: their account, nothing linked twice', async () => {
      Object.assign(googleAccount, { sub: 'g-meanwhile', email: 'meanwhile@gmail.example', given_name: 'Mea', family_name: 'While' });
      const { driver } = await viaProvider(conn.google);
      await driver.submit({ given_name: 'Mea', family_name: 'While' }, '/request-access');
      const [request] = (await pending()).filter((r) => r.email === 'meanwhile@gmail.example');
      assert.equal(request.connection_id, conn.google);
      await settings({ is_self_sign_up_enabled: true });
      try {
        const { out } = await viaProvider(conn.google);
        assert.ok(out?.href.startsWith(CALLBACK), 'signed up through Google once sign-up reopened');
      } finally {
        await settings({ is_self_sign_up_enabled: false });
      }
      const user = (await findUserByIdentity(db(), 'email', 'meanwhile@gmail.example'))!;
      const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.deepEqual([approved.body.user_created, approved.body.access_request.user_id], [false, user.id]);
      const googleIdentities = await db().selectFrom('identities').select('id').where('connection_id', '=', conn.google).where('user_id', '=', user.id).execute();
      assert.equal(googleIdentities.length, 1);
    });

    it('refuses to approve when the provider account now belongs to someone else, writing nothing', async () => {
      Object.assign(googleAccount, { sub: 'g-taken', email: 'taken@gmail.example', given_name: 'Tak', family_name: 'En' });
      const { driver } = await viaProvider(conn.google);
      await driver.submit({ given_name: 'Tak', family_name: 'En' }, '/request-access');
      const [request] = (await pending()).filter((r) => r.email === 'taken@gmail.example');
      const other = await createUser(db(), { identities: [{ type: 'email', value: 'someone.else@example.test', isVerified: true }] });
      await linkSocialIdentity(db(), other.id, 'oauth2:google', { connectionId: conn.google, subject: 'g-taken', email: undefined, emailVerified: false, givenName: undefined, familyName: undefined, picture: undefined, label: 'g-taken' }, undefined);
      assertKindeError(await server.api('POST', `/access_requests/${request.id}/approve`), 409, 'USER_IDENTITY_EXISTS');
      assert.equal(await findUserByIdentity(db(), 'email', 'taken@gmail.example'), undefined, 'the account was not kept');
      assert.ok((await pending()).some((r) => r.id === request.id), 'still pending: an administrator may deny it');
    });

    it('approves a request whose connection was deleted meanwhile: the account, without the identity of a connection that is gone', async () => {
      const gone = await startFakeOidcProvider({
        client: { client_id: 'ask-gone', client_secret: 'provider-secret-0123456789', redirect_uris: [`${server.services.config.issuer}/login/callback`] },
        account: { sub: 'gone-ask', email: 'gone@gmail.example', email_verified: true, given_name: 'Gon', family_name: 'E' },
      });
      try {
        const created = await server.api('POST', '/connections', {
          enabled_applications: [appId],
          strategy: 'oauth2:google',
          name: 'google-soon-gone',
          options: {
            client_id: 'ask-gone',
            client_secret: 'provider-secret-0123456789',
            is_trusted: true,
            endpoints: { issuer: gone.issuer, authorization_endpoint: `${gone.issuer}/auth`, token_endpoint: `${gone.issuer}/token`, jwks_uri: `${gone.issuer}/jwks` },
          },
        });
        assert.equal(created.status, 201, JSON.stringify(created.body));
        const connectionId = created.body.connection.id as string;
        const { driver } = await viaProvider(connectionId);
        await driver.submit({ given_name: 'Gon', family_name: 'E' }, '/request-access');
        const [request] = (await pending()).filter((r) => r.email === 'gone@gmail.example');
        assert.equal(request.connection_id, connectionId);
        assert.equal((await server.api('DELETE', `/connections/${connectionId}`)).status, 200);

        const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
        assert.equal(approved.status, 200, JSON.stringify(approved.body));
        assert.equal(approved.body.user_created, true);
        const user = (await findUserByIdentity(db(), 'email', 'gone@gmail.example'))!;
        assert.equal(user.id, approved.body.access_request.user_id);
        assert.deepEqual(user.identities.map((identity) => identity.type), ['email'], 'only the proven email: the connection is gone');
      } finally {
        await gone.close();
      }
    });

    it('keeps the dead end when access requests are off', async () => {
      await settings({ is_access_request_enabled: false });
      Object.assign(googleAccount, { sub: 'g-nobody', email: 'nobody@gmail.example' });
      const { driver, status } = await viaProvider(conn.google);
      assert.equal(status, 403);
      assert.match(driver.lastPage, /Ask your administrator for access/);
      assert.doesNotMatch(driver.lastPage, /request-access/);
      assert.equal(await identityOf(conn.google, 'g-nobody'), undefined);
      await settings({ is_access_request_enabled: true });
    });

    describe('an organization that takes no registrations, with sign-up open', () => {
      let org: string;
      before(async () => {
        await settings({ is_self_sign_up_enabled: true, is_access_request_enabled: true });
        org = (await server.api('POST', '/organization', { name: 'Closed Circle', is_allow_registrations: false })).body.organization.code;
      });

      it('refuses a new person’s sign-up with its org_code before any account is written, offering a request', async () => {
        const driver = await begin({ org_code: org });
        await assert.rejects(driver.submit({ identifier: 'newcomer@example.test' }), (error: unknown) => error instanceof PageError && error.status === 403);
        assert.match(driver.lastPage, /administrators of Closed Circle|Closed Circle/);
        assert.match(driver.lastPage, /request-access/);
        assert.equal(await findUserByIdentity(db(), 'email', 'newcomer@example.test'), undefined, 'no account written');
      });

      it('says no plainly when access requests are off, still before any account', async () => {
        await settings({ is_access_request_enabled: false });
        try {
          const driver = await begin({ org_code: org });
          await assert.rejects(driver.submit({ identifier: 'plain.no@example.test' }), (error: unknown) => error instanceof PageError && error.status === 403);
          assert.doesNotMatch(driver.lastPage, /request-access/);
          assert.equal(await findUserByIdentity(db(), 'email', 'plain.no@example.test'), undefined);
        } finally {
          await settings({ is_access_request_enabled: true });
        }
      });

      it('checks again when the code comes back: an organization closed meanwhile refuses before the account, and the proven email asks at once', async () => {
        const closing = (await server.api('POST', '/organization', { name: 'Closing Soon', is_allow_registrations: true })).body.organization.code as string;
        const driver = await begin({ org_code: closing });
        const mail = smtp.nextMessageTo('late.comer@example.test');
        await driver.submit({ identifier: 'late.comer@example.test' });
        if (/given_name/.test(driver.lastPage)) await driver.submit({ given_name: 'Late', family_name: 'Comer' });
        assert.match(driver.lastPage, /Check your email/);
        assert.equal((await server.api('PATCH', `/organization/${closing}`, { is_allow_registrations: false })).status, 200);
        await assert.rejects(driver.submit({ code: codeIn(await mail) }), (error: unknown) => error instanceof PageError && error.status === 403);
        assert.equal(await findUserByIdentity(db(), 'email', 'late.comer@example.test'), undefined, 'no account written');
        assert.match(driver.lastPage, /The request will be sent as late.comer@example.test/, 'the code proved the email');
        await driver.submit({ given_name: 'Late', family_name: 'Comer' }, '/request-access');
        assert.match(driver.lastPage, /Request sent/);
        const [request] = (await pending()).filter((r) => r.email === 'late.comer@example.test');
        assert.equal(request.organization_code, closing);
      });

      it('refuses a new social person with its org_code before any account or identity is written', async () => {
        Object.assign(googleAccount, { sub: 'g-org', email: 'org.newcomer@gmail.example' });
        const { driver, status } = await viaProvider(conn.google, { org_code: org });
        assert.equal(status, 403);
        assert.match(driver.lastPage, /request-access/);
        assert.equal(await identityOf(conn.google, 'g-org'), undefined);
        assert.equal(await findUserByIdentity(db(), 'email', 'org.newcomer@gmail.example'), undefined);
        await driver.submit({ given_name: 'Org', family_name: 'Newcomer' }, '/request-access');
        const [request] = (await pending()).filter((r) => r.email === 'org.newcomer@gmail.example');
        assert.equal(request.organization_code, org);
      });
    });
  });
}
