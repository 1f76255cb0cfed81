import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { createHash, randomUUID } from 'node:crypto';
import { decodeJwt, exportJWK, SignJWT } from 'jose';
import * as client from 'openid-client';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { BOOTSTRAP, serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';
const insecure = { execute: [client.allowInsecureRequests] };

interface App {
  id: string;
  secret?: string;
}

for (const database of testDatabases()) {
  describe(`Token security (${database.name})`, () => {
    let smtp: TestSmtp;
    let server: TestServer;
    let web: App;
    let other: App;
    let spa: App;

    serverWithMailForSuite(database, (ready, mail) => {
      server = ready;
      smtp = mail;
    });
    before(async () => {
      web = await server.createApplication({ name: 'Web A', type: 'reg', redirectUrls: [CALLBACK] });
      other = await server.createApplication({ name: 'Web B', type: 'reg', redirectUrls: [CALLBACK] });
      spa = await server.createApplication({ name: 'SPA', type: 'spa', redirectUrls: [CALLBACK] });
    });

    const issuer = () => new URL(server.services.config.issuer);
    const configFor = (app: App) =>
      client.discovery(issuer(), app.id, undefined, app.secret ? client.ClientSecretPost(app.secret) : client.None(), insecure);

    /** Signs `email` in with an emailed code on the hosted pages; the application's callback URL. */
    async function signIn(authorizationUrl: string, email: string, driver = new FormDriver(server.url)): Promise<URL> {
      const first = await driver.go(authorizationUrl);
      if (first) return first;
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ identifier: email });
      const callback = await driver.submit({ code: codeIn(await mail) });
      if (!callback?.searchParams.get('code')) throw new Error(`sign-in did not reach the callback with a code: ${driver.lastUrl}`);
      return callback;
    }

    /** The code flow with PKCE through openid-client: the callback and the config that redeems it. */
    async function authorize(app: App, email: string, extra: Record<string, string> = {}) {
      const config = await configFor(app);
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: CALLBACK,
        scope: 'openid profile email offline',
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        ...extra,
      });
      const callback = await signIn(url.toString(), email);
      return { config, callback, checks: { pkceCodeVerifier: verifier, expectedState: state } };
    }

    async function tokensFor(app: App, email: string, extra: Record<string, string> = {}) {
      const { config, callback, checks } = await authorize(app, email, extra);
      return client.authorizationCodeGrant(config, callback, checks);
    }

    async function introspect(app: App, token: string): Promise<Record<string, unknown>> {
      const response = await fetch(`${server.url}/oauth2/introspect`, {
        method: 'POST',
        body: new URLSearchParams({ token, client_id: app.id, client_secret: app.secret ?? '' }),
      });
      assert.equal(response.status, 200);
      return (await response.json()) as Record<string, unknown>;
    }

    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });

    describe('introspection (RFC 7662 §2.2, §4)', () => {
      it("answers inactive to an application that is neither the token's client nor its audience", async () => {
        const tokens = await tokensFor(web, 'intro-owner@example.test');
        assert.equal((await introspect(web, tokens.access_token)).active, true, 'the client the token was issued to may introspect it');
        assert.deepEqual(await introspect(other, tokens.access_token), { active: false });
      });

      it("lets the resource server of the token's audience introspect it, and no other machine", async () => {
        const { createApi, setApplicationAuthorization } = await import('../src/domain/apis.ts');
        const db = server.services.db;
        const api = await createApi(db, { name: 'Orders', audience: 'https://orders.example.test', scopes: ['read:orders'] });
        await setApplicationAuthorization(db, api.id, web.id, true);
        const resourceServer = await server.createApplication({ name: 'Orders service', type: 'm2m' });
        await setApplicationAuthorization(db, api.id, resourceServer.id, true);
        const stranger = await server.createApplication({ name: 'Unrelated service', type: 'm2m' });

        const tokens = await tokensFor(web, 'intro-audience@example.test', { audience: 'https://orders.example.test' });
        const answer = await introspect(resourceServer, tokens.access_token);
        assert.equal(answer.active, true);
        assert.deepEqual(answer.aud, ['https://orders.example.test']);
        assert.equal(answer.client_id, web.id);
        assert.deepEqual(await introspect(stranger, tokens.access_token), { active: false });
      });

      it('answers inactive for the token of a suspended or a deleted person', async () => {
        const suspended = await tokensFor(web, 'intro-suspended@example.test');
        const suspendedId = decodeJwt(suspended.access_token).sub!;
        assert.equal((await server.api('PATCH', `/user?id=${suspendedId}`, { is_suspended: true })).status, 200);
        assert.deepEqual(await introspect(web, suspended.access_token), { active: false });

        const deleted = await tokensFor(web, 'intro-deleted@example.test');
        assert.equal((await server.api('DELETE', `/user?id=${decodeJwt(deleted.access_token).sub}`)).status, 200);
        assert.deepEqual(await introspect(web, deleted.access_token), { active: false });
      });
    });

    describe('revocation (RFC 6749 §4.1.2, RFC 7009 §2.1)', () => {
      const status = async (path: string, token: string) => (await fetch(`${server.url}${path}`, bearer(token))).status;
      const USER_TOKEN_ENDPOINTS = ['/oauth2/v2/user_profile', '/oauth2/user_profile', '/account_api/v1/roles'];

      it('ends the access token a replayed authorization code issued, at every endpoint that takes it', async () => {
        const { config, callback, checks } = await authorize(web, 'replay@example.test');
        const tokens = await client.authorizationCodeGrant(config, callback, checks);
        for (const path of USER_TOKEN_ENDPOINTS) assert.equal(await status(path, tokens.access_token), 200, path);

        await assert.rejects(client.authorizationCodeGrant(config, callback, checks), (error: any) => error.error === 'invalid_grant');
        for (const path of USER_TOKEN_ENDPOINTS) assert.equal(await status(path, tokens.access_token), 401, path);
        assert.deepEqual(await introspect(web, tokens.access_token), { active: false });
        await assert.rejects(client.refreshTokenGrant(config, tokens.refresh_token!), (error: any) => error.error === 'invalid_grant');
      });

      it("refuses a suspended or deleted person's token at the user profiles and the account API", async () => {
        const suspended = await tokensFor(web, 'refused-suspended@example.test');
        const deleted = await tokensFor(web, 'refused-deleted@example.test');
        for (const path of USER_TOKEN_ENDPOINTS) assert.equal(await status(path, suspended.access_token), 200, path);
        assert.equal((await server.api('PATCH', `/user?id=${decodeJwt(suspended.access_token).sub}`, { is_suspended: true })).status, 200);
        assert.equal((await server.api('DELETE', `/user?id=${decodeJwt(deleted.access_token).sub}`)).status, 200);
        for (const path of USER_TOKEN_ENDPOINTS) {
          assert.equal(await status(path, suspended.access_token), 401, `${path}, suspended`);
          assert.equal(await status(path, deleted.access_token), 401, `${path}, deleted`);
        }
      });

      it("ends a person's access tokens when an administrator ends their sessions", async () => {
        const tokens = await tokensFor(web, 'sessions-ended@example.test');
        assert.equal(await status('/oauth2/v2/user_profile', tokens.access_token), 200);
        assert.equal((await server.api('DELETE', `/users/${decodeJwt(tokens.access_token).sub}/sessions`)).status, 200);
        for (const path of USER_TOKEN_ENDPOINTS) assert.equal(await status(path, tokens.access_token), 401, path);
      });

      it('ends the access tokens of a refresh token family when a rotated refresh token is replayed', async () => {
        const { config, callback, checks } = await authorize(spa, 'replay-refresh@example.test');
        const first = await client.authorizationCodeGrant(config, callback, checks);
        const second = await client.refreshTokenGrant(config, first.refresh_token!);
        await assert.rejects(client.refreshTokenGrant(config, first.refresh_token!), (error: any) => error.error === 'invalid_grant');
        assert.equal(await status('/oauth2/v2/user_profile', first.access_token), 401);
        assert.equal(await status('/oauth2/v2/user_profile', second.access_token), 401);
      });

      it('ends an access token revoked at /oauth2/revoke, by a public or a confidential application', async () => {
        const { config: spaConfig, callback, checks } = await authorize(spa, 'revoke-public@example.test');
        const spaTokens = await client.authorizationCodeGrant(spaConfig, callback, checks);
        await client.tokenRevocation(spaConfig, spaTokens.access_token, { token_type_hint: 'access_token' });
        for (const path of USER_TOKEN_ENDPOINTS) assert.equal(await status(path, spaTokens.access_token), 401, path);

        const webTokens = await tokensFor(web, 'revoke-confidential@example.test');
        const webConfig = await configFor(web);
        await client.tokenRevocation(await configFor(other), webTokens.access_token);
        assert.equal((await introspect(web, webTokens.access_token)).active, true, "another application cannot revoke the token");
        await client.tokenRevocation(webConfig, webTokens.access_token);
        assert.deepEqual(await introspect(web, webTokens.access_token), { active: false });
        assert.equal(await status('/oauth2/v2/user_profile', webTokens.access_token), 401);
      });

      it('ends a management API token its machine revoked', async () => {
        const config = await client.discovery(issuer(), BOOTSTRAP.id, undefined, client.ClientSecretBasic(BOOTSTRAP.secret), insecure);
        const { access_token: token } = await client.clientCredentialsGrant(config, { audience: `${issuer().origin}/api` });
        assert.equal(await status('/api/v1/applications', token), 200);
        await client.tokenRevocation(config, token);
        assert.equal(await status('/api/v1/applications', token), 403);
      });

      it('forgets a revocation once every token it can end has expired (the clean-up timer)', async () => {
        const { clock } = await import('../src/clock.ts');
        const { longestTokenLifetimes } = await import('../src/domain/applications.ts');
        const { deleteExpiredModels } = await import('../src/protocol/adapter.ts');
        const tokens = await tokensFor(web, 'revoke-expiry@example.test');
        await client.tokenRevocation(await configFor(web), tokens.access_token);
        const revocations = () => server.services.db.selectFrom('oidc_models').select('id').where('model', 'like', 'Revoked%').execute();
        assert.ok((await revocations()).length > 0, 'the revocation is stored in the database');
        try {
          clock.advance(((await longestTokenLifetimes(server.services.db)).accessToken + 1) * 1000);
          await deleteExpiredModels(server.services.db);
          assert.equal((await revocations()).length, 0, 'nothing outlives the tokens it ends');
        } finally {
          clock.reset();
        }
      });
    });

    describe('DPoP (RFC 9449)', () => {
      async function dpopTokens(email: string) {
        const keys = await client.randomDPoPKeyPair('ES256');
        const { config, callback, checks } = await authorize(spa, email);
        const DPoP = client.getDPoPHandle(config, keys);
        const tokens = await client.authorizationCodeGrant(config, callback, checks, undefined, { DPoP });
        return { config, keys, DPoP, tokens };
      }

      /** A proof made by hand, so that each of its parts can be got wrong on purpose. */
      async function proof(keys: CryptoKeyPair, accessToken: string, change: { header?: Record<string, unknown>; payload?: Record<string, unknown> } = {}) {
        const payload = { htm: 'GET', htu: `${server.url}/oauth2/v2/user_profile`, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ath: createHash('sha256').update(accessToken).digest('base64url'), ...change.payload };
        const header = { alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(keys.publicKey), ...change.header };
        return new SignJWT(payload).setProtectedHeader(header as { alg: string }).sign(keys.privateKey);
      }

      const profileWith = (accessToken: string, dpopProof?: string, scheme = 'DPoP') =>
        fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: `${scheme} ${accessToken}`, ...(dpopProof ? { dpop: dpopProof } : {}) } });

      async function assertRefused(response: Response, error: string, because: string) {
        assert.equal(response.status, 401, because);
        assert.match(response.headers.get('www-authenticate') ?? '', new RegExp(`^DPoP .*error="${error}"`), because);
      }

      it('serves a DPoP-bound token with a valid proof at the user profiles and the account API', async () => {
        const { config, DPoP, tokens } = await dpopTokens('dpop@example.test');
        assert.equal(tokens.token_type, 'dpop');
        assert.equal(typeof (decodeJwt(tokens.access_token).cnf as { jkt?: string } | undefined)?.jkt, 'string', 'the token is bound to the key');
        const profile = await client.fetchUserInfo(config, tokens.access_token, client.skipSubjectCheck, { DPoP });
        assert.equal(profile.email, 'dpop@example.test');
        for (const path of ['/oauth2/user_profile', '/account_api/v1/roles']) {
          const response = await client.fetchProtectedResource(config, tokens.access_token, new URL(`${server.url}${path}`), 'GET', null, undefined, { DPoP });
          assert.equal(response.status, 200, path);
        }
      });

      it('refuses a DPoP-bound token presented as a Bearer token, without a proof', async () => {
        const { tokens } = await dpopTokens('dpop-bearer@example.test');
        for (const path of ['/oauth2/v2/user_profile', '/oauth2/user_profile', '/account_api/v1/roles']) {
          await assertRefused(await fetch(`${server.url}${path}`, bearer(tokens.access_token)), 'invalid_token', path);
        }
        await assertRefused(await profileWith(tokens.access_token), 'invalid_dpop_proof', 'the DPoP scheme without a proof');
      });

      it('refuses a proof that is replayed, for another request, by another key, stale, or not about this token', async () => {
        const { keys, tokens } = await dpopTokens('dpop-proofs@example.test');
        const token = tokens.access_token;
        const good = await proof(keys, token);
        assert.equal((await profileWith(token, good)).status, 200, 'a valid proof');
        await assertRefused(await profileWith(token, good), 'invalid_dpop_proof', 'the same proof again');
        const query = await proof(keys, token, { payload: { htu: `${server.url}/oauth2/v2/user_profile?x=1#f` } });
        assert.equal((await profileWith(token, query)).status, 200, 'htu is compared without query and fragment');

        const otherKeys = await client.randomDPoPKeyPair('ES256');
        const wrong: Array<[string, Promise<string>]> = [
          ['another URL', proof(keys, token, { payload: { htu: `${server.url}/oauth2/user_profile` } })],
          ['another method', proof(keys, token, { payload: { htm: 'POST' } })],
          ['no ath', proof(keys, token, { payload: { ath: undefined } })],
          ['the ath of another token', proof(keys, token, { payload: { ath: createHash('sha256').update('other').digest('base64url') } })],
          ['issued ten minutes ago', proof(keys, token, { payload: { iat: Math.floor(Date.now() / 1000) - 600 } })],
          ['no jti', proof(keys, token, { payload: { jti: undefined } })],
          ['typ JWT', proof(keys, token, { header: { typ: 'JWT' } })],
          ['another key than the token is bound to', proof(otherKeys, token)],
        ];
        for (const [because, made] of wrong) await assertRefused(await profileWith(token, await made), 'invalid_dpop_proof', because);
        const symmetric = await new SignJWT({ htm: 'GET', htu: `${server.url}/oauth2/v2/user_profile`, iat: Math.floor(Date.now() / 1000), jti: randomUUID() })
          .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: 'oct', k: 'c2VjcmV0' } } as { alg: string })
          .sign(new TextEncoder().encode('secret'));
        await assertRefused(await profileWith(token, symmetric), 'invalid_dpop_proof', 'a symmetric algorithm');
      });

      it('serves the management API to a DPoP-bound machine token only with a proof', async () => {
        const config = await client.discovery(issuer(), BOOTSTRAP.id, undefined, client.ClientSecretPost(BOOTSTRAP.secret), insecure);
        const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
        const tokens = await client.clientCredentialsGrant(config, { audience: `${issuer().origin}/api` }, { DPoP });
        assert.equal(tokens.token_type, 'dpop');
        const url = new URL(`${server.url}/api/v1/applications`);
        assert.equal((await client.fetchProtectedResource(config, tokens.access_token, url, 'GET', null, undefined, { DPoP })).status, 200);
        await assertRefused(await fetch(url, bearer(tokens.access_token)), 'invalid_token', 'as a Bearer token');
        const introspection = await introspect({ id: BOOTSTRAP.id, secret: BOOTSTRAP.secret }, tokens.access_token);
        assert.equal(introspection.token_type, 'DPoP', 'RFC 9449 §6.2');
        assert.deepEqual(introspection.cnf, decodeJwt(tokens.access_token).cnf);
      });

      it('advertises the proof algorithms it checks', async () => {
        const metadata = (await configFor(spa)).serverMetadata();
        const { DPOP_ALGORITHMS } = await import('../src/protocol/dpop-proofs.ts');
        assert.deepEqual(metadata.dpop_signing_alg_values_supported, [...DPOP_ALGORITHMS]);
      });
    });

    describe('pushed authorization requests (RFC 9126)', () => {
      it("keeps Kinde's parameters: audience, org_code, login_hint and prompt=create", async () => {
        const { createApi, setApplicationAuthorization } = await import('../src/domain/apis.ts');
        const { createOrganization } = await import('../src/domain/organizations.ts');
        const db = server.services.db;
        const api = await createApi(db, { name: 'Pushed', audience: 'https://pushed.example.test', scopes: [] });
        await setApplicationAuthorization(db, api.id, web.id, true);
        const organization = await createOrganization(db, { name: 'Pushed org', allowRegistrations: true });

        const config = await client.discovery(issuer(), web.id, undefined, client.ClientSecretBasic(web.secret!), insecure);
        const verifier = client.randomPKCECodeVerifier();
        const url = await client.buildAuthorizationUrlWithPAR(config, {
          redirect_uri: CALLBACK,
          scope: 'openid email',
          code_challenge: await client.calculatePKCECodeChallenge(verifier),
          code_challenge_method: 'S256',
          state: 'pushed',
          audience: 'https://pushed.example.test',
          org_code: organization.code,
          login_hint: 'pushed@example.test',
          prompt: 'create',
        });
        assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri'], 'the parameters travelled by PAR');

        const driver = new FormDriver(server.url);
        assert.equal(await driver.go(url.toString()), undefined);
        assert.match(driver.lastPage, /<h1>Create your account<\/h1>/, 'prompt=create starts at registration');
        assert.match(driver.lastPage, /value="pushed@example.test"/, 'login_hint prefills the email');
        const mail = smtp.nextMessageTo('pushed@example.test');
        await driver.submit({ identifier: 'pushed@example.test' });
        const callback = await driver.submit({ code: codeIn(await mail) });
        const tokens = await client.authorizationCodeGrant(config, callback!, { pkceCodeVerifier: verifier, expectedState: 'pushed' });
        const access = decodeJwt(tokens.access_token);
        assert.deepEqual(access.aud, ['https://pushed.example.test']);
        assert.equal(access.org_code, organization.code);
      });
    });

    describe('discovery (RFC 8414 §2)', () => {
      const sorted = (list: unknown) => [...(list as string[])].sort();

      it('lists every client authentication method that works, at each endpoint', async () => {
        const metadata = (await (await fetch(`${server.url}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
        assert.deepEqual(sorted(metadata.token_endpoint_auth_methods_supported), ['client_secret_basic', 'client_secret_post', 'none']);
        assert.deepEqual(sorted(metadata.revocation_endpoint_auth_methods_supported), ['client_secret_basic', 'client_secret_post', 'none']);
        assert.deepEqual(sorted(metadata.introspection_endpoint_auth_methods_supported), ['client_secret_basic', 'client_secret_post']);

        const tokens = await tokensFor(web, 'discovery@example.test');
        const basic = await client.discovery(issuer(), web.id, undefined, client.ClientSecretBasic(web.secret!), insecure);
        assert.equal((await client.tokenIntrospection(basic, tokens.access_token)).active, true, 'client_secret_basic at introspection');
        assert.equal((await client.tokenIntrospection(basic, tokens.refresh_token!)).active, true, 'also for a refresh token');
        assert.equal((await client.tokenIntrospection(await configFor(web), tokens.access_token)).active, true, 'client_secret_post');
        await client.tokenRevocation(basic, tokens.refresh_token!);
        assert.equal((await client.tokenIntrospection(basic, tokens.refresh_token!)).active, false, 'client_secret_basic at revocation');
      });

      it('refuses introspection to a public application, which cannot authenticate (RFC 7662 §2.1)', async () => {
        const { config, callback, checks } = await authorize(spa, 'discovery-public@example.test');
        const tokens = await client.authorizationCodeGrant(config, callback, checks);
        for (const token of [tokens.access_token, tokens.refresh_token!]) {
          const response = await fetch(`${server.url}/oauth2/introspect`, { method: 'POST', body: new URLSearchParams({ token, client_id: spa.id }) });
          assert.equal(response.status, 401);
          assert.equal(((await response.json()) as { error: string }).error, 'invalid_client');
        }
      });
    });

    describe('ID tokens', () => {
      it("name the application they were issued to in azp, as Kinde's do", async () => {
        for (const app of [web, spa]) {
          const tokens = await tokensFor(app, `azp-${app.id}@example.test`);
          assert.equal(tokens.claims()?.azp, app.id);
        }
      });
    });
  });
}
