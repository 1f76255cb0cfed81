import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, importSPKI, jwtVerify, SignJWT } from 'jose';
import type { SocialConnection } from '../src/domain/social/connections.ts';
import { beginSocialSignIn, completeSocialSignIn, SocialSignInError, type SocialSignInFailure } from '../src/domain/social/upstream.ts';
import { type FakeApi, type FakeOidcProvider, followToCallback, startFakeApi, startFakeOidcProvider } from './support/fake-providers.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/login/callback';
const network = { allowPrivateNetwork: true };

const refusedAs = (kind: SocialSignInFailure) => (error: unknown) => {
  assert.ok(error instanceof SocialSignInError, String(error));
  assert.equal(error.kind, kind, error.message);
  return true;
};

function connection(strategy: string, options: SocialConnection['options']): SocialConnection {
  return { id: `conn_${randomUUID().replaceAll('-', '')}`, strategy, isTrusted: false, options };
}

/** The whole round trip: begin, the browser at the provider, the callback, complete. */
async function signIn(conn: SocialConnection, tamper: (callback: URLSearchParams, begun: { nonce?: string | undefined }) => void = () => {}) {
  const begun = await beginSocialSignIn(conn, { redirectUri: REDIRECT_URI, ...network });
  const callback = (await followToCallback(begun.authorizationUrl, REDIRECT_URI)).searchParams;
  const expected = { ...begun };
  tamper(callback, expected);
  return completeSocialSignIn(conn, callback, { state: expected.state, nonce: expected.nonce, codeVerifier: expected.codeVerifier, redirectUri: REDIRECT_URI, ...network });
}

describe('social sign-in through OpenID providers (oidc-provider as Google and Microsoft)', () => {
  let google: FakeOidcProvider;
  let microsoft: FakeOidcProvider;
  const client = { client_id: 'gatehouse-at-google', client_secret: 'google-secret-0123456789', redirect_uris: [REDIRECT_URI] };

  before(async () => {
    google = await startFakeOidcProvider({
      client,
      account: { sub: '1098765', email: 'ada@gmail.example', email_verified: true, given_name: 'Ada', family_name: 'Lovelace', name: 'Ada Lovelace', picture: 'https://example.com/ada.png' },
    });
    microsoft = await startFakeOidcProvider({
      client: { ...client, client_id: 'gatehouse-at-microsoft' },
      account: { sub: 'AAAAms-pairwise', email: 'grace@outlook.example', email_verified: false, name: 'Grace Hopper', preferred_username: 'grace@outlook.example', tid: '9188040d-6c67-4c5b-b112-36a304b66dad' },
    });
  });
  after(async () => {
    await google?.close();
    await microsoft?.close();
  });

  const googleConnection = (endpoints: Record<string, string> = {}) =>
    connection('oauth2:google', {
      client_id: client.client_id,
      client_secret: client.client_secret,
      endpoints: { issuer: google.issuer, authorization_endpoint: `${google.issuer}/auth`, token_endpoint: `${google.issuer}/token`, jwks_uri: `${google.issuer}/jwks`, ...endpoints },
      // Google takes prompt=select_account (section 009); the fake knows only OIDC's own prompts.
      upstream_params: { prompt: { value: 'login' }, login_hint: { alias: 'login_hint' } },
    });

  it('signs a person in with Google: code flow with state, nonce and PKCE, the ID token checked, the profile mapped', async () => {
    const profile = await signIn(googleConnection());
    assert.deepEqual(profile, {
      subject: '1098765',
      email: 'ada@gmail.example',
      emailVerified: true,
      givenName: 'Ada',
      familyName: 'Lovelace',
      name: 'Ada Lovelace',
      picture: 'https://example.com/ada.png',
      username: undefined,
    });
    const asked = google.lastAuthorization!;
    assert.equal(asked.get('scope'), 'openid email profile');
    assert.equal(asked.get('code_challenge_method'), 'S256');
    assert.ok(asked.get('nonce') && asked.get('state'));
  });

  it('sends upstream params: values as configured, aliases from the authorization request or the email typed', async () => {
    const begun = await beginSocialSignIn(googleConnection(), { redirectUri: REDIRECT_URI, upstreamParams: { login_hint: 'from-request@example.com' }, loginHint: 'typed@example.com', ...network });
    await followToCallback(begun.authorizationUrl, REDIRECT_URI);
    assert.equal(google.lastAuthorization?.get('prompt'), 'login');
    assert.equal(google.lastAuthorization?.get('login_hint'), 'typed@example.com');
  });

  it('signs a person in with Microsoft (another issuer); a personal account\'s email counts as verified', async () => {
    const profile = await signIn(
      connection('oauth2:microsoft', {
        client_id: 'gatehouse-at-microsoft',
        client_secret: client.client_secret,
        endpoints: { issuer: microsoft.issuer, authorization_endpoint: `${microsoft.issuer}/auth`, token_endpoint: `${microsoft.issuer}/token`, jwks_uri: `${microsoft.issuer}/jwks` },
      }),
    );
    assert.equal(profile.subject, 'AAAAms-pairwise');
    assert.equal(profile.email, 'grace@outlook.example');
    assert.equal(profile.emailVerified, true);
    assert.equal(profile.name, 'Grace Hopper');
  });

  it('refuses an ID token whose nonce is not this flow\'s', async () => {
    await assert.rejects(signIn(googleConnection(), (_callback, expected) => (expected.nonce = 'another-flows-nonce')), refusedAs('invalid_id_token'));
  });

  it('refuses an ID token from another issuer', async () => {
    // Microsoft's keys and tokens, presented as Google's: the `iss` response parameter (RFC 9207)
    // gives it away first; without it, the ID token's own `iss` does.
    const impostor = googleConnection({ issuer: microsoft.issuer });
    await assert.rejects(signIn(impostor), refusedAs('provider_error'));
    await assert.rejects(signIn(impostor, (callback) => callback.delete('iss')), refusedAs('invalid_id_token'));
  });

  it('refuses an ID token not signed by a key of the provider\'s JWKS', async () => {
    await assert.rejects(signIn(googleConnection({ jwks_uri: `${microsoft.issuer}/jwks` })), refusedAs('invalid_id_token'));
  });

  it('refuses a callback with another state, and names a cancelled sign-in access_denied', async () => {
    await assert.rejects(signIn(googleConnection(), (callback) => callback.set('state', 'forged')), refusedAs('bad_state'));
    const conn = googleConnection();
    const begun = await beginSocialSignIn(conn, { redirectUri: REDIRECT_URI, ...network });
    const cancelled = new URLSearchParams({ error: 'access_denied', state: begun.state });
    await assert.rejects(completeSocialSignIn(conn, cancelled, { ...begun, redirectUri: REDIRECT_URI, ...network }), refusedAs('access_denied'));
  });

  it('refuses a provider on the private network unless allowed', async () => {
    const conn = googleConnection();
    const begun = await beginSocialSignIn(conn, { redirectUri: REDIRECT_URI, ...network });
    const callback = (await followToCallback(begun.authorizationUrl, REDIRECT_URI)).searchParams;
    await assert.rejects(completeSocialSignIn(conn, callback, { ...begun, redirectUri: REDIRECT_URI, allowPrivateNetwork: false }), refusedAs('provider_error'));
  });
});
