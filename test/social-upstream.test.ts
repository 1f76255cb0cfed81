import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, importSPKI, jwtVerify, SignJWT } from 'jose';
import type { SocialConnection } from '../src/domain/social/connections.ts';
import { beginSocialSignIn, completeSocialSignIn, SocialSignInError, type SocialSignInFailure } from '../src/domain/social/upstream.ts';
import { approving, basicCredentials, type FakeApi, type FakeOidcProvider, followToCallback, s256, startFakeApi, startFakeOidcProvider } from './support/fake-providers.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/login/callback';
const network = { allowPrivateNetwork: true };

const refusedAs = (kind: SocialSignInFailure) => (error: unknown) => {
  assert.ok(error instanceof SocialSignInError, String(error));
  assert.equal(error.kind, kind, error.message);
  assert.equal(error.cause, undefined, 'no cause: openid-client errors hold tokens');
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

describe('social sign-in through OAuth 2.0 profile APIs (fakes of GitHub and X)', () => {
  let github: FakeApi;
  let x: FakeApi;
  const issued = new Map<string, URLSearchParams>();
  let emails: unknown = [];

  before(async () => {
    github = await startFakeApi({
      'GET /login/oauth/authorize': approving(issued),
      'POST /login/oauth/access_token': ({ body }) => {
        const form = new URLSearchParams(body);
        const asked = issued.get(form.get('code')!);
        if (!asked || form.get('client_secret') !== 'github-secret' || s256(form.get('code_verifier') ?? '') !== asked.get('code_challenge')) return [200, { error: 'bad_verification_code' }];
        return [200, { access_token: 'gho_token', token_type: 'bearer', scope: 'read:user,user:email' }];
      },
      'GET /user': ({ headers }) => (headers.authorization === 'Bearer gho_token' && headers['user-agent'] ? [200, { id: 583231, login: 'octocat', name: 'The Octocat', avatar_url: 'https://avatars.example/583231' }] : [401, { message: 'Bad credentials' }]),
      'GET /user/emails': ({ headers }) => (headers.authorization === 'Bearer gho_token' ? [200, emails] : [401, { message: 'Bad credentials' }]),
    });
    x = await startFakeApi({
      'GET /i/oauth2/authorize': approving(issued),
      'POST /2/oauth2/token': ({ body, headers }) => {
        const form = new URLSearchParams(body);
        const asked = issued.get(form.get('code')!);
        if (!asked || basicCredentials(headers.authorization) !== 'x-client:x-secret' || s256(form.get('code_verifier') ?? '') !== asked.get('code_challenge')) return [400, { error: 'invalid_request' }];
        return [200, { token_type: 'bearer', access_token: 'x-token', expires_in: 7200, scope: 'users.read tweet.read' }];
      },
      'GET /2/users/me': ({ headers, url }) =>
        headers.authorization === 'Bearer x-token' && url.searchParams.get('user.fields') === 'profile_image_url'
          ? [200, { data: { id: '2244994945', name: 'X Developers', username: 'XDevelopers', profile_image_url: 'https://pbs.example/x.jpg' } }]
          : [401, { title: 'Unauthorized' }],
    });
  });
  after(async () => {
    await github?.close();
    await x?.close();
  });

  const githubConnection = () =>
    connection('oauth2:github', {
      client_id: 'github-client',
      client_secret: 'github-secret',
      endpoints: { authorization_endpoint: `${github.origin}/login/oauth/authorize`, token_endpoint: `${github.origin}/login/oauth/access_token`, userinfo_endpoint: `${github.origin}/user`, emails_endpoint: `${github.origin}/user/emails` },
      // GitHub's own name for a login hint is `login`.
      upstream_params: { login: { alias: 'login_hint' }, allow_signup: { value: 'false' } },
    });

  it('signs a person in with GitHub: the profile from /user, the primary verified email from /user/emails', async () => {
    emails = [
      { email: 'octo@other.example', primary: false, verified: true },
      { email: 'octocat@github.example', primary: true, verified: true },
    ];
    const profile = await signIn(githubConnection());
    assert.deepEqual(profile, {
      subject: '583231',
      email: 'octocat@github.example',
      emailVerified: true,
      givenName: 'The',
      familyName: 'Octocat',
      name: 'The Octocat',
      picture: 'https://avatars.example/583231',
      username: 'octocat',
    });
  });

  it('takes no email from GitHub when the primary one is unverified', async () => {
    emails = [
      { email: 'octo@other.example', primary: false, verified: true },
      { email: 'octocat@github.example', primary: true, verified: false },
    ];
    const profile = await signIn(githubConnection());
    assert.equal(profile.email, undefined);
    assert.equal(profile.emailVerified, false);
  });

  it('sends GitHub the upstream params: a fixed value and the login hint under GitHub\'s name', async () => {
    const begun = await beginSocialSignIn(githubConnection(), { redirectUri: REDIRECT_URI, upstreamParams: { login_hint: 'octocat' }, ...network });
    await followToCallback(begun.authorizationUrl, REDIRECT_URI);
    const asked = github.requests.filter((r) => r.url.pathname === '/login/oauth/authorize').at(-1)!.url.searchParams;
    assert.equal(asked.get('login'), 'octocat');
    assert.equal(asked.get('allow_signup'), 'false');
    assert.equal(asked.get('scope'), 'read:user user:email');
  });

  it('calls a provider that refuses the code a provider error', async () => {
    await assert.rejects(signIn(githubConnection(), (callback) => callback.set('code', 'stolen')), refusedAs('provider_error'));
  });

  it('signs a person in with X (Basic client authentication, PKCE), with no email', async () => {
    const profile = await signIn(
      connection('oauth2:twitter', {
        client_id: 'x-client',
        client_secret: 'x-secret',
        endpoints: { authorization_endpoint: `${x.origin}/i/oauth2/authorize`, token_endpoint: `${x.origin}/2/oauth2/token`, userinfo_endpoint: `${x.origin}/2/users/me?user.fields=profile_image_url` },
      }),
    );
    assert.deepEqual(profile, {
      subject: '2244994945',
      email: undefined,
      emailVerified: false,
      givenName: 'X',
      familyName: 'Developers',
      name: 'X Developers',
      picture: 'https://pbs.example/x.jpg',
      username: 'XDevelopers',
    });
  });
});

describe('Sign in with Apple (a fake of Apple\'s authorization and token endpoints)', () => {
  const appleKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issued = new Map<string, URLSearchParams>();
  const secrets: string[] = [];
  let apple: FakeApi;

  before(async () => {
    const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'apple-test', use: 'sig', alg: 'RS256' };
    const teamKey = await importSPKI(appleKey.publicKey.export({ format: 'pem', type: 'spki' }).toString(), 'ES256');
    apple = await startFakeApi({
      'GET /auth/authorize': approving(issued),
      'GET /auth/keys': () => [200, { keys: [publicJwk] }],
      'POST /auth/token': async ({ body }) => {
        const form = new URLSearchParams(body);
        const clientId = form.get('client_id')!;
        const secret = form.get('client_secret') ?? '';
        secrets.push(secret);
        // Apple's check of the client secret: ES256 by the team's key, for Apple, about this client.
        try {
          await jwtVerify(secret, teamKey, { issuer: 'TEAM123456', subject: clientId, audience: 'https://appleid.apple.com', algorithms: ['ES256'] });
        } catch {
          return [400, { error: 'invalid_client' }];
        }
        const asked = issued.get(form.get('code')!);
        if (!asked) return [400, { error: 'invalid_grant' }];
        const idToken = await new SignJWT({ email: 'tim@privaterelay.example', email_verified: 'true', is_private_email: 'true', nonce: asked.get('nonce')! })
          .setProtectedHeader({ alg: 'RS256', kid: 'apple-test' })
          .setIssuer(apple.origin)
          .setAudience(clientId)
          .setSubject('001234.abcdef.1234')
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(signing.privateKey);
        return [200, { access_token: 'apple-at', token_type: 'Bearer', expires_in: 3600, id_token: idToken }];
      },
    });
  });
  after(async () => apple?.close());

  const appleConnection = (privateKey: string) =>
    connection('oauth2:apple', {
      client_id: 'com.example.web',
      team_id: 'TEAM123456',
      key_id: 'KEY1234567',
      private_key: privateKey,
      endpoints: { issuer: apple.origin, authorization_endpoint: `${apple.origin}/auth/authorize`, token_endpoint: `${apple.origin}/auth/token`, jwks_uri: `${apple.origin}/auth/keys` },
    });

  /** What Apple POSTs to the callback (form_post): code and state, and at the first sign-in the name as `user`. */
  async function applePost(conn: SocialConnection, user?: unknown) {
    const begun = await beginSocialSignIn(conn, { redirectUri: REDIRECT_URI, ...network });
    const asked = new URL(begun.authorizationUrl).searchParams;
    assert.equal(asked.get('response_mode'), 'form_post');
    assert.equal(asked.get('scope'), 'openid name email');
    assert.equal(asked.get('code_challenge'), null, 'no PKCE for Apple');
    const callback = (await followToCallback(begun.authorizationUrl, REDIRECT_URI)).searchParams;
    const form = new URLSearchParams({ code: callback.get('code')!, state: callback.get('state')! });
    if (user) form.set('user', JSON.stringify(user));
    return completeSocialSignIn(conn, form, { ...begun, redirectUri: REDIRECT_URI, ...network });
  }

  it('signs in with a client secret made from the connection\'s key (ES256 JWT), taking the name from the first sign-in\'s `user` field', async () => {
    const conn = appleConnection(appleKey.privateKey.export({ format: 'pem', type: 'pkcs8' }).toString());
    const profile = await applePost(conn, { name: { firstName: 'Tim', lastName: 'Apple' }, email: 'tim@privaterelay.example' });
    assert.deepEqual(profile, {
      subject: '001234.abcdef.1234',
      email: 'tim@privaterelay.example',
      emailVerified: true,
      givenName: 'Tim',
      familyName: 'Apple',
      name: 'Tim Apple',
      picture: undefined,
      username: undefined,
    });
    const { payload, protectedHeader } = decodeSecret(secrets.at(-1)!);
    assert.equal(protectedHeader.kid, 'KEY1234567');
    assert.ok(payload.exp - payload.iat <= 300, 'short-lived');

    const later = await applePost(conn);
    assert.equal(later.subject, '001234.abcdef.1234');
    assert.equal(later.name, undefined, 'no name after the first sign-in');
  });

  it('is refused by Apple when the key is not the team\'s', async () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'pem', type: 'pkcs8' }).toString();
    await assert.rejects(applePost(appleConnection(other)), refusedAs('provider_error'));
  });
});

function decodeSecret(jwt: string): { protectedHeader: { kid?: string }; payload: { exp: number; iat: number } } {
  const [header, payload] = jwt.split('.');
  return { protectedHeader: JSON.parse(Buffer.from(header!, 'base64url').toString()), payload: JSON.parse(Buffer.from(payload!, 'base64url').toString()) };
}

describe('Twitch (a fake that answers as Twitch does)', () => {
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const issued = new Map<string, URLSearchParams>();
  let twitch: FakeApi;

  before(async () => {
    const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'twitch-test', use: 'sig', alg: 'RS256' };
    twitch = await startFakeApi({
      'GET /oauth2/authorize': approving(issued),
      'GET /oauth2/keys': () => [200, { keys: [publicJwk] }],
      'POST /oauth2/token': async ({ body }) => {
        const form = new URLSearchParams(body);
        const asked = issued.get(form.get('code')!);
        if (!asked || form.get('client_secret') !== 'twitch-secret') return [400, { status: 400, message: 'Invalid authorization code' }];
        // The ID token holds email only because the `claims` parameter asked for it.
        const wanted = Object.keys(JSON.parse(asked.get('claims') ?? '{}').id_token ?? {});
        const claims = Object.fromEntries(Object.entries({ email: 'streamer@example.com', email_verified: true, preferred_username: 'streamer' }).filter(([name]) => wanted.includes(name)));
        const idToken = await new SignJWT({ ...claims, nonce: asked.get('nonce')! })
          .setProtectedHeader({ alg: 'RS256', kid: 'twitch-test' })
          .setIssuer(`${twitch.origin}/oauth2`)
          .setAudience('twitch-client')
          .setSubject('713936733')
          .setIssuedAt()
          .setExpirationTime('10m')
          .sign(signing.privateKey);
        // Twitch sends `scope` as an array (its OIDC guide's examples), not RFC 6749's string.
        return [200, { access_token: 'tw-at', refresh_token: 'tw-rt', expires_in: 14_000, scope: ['openid', 'user:read:email'], token_type: 'bearer', id_token: idToken }];
      },
    });
  });
  after(async () => twitch?.close());

  it('gets the email in the ID token through the claims parameter, and takes the scope array Twitch answers', async () => {
    const profile = await signIn(
      connection('oauth2:twitch', {
        client_id: 'twitch-client',
        client_secret: 'twitch-secret',
        endpoints: { issuer: `${twitch.origin}/oauth2`, authorization_endpoint: `${twitch.origin}/oauth2/authorize`, token_endpoint: `${twitch.origin}/oauth2/token`, jwks_uri: `${twitch.origin}/oauth2/keys` },
      }),
    );
    assert.equal(profile.subject, '713936733');
    assert.equal(profile.email, 'streamer@example.com');
    assert.equal(profile.emailVerified, true);
    assert.equal(profile.username, 'streamer');
  });
});
