import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { createOrganization, setOrganizationConnection } from '../src/domain/organizations.ts';
import { createUser, findUser } from '../src/domain/users.ts';
import { loadFlow, saveFlow } from '../src/sign-in/flow/state.ts';
import { testDatabases } from './support/databases.ts';
import { approving, type FakeApi, type FakeOidcProvider, followToCallback, startFakeApi, startFakeApple, startFakeOidcProvider } from './support/fake-providers.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

const APP_CALLBACK = 'http://127.0.0.1:9/callback';

/** Text of the last page, tags stripped. */
const textOf = (driver: FormDriver) => driver.lastPage.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

for (const database of testDatabases()) {
  describe(`social sign-in in the hosted pages (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    serverWithMailForSuite(database, (s, mail) => {
      server = s;
      smtp = mail;
    });

    let callbackUrl: string;
    let appId: string;
    let google: FakeOidcProvider;
    let microsoft: FakeOidcProvider;
    let x: FakeApi;
    let apple: FakeApi;
    let github: FakeApi;
    const conn: Record<'google' | 'microsoft' | 'x' | 'apple' | 'github', string> = { google: '', microsoft: '', x: '', apple: '', github: '' };
    const googleAccount: Record<string, unknown> & { sub: string } = { sub: 'g-1', email: 'ada@gmail.example', email_verified: true, given_name: 'Ada', family_name: 'Lovelace', picture: 'https://example.com/ada.png' };
    const microsoftAccount: Record<string, unknown> & { sub: string } = { sub: 'ms-1', email: 'grace@outlook.example', email_verified: false, name: 'Grace Hopper' };
    const xIssued = new Map<string, URLSearchParams>();
    let xUser = { id: '2244994945', name: 'X Person', username: 'xperson' };
    const db = () => server.services.db;

    async function createConnection(body: Record<string, unknown>): Promise<string> {
      const { status, body: answer } = await server.api('POST', '/connections', { enabled_applications: [appId], ...body });
      assert.equal(status, 201, JSON.stringify(answer));
      return answer.connection.id;
    }

    before(async () => {
      callbackUrl = `${server.services.config.issuer}/login/callback`;
      appId = (await server.createApplication({ type: 'reg', redirectUrls: [APP_CALLBACK] })).id;
      const client = { client_secret: 'provider-secret-0123456789', redirect_uris: [callbackUrl] };
      google = await startFakeOidcProvider({ client: { ...client, client_id: 'at-google' }, account: googleAccount });
      microsoft = await startFakeOidcProvider({ client: { ...client, client_id: 'at-microsoft' }, account: microsoftAccount });
      x = await startFakeApi({
        'GET /i/oauth2/authorize': approving(xIssued),
        'POST /2/oauth2/token': () => [200, { token_type: 'bearer', access_token: 'x-token', expires_in: 7200, scope: 'users.read tweet.read' }],
        'GET /2/users/me': () => [200, { data: xUser }],
      });
      apple = await startFakeApple({ clientId: 'com.example.web', subject: '001234.abcdef.1234' });
      github = await startFakeApi({ 'GET /login/oauth/authorize': approving(new Map()) });
      const oidcEndpoints = (fake: FakeOidcProvider) => ({ issuer: fake.issuer, authorization_endpoint: `${fake.issuer}/auth`, token_endpoint: `${fake.issuer}/token`, jwks_uri: `${fake.issuer}/jwks` });
      conn.google = await createConnection({
        strategy: 'oauth2:google',
        options: {
          client_id: 'at-google',
          client_secret: client.client_secret,
          is_trusted: true,
          endpoints: oidcEndpoints(google),
          upstream_params: { prompt: { value: 'login' }, login_hint: { alias: 'login_hint' } },
        },
      });
      conn.microsoft = await createConnection({ strategy: 'oauth2:microsoft', options: { client_id: 'at-microsoft', client_secret: client.client_secret, endpoints: oidcEndpoints(microsoft) } });
      conn.x = await createConnection({
        strategy: 'oauth2:twitter',
        options: {
          client_id: 'x-client',
          client_secret: 'x-secret',
          is_trusted: true,
          endpoints: { authorization_endpoint: `${x.origin}/i/oauth2/authorize`, token_endpoint: `${x.origin}/2/oauth2/token`, userinfo_endpoint: `${x.origin}/2/users/me` },
        },
      });
      conn.apple = await createConnection({
        strategy: 'oauth2:apple',
        options: {
          client_id: 'com.example.web',
          client_secret: 'hand-made-client-secret',
          is_trusted: true,
          endpoints: { issuer: apple.origin, authorization_endpoint: `${apple.origin}/auth/authorize`, token_endpoint: `${apple.origin}/auth/token`, jwks_uri: `${apple.origin}/auth/keys` },
        },
      });
      conn.github = await createConnection({
        strategy: 'oauth2:github',
        enabled_applications: [],
        options: {
          client_id: 'github-client',
          client_secret: 'github-secret',
          endpoints: { authorization_endpoint: `${github.origin}/login/oauth/authorize`, token_endpoint: `${github.origin}/token`, userinfo_endpoint: `${github.origin}/user` },
        },
      });
    });
    after(async () => {
      await Promise.all([google?.close(), microsoft?.close(), x?.close(), apple?.close(), github?.close()]);
    });

    const authorizeUrl = (extra: Record<string, string> = {}) =>
      `${server.url}/oauth2/auth?${new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: APP_CALLBACK, scope: 'openid email profile', state: 'app-state', ...extra })}`;

    /** A browser (without JavaScript) on the identify page. */
    async function onIdentifyPage(extra: Record<string, string> = {}): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      assert.equal(await driver.go(authorizeUrl(extra)), undefined, 'the identify page is shown');
      return driver;
    }

    /** Clicks "Continue with …": returns the provider's authorization URL the browser is sent to. */
    async function clickProvider(driver: FormDriver, connectionId: string): Promise<URL> {
      const out = await driver.submit({ connection_id: connectionId }, '/social');
      assert.ok(out, 'the browser leaves for the provider');
      return out;
    }

    /** The provider approves; the browser comes back to `/login/callback`. Returns where Gatehouse sends it next (the app), or undefined on a page. */
    async function backFromProvider(driver: FormDriver, authorization: URL): Promise<URL | undefined> {
      const callback = await followToCallback(authorization.href, callbackUrl);
      return driver.go(callback.href);
    }

    async function signInWith(connectionId: string): Promise<{ driver: FormDriver; out: URL | undefined }> {
      const driver = await onIdentifyPage();
      const out = await backFromProvider(driver, await clickProvider(driver, connectionId));
      return { driver, out };
    }

    const landedOnApp = (out: URL | undefined) => {
      assert.ok(out?.href.startsWith(APP_CALLBACK), `lands on the application, not ${out}`);
      assert.ok(out!.searchParams.get('code'));
    };

    async function socialUserId(connectionId: string, subject: string): Promise<string | undefined> {
      const row = await db().selectFrom('identities').select('user_id').where('connection_id', '=', connectionId).where('normalized_value', '=', `${connectionId}:${subject}`).executeTakeFirst();
      return row?.user_id;
    }

    /** Gatehouse's audit context of each event of this type (`detail`), or its data when it has none. */
    async function audits(type: string) {
      return (await db().selectFrom('audit_events').select(['data', 'detail']).where('type', '=', type).execute()).map((row) => JSON.parse(row.detail ?? row.data));
    }

    it('shows a button per social connection, named "Continue with …"', async () => {
      const driver = await onIdentifyPage();
      for (const name of ['Google', 'Microsoft', 'X', 'Apple']) assert.match(driver.lastPage, new RegExp(`Continue with ${name}`));
      assert.doesNotMatch(driver.lastPage, /Continue with GitHub/, 'not enabled for this application');
      assert.match(driver.lastPage, /name="identifier"/, 'email sign-in is still there');
      const googleButton = /<button[^>]*value="[^"]+"[^>]*>(?:(?!<\/button>)[\s\S])*Continue with Google/.exec(driver.lastPage)?.[0] ?? '';
      assert.match(googleButton, /<svg class="mark"[^>]*aria-hidden="true"[\s\S]*fill="#4285F4"/, "Google's mark, in its colour");
      assert.match(driver.lastPage, /<svg class="mark"[\s\S]*fill="#F25022"[\s\S]*Continue with Microsoft/, "Microsoft's four squares");
    });

    it('signs a person up through Google (trusted, verified email), then signs them in again', async () => {
      const first = await signInWith(conn.google);
      landedOnApp(first.out);
      const userId = await socialUserId(conn.google, 'g-1');
      assert.ok(userId, 'a user with the Google identity');
      const user = (await findUser(db(), userId!))!;
      assert.equal(user.firstName, 'Ada');
      assert.equal(user.picture, 'https://example.com/ada.png');
      const { body } = await server.api('GET', `/users/${userId}/identities`);
      const types = body.identities.map((identity: { type: string }) => identity.type);
      assert.deepEqual(types.sort(), ['email', 'oauth2:google']);
      assert.equal(body.identities.find((identity: { type: string }) => identity.type === 'email').is_confirmed, true);

      const again = await signInWith(conn.google);
      landedOnApp(again.out);
      assert.equal(await socialUserId(conn.google, 'g-1'), userId);
      const signIns = await audits('user.authenticated');
      assert.deepEqual(signIns.at(-1).amr, ['fed']);
      assert.equal(signIns.at(-1).connection_id, conn.google);
    });

    it('takes the identities people had through a connection away with it when it is deleted', async () => {
      const oidcEndpoints = { issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, token_endpoint: `${google.issuer}/token`, jwks_uri: `${google.issuer}/jwks` };
      const second = await createConnection({ strategy: 'oauth2:google', name: 'google-second', options: { client_id: 'at-google', client_secret: 'provider-secret-0123456789', is_trusted: true, endpoints: oidcEndpoints } });
      landedOnApp((await signInWith(second)).out);
      const userId = await socialUserId(second, 'g-1');
      assert.ok(userId);
      assert.equal((await server.api('DELETE', `/connections/${second}`)).status, 200);
      assert.equal(await socialUserId(second, 'g-1'), undefined, 'the identity went with the connection');
      const { status, body } = await server.api('GET', `/users/${userId}/identities`);
      assert.equal(status, 200, 'the person stays');
      assert.ok(!body.identities.some((identity: { connection_id?: string }) => identity.connection_id === second));
    });

    it('links a trusted provider\'s verified email to the existing account, with no code', async () => {
      const existing = await createUser(db(), { identities: [{ type: 'email', value: 'linked@example.test', isVerified: true }] });
      Object.assign(googleAccount, { sub: 'g-2', email: 'linked@example.test' });
      const sent = smtp.messages.length;
      const { out } = await signInWith(conn.google);
      landedOnApp(out);
      assert.equal(await socialUserId(conn.google, 'g-2'), existing.id);
      assert.equal(smtp.messages.length, sent, 'no code was sent');
      assert.deepEqual((await audits('user.identity_linked')).at(-1), { connection_id: conn.google, proven_by: 'trusted_provider' });
    });

    it('links an untrusted provider only after the person proves the email with a code', async () => {
      const existing = await createUser(db(), { identities: [{ type: 'email', value: 'grace@outlook.example', isVerified: true }] });
      const driver = await onIdentifyPage();
      const mail = smtp.nextMessageTo('grace@outlook.example');
      assert.equal(await backFromProvider(driver, await clickProvider(driver, conn.microsoft)), undefined);
      assert.match(textOf(driver), /Check your email/);
      assert.equal(await socialUserId(conn.microsoft, 'ms-1'), undefined, 'not linked before the code');
      assert.equal(await driver.submit({ code: '000000' }).catch((e) => e), undefined);
      assert.match(textOf(driver), /not right/);
      landedOnApp(await driver.submit({ code: codeIn(await mail) }));
      assert.equal(await socialUserId(conn.microsoft, 'ms-1'), existing.id);
      assert.deepEqual((await audits('user.identity_linked')).at(-1), { connection_id: conn.microsoft, proven_by: 'email_code' });
    });

    it('signs a new person up through an untrusted provider with the social identity alone, leaving the email free', async () => {
      Object.assign(microsoftAccount, { sub: 'ms-2', email: 'fresh@outlook.example' });
      const sent = smtp.messages.length;
      landedOnApp((await signInWith(conn.microsoft)).out);
      const userId = await socialUserId(conn.microsoft, 'ms-2');
      const { body } = await server.api('GET', `/users/${userId}/identities`);
      assert.deepEqual(
        body.identities.map((identity: { type: string; name: string }) => [identity.type, identity.name]),
        [['oauth2:microsoft', 'fresh@outlook.example']],
      );
      assert.equal(smtp.messages.length, sent, 'no code was sent');
    });

    it('asks for an email when X gives none, verifies it by code, and remembers it', async () => {
      const { driver, out } = await signInWith(conn.x);
      assert.equal(out, undefined);
      assert.match(textOf(driver), /What is your email\?/);
      assert.match(textOf(driver), /X did not tell us your email/);
      await driver.submit({ email: 'not an email' });
      assert.match(textOf(driver), /valid email/);
      const mail = smtp.nextMessageTo('x.person@example.test');
      await driver.submit({ email: 'x.person@example.test' });
      assert.match(textOf(driver), /Check your email/);
      landedOnApp(await driver.submit({ code: codeIn(await mail) }));
      const userId = await socialUserId(conn.x, xUser.id);
      const user = (await findUser(db(), userId!))!;
      assert.ok(user.identities.some((identity) => identity.type === 'email' && identity.value === 'x.person@example.test' && identity.isVerified));

      const again = await signInWith(conn.x);
      landedOnApp(again.out);
    });

    it('takes Apple\'s name from the first sign-in\'s form_post `user` field', async () => {
      const driver = await onIdentifyPage();
      const authorization = await clickProvider(driver, conn.apple);
      assert.equal(authorization.searchParams.get('response_mode'), 'form_post');
      const answer = (await followToCallback(authorization.href, callbackUrl)).searchParams;
      // Apple POSTs the answer cross-site; Gatehouse hops to its own origin before completing.
      const form = new URLSearchParams({ code: answer.get('code')!, state: answer.get('state')!, user: JSON.stringify({ name: { firstName: 'Tim', lastName: 'Apple' } }) });
      const out = await driver.go(callbackUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
      landedOnApp(out);
      const user = (await findUser(db(), (await socialUserId(conn.apple, '001234.abcdef.1234'))!))!;
      assert.equal(user.firstName, 'Tim');
      assert.equal(user.lastName, 'Apple');
    });

    it('sends the connection\'s upstream params to the provider', async () => {
      const driver = await onIdentifyPage({ login_hint: 'hint@example.test' });
      const authorization = await clickProvider(driver, conn.google);
      assert.equal(authorization.searchParams.get('prompt'), 'login');
      assert.equal(authorization.searchParams.get('login_hint'), 'hint@example.test');
      await backFromProvider(driver, authorization);
      assert.equal(google.lastAuthorization?.get('login_hint'), 'hint@example.test');
    });

    it('syncs names and picture at each sign-in when the connection says so', async () => {
      Object.assign(googleAccount, { sub: 'g-sync', email: 'sync@example.test', given_name: 'Before', picture: 'https://example.com/before.png' });
      landedOnApp((await signInWith(conn.google)).out);
      const userId = (await socialUserId(conn.google, 'g-sync'))!;
      Object.assign(googleAccount, { given_name: 'After', picture: 'https://example.com/after.png' });
      landedOnApp((await signInWith(conn.google)).out);
      assert.equal((await findUser(db(), userId))!.firstName, 'Before', 'not synced while the option is off');
      assert.equal((await server.api('PATCH', `/connections/${conn.google}`, { options: { is_sync_user_profile_on_login: true } })).status, 200);
      landedOnApp((await signInWith(conn.google)).out);
      const user = (await findUser(db(), userId))!;
      assert.equal(user.firstName, 'After');
      assert.equal(user.picture, 'https://example.com/after.png');
      assert.deepEqual((await audits('user.updated')).at(-1), { fields: ['first_name', 'picture'], source: 'profile_sync', connection_id: conn.google });
    });

    it('ends a cancelled sign-in on a friendly page with a way back, audited, nothing written', async () => {
      const driver = await onIdentifyPage();
      const authorization = await clickProvider(driver, conn.google);
      const users = await db().selectFrom('users').select('id').execute();
      const cancelled = new URL(callbackUrl);
      cancelled.searchParams.set('error', 'access_denied');
      cancelled.searchParams.set('state', authorization.searchParams.get('state')!);
      const error = await driver.go(cancelled.href).catch((e) => e);
      assert.ok(error instanceof PageError && error.status === 400);
      assert.match(error.page, /Sign-in was cancelled/);
      assert.match(error.page, /You did not allow Google/);
      const back = /href="([^"]+)"[^>]*>Back to sign-in/.exec(error.page)?.[1];
      assert.ok(back, 'a way back');
      assert.equal(await driver.go(back!), undefined);
      assert.match(driver.lastPage, /Continue with Google/);
      assert.equal((await db().selectFrom('users').select('id').execute()).length, users.length);
      const failure = (await audits('user.social_sign_in_failed')).at(-1);
      assert.equal(failure.failure, 'access_denied');
      assert.equal(failure.connection_id, conn.google);
      assert.deepEqual(Object.keys(failure).sort(), ['application_id', 'connection_id', 'failure', 'upstream_code'], 'what failed, never what the provider sent');
    });

    it('refuses an unknown state, and a callback replayed after the sign-in used it', async () => {
      const audited = (await audits('user.social_sign_in_failed')).length;
      const forged = await new FormDriver(server.url).go(`${callbackUrl}?code=x&state=nobody.forged`).catch((e) => e);
      assert.ok(forged instanceof PageError && forged.status === 400);
      assert.match(forged.page, /could not be finished/);
      assert.equal((await audits('user.social_sign_in_failed')).length, audited, 'a callback of no sign-in is not the audit log\'s business');

      const driver = await onIdentifyPage();
      const answer = await followToCallback((await clickProvider(driver, conn.google)).href, callbackUrl);
      landedOnApp(await driver.go(answer.href));
      const replayed = await driver.go(answer.href).catch((e) => e);
      assert.ok(replayed instanceof PageError && replayed.status === 400, 'the round trip was single use');
    });

    it('refuses another browser finishing the sign-in (the flow is bound to the browser that began it)', async () => {
      const driver = await onIdentifyPage();
      const answer = await followToCallback((await clickProvider(driver, conn.google)).href, callbackUrl);
      const stranger = await new FormDriver(server.url).go(answer.href).catch((e) => e);
      assert.ok(stranger instanceof PageError && stranger.status === 400);
      assert.match(stranger.page, /expired/);
    });

    it('refuses an ID token with a wrong nonce, and a provider that is down', async () => {
      const driver = await onIdentifyPage();
      const authorization = await clickProvider(driver, conn.google);
      const uid = /\/interaction\/([^/]+)/.exec(driver.lastUrl)![1]!;
      const flow = await loadFlow(db(), uid);
      assert.equal(flow?.step, 'social_redirect');
      if (flow?.step === 'social_redirect') await saveFlow(db(), uid, { ...flow, trip: { ...flow.trip, nonce: 'another-flows-nonce' } });
      const refused = await backFromProvider(driver, authorization).catch((e) => e);
      assert.ok(refused instanceof PageError && refused.status === 400, String(refused));
      assert.match(refused.page, /could not verify/);
      assert.equal((await audits('user.social_sign_in_failed')).at(-1).failure, 'invalid_id_token');

      const down = await createConnection({
        strategy: 'oauth2:google',
        name: 'google-down',
        options: { client_id: 'at-google', client_secret: 'x', endpoints: { ...{ issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, jwks_uri: `${google.issuer}/jwks` }, token_endpoint: 'http://127.0.0.1:9/token' } },
      });
      const second = await onIdentifyPage();
      const failed = await backFromProvider(second, await clickProvider(second, down)).catch((e) => e);
      assert.ok(failed instanceof PageError && failed.status === 502, String(failed));
      assert.equal((await audits('user.social_sign_in_failed')).at(-1).failure, 'provider_error');
    });

    it('refuses an ID token from another issuer', async () => {
      const impostor = await createConnection({
        strategy: 'oauth2:google',
        name: 'google-impostor',
        options: { client_id: 'at-microsoft', client_secret: 'provider-secret-0123456789', endpoints: { issuer: google.issuer, authorization_endpoint: `${microsoft.issuer}/auth`, token_endpoint: `${microsoft.issuer}/token`, jwks_uri: `${microsoft.issuer}/jwks` } },
      });
      const driver = await onIdentifyPage();
      const refused = await backFromProvider(driver, await clickProvider(driver, impostor)).catch((e) => e);
      assert.ok(refused instanceof PageError, String(refused));
      assert.equal(await socialUserId(impostor, 'ms-1'), undefined);
    });

    it('goes straight to the provider with connection_id', async () => {
      const driver = new FormDriver(server.url);
      const out = await driver.go(authorizeUrl({ connection_id: conn.google }));
      assert.ok(out?.href.startsWith(`${google.issuer}/auth`), `straight to Google, not ${out}`);
      Object.assign(googleAccount, { sub: 'g-1', email: 'ada@gmail.example' });
      landedOnApp(await backFromProvider(driver, out!));
    });

    it('shows only an organization\'s own social connections', async () => {
      const organization = await createOrganization(db(), { name: 'Acme' });
      await setOrganizationConnection(db(), organization.code, conn.github, true);
      const driver = await onIdentifyPage({ org_code: organization.code });
      assert.match(driver.lastPage, /Continue with GitHub/);
      assert.doesNotMatch(driver.lastPage, /Continue with Google/);
      assert.doesNotMatch(driver.lastPage, /name="identifier"/, 'the organization turned email off');
    });

    it('offers a connection that belongs to an organization only to sign-ins to that organization', async () => {
      const beta = await createOrganization(db(), { name: 'Beta' });
      await createConnection({
        strategy: 'oauth2:gitlab',
        organization_code: beta.code,
        options: { client_id: 'gitlab-client', client_secret: 'gitlab-secret', endpoints: { issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, token_endpoint: `${google.issuer}/token`, jwks_uri: `${google.issuer}/jwks` } },
      });
      assert.doesNotMatch((await onIdentifyPage()).lastPage, /Continue with GitLab/);
      const atBeta = await onIdentifyPage({ org_code: beta.code });
      assert.match(atBeta.lastPage, /Continue with GitLab/);
      assert.match(atBeta.lastPage, /Continue with Google/, 'Beta has no connections of its own: the application\'s apply');
    });

    it('asks for two-step verification after a social sign-in when the environment requires it', async () => {
      await updateEnvironmentPolicy(db(), { mfa: { mode: 'required', factors: ['totp'] } });
      try {
        Object.assign(googleAccount, { sub: 'g-1', email: 'ada@gmail.example' });
        const { driver, out } = await signInWith(conn.google);
        assert.equal(out, undefined, 'not yet signed in');
        assert.match(textOf(driver), /two-step verification|authenticator app/i);
      } finally {
        await updateEnvironmentPolicy(db(), { mfa: { mode: 'off' } });
      }
    });

    it('keeps self sign-up off for new social users', async () => {
      await updateEnvironmentPolicy(db(), { allowSelfSignUp: false });
      try {
        Object.assign(googleAccount, { sub: 'g-new', email: 'newcomer@example.test' });
        const refused = await signInWith(conn.google).catch((e) => e);
        assert.ok(refused instanceof PageError && refused.status === 403, String(refused));
        assert.equal(await socialUserId(conn.google, 'g-new'), undefined);
      } finally {
        await updateEnvironmentPolicy(db(), { allowSelfSignUp: true });
      }
    });
  });
}
