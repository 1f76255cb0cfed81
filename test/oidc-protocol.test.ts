import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';
const LOGOUT = 'http://127.0.0.1:5173/signed-out';
const insecure = { execute: [client.allowInsecureRequests] };

for (const database of testDatabases()) {
  describe(`OpenID Connect with openid-client (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;
    let spa: { id: string };
    let web: { id: string; secret?: string };

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <auth@example.test>' } });
      spa = await server.createApplication({ type: 'spa', redirectUrls: [CALLBACK], logoutUrls: [LOGOUT] });
      web = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK], logoutUrls: [`${LOGOUT}?from=web&x=1`] });
    });

    after(async () => {
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    const issuer = () => new URL(server.services.config.issuer);

    /** Signs `email` up or in with an emailed code on the hosted pages; returns the app callback URL. */
    async function signInWithCode(driver: FormDriver, authorizationUrl: URL, email: string): Promise<URL> {
      assert.equal(await driver.go(authorizationUrl.toString()), undefined, 'the identify page is shown');
      const mail = smtp.nextMessageTo(email);
      assert.equal(await driver.submit({ identifier: email }), undefined, 'the code page is shown');
      const callback = await driver.submit({ code: codeIn(await mail) });
      assert.ok(callback, 'sign-in ends at the application callback');
      return callback;
    }

    async function publicClientTokens(driver: FormDriver, email: string, scope = 'openid profile email offline') {
      const config = await client.discovery(issuer(), spa.id, undefined, client.None(), insecure);
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope,
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
      });
      const callback = await signInWithCode(driver, url, email);
      const tokens = await client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
      return { config, tokens };
    }

    it('publishes discovery with Kinde paths', async () => {
      const config = await client.discovery(issuer(), spa.id, undefined, client.None(), insecure);
      const metadata = config.serverMetadata();
      assert.equal(metadata.issuer, server.services.config.issuer);
      assert.equal(metadata.authorization_endpoint, `${metadata.issuer}/oauth2/auth`);
      assert.equal(metadata.token_endpoint, `${metadata.issuer}/oauth2/token`);
      assert.equal(metadata.jwks_uri, `${metadata.issuer}/.well-known/jwks.json`);
      assert.equal(metadata.userinfo_endpoint, `${metadata.issuer}/oauth2/v2/user_profile`);
      assert.deepEqual(metadata.code_challenge_methods_supported, ['S256']);
    });

    it('runs code + PKCE + nonce and issues Kinde-shaped ID and access tokens', async () => {
      const { tokens } = await publicClientTokens(new FormDriver(server.url), 'ada@example.test');
      const idClaims = tokens.claims()!;
      assert.equal(idClaims.iss, server.services.config.issuer);
      assert.deepEqual([idClaims.aud].flat(), [spa.id]);
      assert.equal(idClaims.azp, spa.id);
      assert.match(idClaims.sub, /^kp_[0-9a-f]{32}$/);
      assert.equal(idClaims.email, 'ada@example.test');
      assert.equal(idClaims.email_verified, true);
      const { defaultOrganization } = await import('../src/domain/organizations.ts');
      assert.deepEqual(idClaims.org_codes, [(await defaultOrganization(server.services.db)).code], 'a new person joins the default organization');
      assert.match(String(idClaims.picture), /^https:\/\/gravatar\.com\/avatar\/[0-9a-f]{64}/);

      const header = decodeProtectedHeader(tokens.access_token);
      assert.equal(header.alg, 'RS256');
      assert.equal(header.typ, 'at+jwt');
      assert.doesNotMatch(tokens.access_token.split('.')[0]!, /[-_]/, 'header must survive atob()');
      const access = decodeJwt(tokens.access_token);
      assert.equal(access.iss, server.services.config.issuer);
      assert.equal(access.sub, idClaims.sub);
      assert.equal(access.azp, spa.id);
      assert.deepEqual(access.aud, []);
      assert.deepEqual(access.scp, ['openid', 'profile', 'email', 'offline']);
      assert.deepEqual(access.permissions, []);
      assert.deepEqual(access.roles, []);
      assert.deepEqual(access.feature_flags, {});
      assert.deepEqual(access.ksp, { persistent: true });
      assert.equal(access.org_code, idClaims.org_codes[0], 'the access token speaks for that organization');
      assert.equal(typeof tokens.expires_in, 'number');
      assert.ok(tokens.refresh_token, 'offline scope gives a refresh token');
    });

    it('puts the requested audience in the access token, and refuses an audience the app may not call', async () => {
      const { createApi, setApplicationAuthorization } = await import('../src/domain/apis.ts');
      const api = await createApi(server.services.db, { name: 'Photos', audience: 'https://photos.example.test', scopes: ['read:photos'] });
      await setApplicationAuthorization(server.services.db, api.id, spa.id, true);
      const config = await client.discovery(issuer(), spa.id, undefined, client.None(), insecure);
      const verifier = client.randomPKCECodeVerifier();
      const authorize = async (audience: string, driver: FormDriver) =>
        driver.go(
          client
            .buildAuthorizationUrl(config, {
              redirect_uri: CALLBACK,
              scope: 'openid email',
              code_challenge: await client.calculatePKCECodeChallenge(verifier),
              code_challenge_method: 'S256',
              state: 'aud',
              audience,
            })
            .toString(),
        );
      const refused = await authorize('https://unknown.example.test', new FormDriver(server.url));
      assert.equal(refused?.searchParams.get('error'), 'invalid_target');

      const driver = new FormDriver(server.url);
      await publicClientTokens(driver, 'audience@example.test');
      const callback = await authorize('https://photos.example.test', driver);
      const tokens = await client.authorizationCodeGrant(config, callback!, { pkceCodeVerifier: verifier, expectedState: 'aud' });
      assert.deepEqual(decodeJwt(tokens.access_token).aud, ['https://photos.example.test']);
    });

    it('serves the user profile to the access token', async () => {
      const { config, tokens } = await publicClientTokens(new FormDriver(server.url), 'grace@example.test');
      const sub = tokens.claims()!.sub;
      const profile = await client.fetchUserInfo(config, tokens.access_token, sub);
      assert.equal(profile.sub, sub);
      assert.equal(profile.email, 'grace@example.test');
      const v1 = await fetch(`${server.url}/oauth2/user_profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      assert.equal(v1.status, 200);
      assert.deepEqual(Object.keys(await v1.json()).sort(), ['first_name', 'id', 'last_name', 'picture', 'preferred_email', 'provided_id', 'username']);
      const bad = await fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: 'Bearer not.a.token' } });
      assert.equal(bad.status, 401);
      assert.equal((await bad.json()).error, 'invalid_token');
    });

    it('rotates refresh tokens and revokes the family when a rotated one is reused', async () => {
      const { config, tokens } = await publicClientTokens(new FormDriver(server.url), 'linus@example.test');
      const first = tokens.refresh_token!;
      const second = await client.refreshTokenGrant(config, first);
      assert.ok(second.refresh_token);
      assert.notEqual(second.refresh_token, first);
      assert.ok(second.access_token);
      await assert.rejects(client.refreshTokenGrant(config, first), (error: any) => error.error === 'invalid_grant');
      await assert.rejects(client.refreshTokenGrant(config, second.refresh_token!), (error: any) => error.error === 'invalid_grant', 'reuse revoked the whole family');
    });

    it('skips the pages when the SSO session is alive', async () => {
      const driver = new FormDriver(server.url);
      await publicClientTokens(driver, 'margaret@example.test');
      const config = await client.discovery(issuer(), spa.id, undefined, client.None(), insecure);
      const verifier = client.randomPKCECodeVerifier();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid email',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state: 'second',
      });
      const callback = await driver.go(url.toString());
      assert.ok(callback, 'no page was shown');
      assert.equal(callback.searchParams.get('state'), 'second');
      assert.ok(callback.searchParams.get('code'));
    });

    it('answers prompt=none without a session with login_required, and prompt=login shows the pages again', async () => {
      const config = await client.discovery(issuer(), spa.id, undefined, client.None(), insecure);
      const challenge = await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier());
      const url = (prompt: string, state: string) =>
        client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', code_challenge: challenge, code_challenge_method: 'S256', state, prompt }).toString();

      const silent = await new FormDriver(server.url).go(url('none', 'silent'));
      assert.equal(silent?.searchParams.get('error'), 'login_required');
      assert.equal(silent?.searchParams.get('state'), 'silent');

      const driver = new FormDriver(server.url);
      await publicClientTokens(driver, 'prompt@example.test');
      assert.ok((await driver.go(url('none', 'with-session')))?.searchParams.get('code'), 'silent sign-in works with a session');
      assert.equal(await driver.go(url('login', 'forced')), undefined, 'prompt=login shows the sign-in page');
      assert.match(driver.lastPage, /autocomplete="email"/);
    });

    it('lets a confidential application revoke and introspect tokens', async () => {
      const config = await client.discovery(issuer(), web.id, undefined, client.ClientSecretPost(web.secret!), insecure);
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid email offline', state });
      const callback = await signInWithCode(new FormDriver(server.url), url, 'barbara@example.test');
      const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: state });

      const accessIntrospection = await client.tokenIntrospection(config, tokens.access_token);
      assert.equal(accessIntrospection.active, true);
      assert.equal(accessIntrospection.client_id, web.id);
      assert.deepEqual(accessIntrospection.aud, []);
      assert.equal(typeof accessIntrospection.exp, 'number');

      const refreshIntrospection = await client.tokenIntrospection(config, tokens.refresh_token!);
      assert.equal(refreshIntrospection.active, true);
      await client.tokenRevocation(config, tokens.refresh_token!);
      assert.equal((await client.tokenIntrospection(config, tokens.refresh_token!)).active, false);
      await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (error: any) => error.error === 'invalid_grant');

      const forged = tokens.access_token.slice(0, -4) + 'AAAA';
      assert.equal((await client.tokenIntrospection(config, forged)).active, false);
    });

    it('accepts the client secret in a Basic header too', async () => {
      const config = await client.discovery(issuer(), web.id, undefined, client.ClientSecretBasic(web.secret!), insecure);
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, { redirect_uri: CALLBACK, scope: 'openid', state });
      const callback = await signInWithCode(new FormDriver(server.url), url, 'basic@example.test');
      const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: state });
      assert.ok(tokens.id_token);
    });

    it('signs out only to registered logout URLs, even unencoded', async () => {
      const driver = new FormDriver(server.url);
      await publicClientTokens(driver, 'logout@example.test');
      assert.ok(driver.cookie('_session'));
      const back = await driver.go(`/logout?redirect=${LOGOUT}`);
      assert.equal(back?.toString(), LOGOUT);
      assert.equal(driver.cookie('_session'), undefined, 'the SSO session cookie is cleared');

      const unencoded = await driver.go(`/logout?redirect=${LOGOUT}?from=web&x=1`);
      assert.equal(unencoded?.toString(), `${LOGOUT}?from=web&x=1`);

      const foreign = await fetch(`${server.url}/logout?redirect=${encodeURIComponent('https://evil.example/steal')}`, { redirect: 'manual' });
      assert.equal(foreign.status, 400);
      assert.equal(foreign.headers.get('location'), null);
    });
  });
}
