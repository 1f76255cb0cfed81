import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { socialProvider, SOCIAL_PROVIDER_STRATEGIES, type SocialProfile } from '../src/domain/social/providers.ts';
import { loadConfig } from '../src/config.ts';
import { providerCallsMayReachPrivateNetwork, resolveUpstreamParams } from '../src/domain/social/upstream.ts';
import { strategyNamed } from '../src/domain/strategies.ts';

const SOCIAL = ['oauth2:apple', 'oauth2:bitbucket', 'oauth2:discord', 'oauth2:facebook', 'oauth2:github', 'oauth2:gitlab', 'oauth2:google', 'oauth2:linkedin', 'oauth2:microsoft', 'oauth2:roblox', 'oauth2:slack', 'oauth2:twitch', 'oauth2:twitter', 'oauth2:xero'];

describe('the social provider catalogue', () => {
  it('has one provider per social strategy of the registry, named as each brands itself', () => {
    assert.deepEqual([...SOCIAL_PROVIDER_STRATEGIES].sort(), SOCIAL);
    for (const name of SOCIAL) assert.equal(strategyNamed(name)?.family, 'social', name);
    assert.equal(strategyNamed('oauth2:twitter')?.displayName, 'X');
    assert.equal(strategyNamed('oauth2:github')?.displayName, 'GitHub');
  });

  it('talks https only, and OIDC providers have an issuer and a JWKS', () => {
    for (const name of SOCIAL) {
      const provider = socialProvider(name)!;
      for (const url of Object.values(provider.endpoints)) assert.match(url as string, /^https:\/\//, `${name}: ${url}`);
      if (provider.protocol === 'oidc') {
        assert.ok(provider.endpoints.issuer && provider.endpoints.jwks_uri, name);
        assert.ok(provider.scopes.includes('openid'), name);
      } else assert.ok(provider.endpoints.userinfo_endpoint, name);
    }
  });

  it('sends LinkedIn no nonce (its ID tokens never carry one), and every other OpenID provider one', async () => {
    const { beginSocialSignIn } = await import('../src/domain/social/upstream.ts');
    for (const name of SOCIAL.filter((strategy) => socialProvider(strategy)!.protocol === 'oidc')) {
      const begun = await beginSocialSignIn({ id: 'conn_x', strategy: name, isTrusted: false, options: { client_id: 'id', client_secret: 'secret' } }, { redirectUri: 'https://auth.example.com/login/callback', allowPrivateNetwork: false });
      const sent = new URL(begun.authorizationUrl).searchParams.get('nonce');
      if (name === 'oauth2:linkedin') assert.equal(sent, null, name);
      else assert.equal(sent, begun.nonce, name);
      assert.equal(new URL(begun.authorizationUrl).origin, new URL(socialProvider(name)!.endpoints.authorization_endpoint).origin, name);
    }
  });

  it('asks Apple for form_post and Twitch for email in the ID token', () => {
    assert.equal(socialProvider('oauth2:apple')?.authorizationParams?.response_mode, 'form_post');
    assert.deepEqual(JSON.parse(socialProvider('oauth2:twitch')!.authorizationParams!.claims!).id_token.email, null);
  });
});

/** One row per provider: what it answers → the profile (emails verified only when the provider says so). */
const rows: Array<{ strategy: string; answers: Parameters<NonNullable<ReturnType<typeof socialProvider>>['toProfile']>[0]; profile: Partial<SocialProfile> }> = [
  {
    strategy: 'oauth2:bitbucket',
    answers: {
      profile: { uuid: '{c5a0}', display_name: 'Ann Bit', username: 'annbit', links: { avatar: { href: 'https://bb.example/a.png' } } },
      emails: { values: [{ email: 'old@example.com', is_primary: false, is_confirmed: true }, { email: 'ann@example.com', is_primary: true, is_confirmed: true }] },
      callback: {},
    },
    profile: { subject: '{c5a0}', email: 'ann@example.com', emailVerified: true, givenName: 'Ann', familyName: 'Bit', username: 'annbit', picture: 'https://bb.example/a.png' },
  },
  {
    strategy: 'oauth2:bitbucket',
    answers: { profile: { uuid: '{c5a1}' }, emails: { values: [{ email: 'ann@example.com', is_primary: true, is_confirmed: false }] }, callback: {} },
    profile: { subject: '{c5a1}', email: undefined, emailVerified: false },
  },
  {
    strategy: 'oauth2:discord',
    answers: { profile: { id: '80351110224678912', username: 'nelly', global_name: 'Nelly', email: 'nelly@example.com', verified: true, avatar: '8342729096ea3675442027381ff50dfe' }, callback: {} },
    profile: { subject: '80351110224678912', email: 'nelly@example.com', emailVerified: true, name: 'Nelly', username: 'nelly', picture: 'https://cdn.discordapp.com/avatars/80351110224678912/8342729096ea3675442027381ff50dfe.png' },
  },
  {
    strategy: 'oauth2:discord',
    answers: { profile: { id: '1', username: 'u', email: 'u@example.com', verified: false }, callback: {} },
    profile: { subject: '1', email: 'u@example.com', emailVerified: false },
  },
  {
    strategy: 'oauth2:facebook',
    answers: { profile: { id: '10158', name: 'Mark Z', first_name: 'Mark', last_name: 'Z', email: 'mark@example.com', picture: { data: { url: 'https://fb.example/p.jpg' } } }, callback: {} },
    profile: { subject: '10158', email: 'mark@example.com', emailVerified: false, givenName: 'Mark', familyName: 'Z', name: 'Mark Z', picture: 'https://fb.example/p.jpg' },
  },
  {
    strategy: 'oauth2:linkedin',
    answers: { claims: { sub: 'li-1', email: 'l@example.com', email_verified: true, given_name: 'Lin', family_name: 'Ked', name: 'Lin Ked', picture: 'https://li.example/p' }, callback: {} },
    profile: { subject: 'li-1', email: 'l@example.com', emailVerified: true, givenName: 'Lin', familyName: 'Ked' },
  },
  {
    strategy: 'oauth2:microsoft',
    answers: { claims: { sub: 'ms-work', tid: '72f988bf-86f1-41af-91ab-2d7cd011db47', email: 'ceo@victim.example', name: 'Not The CEO' }, callback: {} },
    profile: { subject: 'ms-work', email: 'ceo@victim.example', emailVerified: false },
  },
  {
    strategy: 'oauth2:slack',
    answers: { claims: { sub: 'U0R7', email: 's@example.com', email_verified: true, name: 'Sla Ck', given_name: 'Sla', family_name: 'Ck', picture: 'https://slack.example/p' }, callback: {} },
    profile: { subject: 'U0R7', email: 's@example.com', emailVerified: true, name: 'Sla Ck' },
  },
  {
    strategy: 'oauth2:twitch',
    answers: { claims: { sub: '713936733', email: 't@example.com', email_verified: true, preferred_username: 'twitchy', picture: 'https://twitch.example/p' }, callback: {} },
    profile: { subject: '713936733', email: 't@example.com', emailVerified: true, name: 'twitchy', username: 'twitchy' },
  },
  {
    strategy: 'oauth2:xero',
    answers: { claims: { sub: 'xero-1', email: 'x@example.com', given_name: 'Xe', family_name: 'Ro' }, callback: {} },
    profile: { subject: 'xero-1', email: 'x@example.com', emailVerified: false, givenName: 'Xe', familyName: 'Ro' },
  },
  {
    strategy: 'oauth2:gitlab',
    answers: { claims: { sub: '42', email: 'g@example.com', email_verified: true, name: 'Git Lab', nickname: 'gl' }, callback: {} },
    profile: { subject: '42', email: 'g@example.com', emailVerified: true, givenName: 'Git', familyName: 'Lab', username: 'gl' },
  },
  {
    strategy: 'oauth2:roblox',
    answers: { claims: { sub: '3141', name: 'Rob Lox', preferred_username: 'roblox_fan', picture: 'https://rbx.example/p' }, callback: {} },
    profile: { subject: '3141', email: undefined, emailVerified: false, username: 'roblox_fan', picture: 'https://rbx.example/p' },
  },
  {
    strategy: 'oauth2:google',
    answers: { claims: { sub: 'g-1', email: 'unverified@example.com', email_verified: false }, callback: {} },
    profile: { subject: 'g-1', email: 'unverified@example.com', emailVerified: false },
  },
];

describe('profile mapping, one row per provider answer', () => {
  for (const [index, row] of rows.entries()) {
    it(`${row.strategy} #${index}: ${JSON.stringify(row.profile)}`, () => {
      const profile = socialProvider(row.strategy)!.toProfile(row.answers);
      for (const [key, value] of Object.entries(row.profile)) assert.deepEqual(profile[key as keyof SocialProfile], value, key);
    });
  }

  it('refuses an answer without a subject', () => {
    assert.throws(() => socialProvider('oauth2:github')!.toProfile({ profile: { login: 'nobody' }, emails: [], callback: {} }), /did not say who/);
  });
});

describe('upstream params (section 009)', () => {
  const table: Array<[Parameters<typeof resolveUpstreamParams>, Record<string, string>]> = [
    [[{ prompt: { value: 'select_account' } }, {}, undefined], { prompt: 'select_account' }],
    [[{ login_hint: { alias: 'login_hint' } }, { login_hint: 'hello@example.com' }, undefined], { login_hint: 'hello@example.com' }],
    [[{ username: { alias: 'login_hint' } }, { login_hint: 'from-url@example.com' }, 'typed@example.com'], { username: 'typed@example.com' }],
    [[{ prompt: { value: 'login' }, username: { alias: 'login_hint' } }, {}, 'hello@example.com'], { prompt: 'login', username: 'hello@example.com' }],
    [[{ prompt: { alias: 'prompt' } }, {}, undefined], {}],
    [[undefined, { prompt: 'login' }, undefined], {}],
  ];
  for (const [args, sent] of table) {
    it(`${JSON.stringify(args)} → ${JSON.stringify(sent)}`, () => assert.deepEqual(resolveUpstreamParams(...args), sent));
  }
});

describe('which provider calls may reach the private network', () => {
  const table: Array<[Record<string, string>, boolean]> = [
    [{ ISSUER_URL: 'https://auth.example.com' }, false],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_ALLOW_PRIVATE_NETWORK: 'true' }, true],
    [{ ISSUER_URL: 'https://auth.example.com', GATEHOUSE_ALLOW_PRIVATE_NETWORK: 'false' }, false],
    [{}, true],
    [{ ISSUER_URL: 'http://127.0.0.1:3000' }, true],
  ];
  for (const [env, allowed] of table) {
    it(`${JSON.stringify(env)} → ${allowed ? 'allowed' : 'refused'}`, () => assert.equal(providerCallsMayReachPrivateNetwork(loadConfig(env)), allowed));
  }
});
