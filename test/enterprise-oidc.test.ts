import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { EnterpriseConnection } from '../src/domain/enterprise/connections.ts';
import { assertEntraTenant, beginEnterpriseOidcSignIn, completeEnterpriseOidcSignIn } from '../src/domain/enterprise/oidc.ts';
import type { EnterpriseOptions } from '../src/domain/enterprise/options.ts';
import { SocialSignInError, type SocialSignInFailure } from '../src/domain/social/upstream.ts';
import { type FakeOidcProvider, followToCallback, startFakeOidcProvider } from './support/fake-providers.ts';

const REDIRECT_URI = 'http://127.0.0.1:9/login/callback';
const network = { allowPrivateNetwork: true };
const ACME_TENANT = '5f0a7c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';
const OTHER_TENANT = 'a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d';

const refusedAs = (kind: SocialSignInFailure) => (error: unknown) => {
  assert.ok(error instanceof SocialSignInError, String(error));
  assert.equal(error.kind, kind, error.message);
  return true;
};

function connection(strategy: string, options: EnterpriseOptions): EnterpriseConnection {
  return { id: `conn_${randomUUID().replaceAll('-', '')}`, strategy, isTrusted: false, organizationCode: null, options };
}

async function signIn(conn: EnterpriseConnection, tamper: (callback: URLSearchParams) => void = () => {}) {
  const begun = await beginEnterpriseOidcSignIn(conn, { redirectUri: REDIRECT_URI, ...network });
  const callback = (await followToCallback(begun.authorizationUrl, REDIRECT_URI)).searchParams;
  tamper(callback);
  return completeEnterpriseOidcSignIn(conn, callback, { state: begun.state, nonce: begun.nonce, codeVerifier: begun.codeVerifier, redirectUri: REDIRECT_URI, ...network });
}

describe('Entra ID and custom OpenID Connect enterprise connections (oidc-provider as the IdP)', () => {
  const client = { client_id: 'gatehouse-at-entra', client_secret: 'entra-secret-0123456789', redirect_uris: [REDIRECT_URI] };
  let acme: FakeOidcProvider;
  let other: FakeOidcProvider;
  let keycloak: FakeOidcProvider;

  before(async () => {
    acme = await startFakeOidcProvider({ client, account: { sub: 'entra-oid-1', tid: ACME_TENANT, email: 'ada@acme.example', given_name: 'Ada', family_name: 'Lovelace', groups: ['g-engineering', 'g-admins'] } });
    other = await startFakeOidcProvider({ client, account: { sub: 'entra-oid-2', tid: OTHER_TENANT, email: 'eve@other.example', groups: ['g-x'] } });
    keycloak = await startFakeOidcProvider({ client: { ...client, client_id: 'gatehouse-at-keycloak' }, account: { sub: 'kc-7', email: 'grace@corp.example', email_verified: true, given_name: 'Grace', family_name: 'Hopper', groups: ['staff'] } });
  });
  after(async () => {
    await acme?.close();
    await other?.close();
    await keycloak?.close();
  });

  const endpointsOf = (fake: FakeOidcProvider) => ({ issuer: fake.issuer, authorization_endpoint: `${fake.issuer}/auth`, token_endpoint: `${fake.issuer}/token`, jwks_uri: `${fake.issuer}/jwks` });
  const entra = (fake: FakeOidcProvider, options: EnterpriseOptions) => connection('oauth2:azure_ad', { client_id: client.client_id, client_secret: client.client_secret, endpoints: endpointsOf(fake), ...options });

  it('signs a person of an allowed tenant in through the common endpoint, with their groups for ext_groups', async () => {
    const profile = await signIn(entra(acme, { is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT], is_retrieve_provider_user_groups: true }));
    assert.equal(profile.subject, 'entra-oid-1');
    assert.equal(profile.email, 'ada@acme.example');
    assert.equal(profile.email_verified, false, "Entra's email counts as verified only with xms_edov");
    assert.equal(profile.given_name, 'Ada');
    assert.deepEqual(profile.ext_groups, ['g-engineering', 'g-admins']);
  });

  it('leaves groups out unless the connection retrieves them', async () => {
    const profile = await signIn(entra(acme, { entra_id_domain: ACME_TENANT }));
    assert.equal(profile.ext_groups, undefined);
  });

  it('refuses a person of a tenant the common endpoint connection does not allow', async () => {
    await assert.rejects(signIn(entra(other, { is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT] })), refusedAs('wrong_tenant'));
  });

  it('refuses a person of another tenant on a tenant-specific connection', async () => {
    await assert.rejects(signIn(entra(other, { entra_id_domain: ACME_TENANT })), refusedAs('wrong_tenant'));
  });

  it('sends the browser to the tenant\'s authority, with PKCE and a nonce', async () => {
    const begun = await beginEnterpriseOidcSignIn(connection('oauth2:azure_ad', { client_id: 'x', client_secret: 'y', entra_id_domain: 'acme.onmicrosoft.com' }), { redirectUri: REDIRECT_URI, ...network });
    const url = new URL(begun.authorizationUrl);
    assert.equal(`${url.origin}${url.pathname}`, 'https://login.microsoftonline.com/acme.onmicrosoft.com/oauth2/v2.0/authorize');
    assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
    assert.ok(url.searchParams.get('nonce'));
    const common = await beginEnterpriseOidcSignIn(connection('oauth2:azure_ad', { client_id: 'x', client_secret: 'y', is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT] }), { redirectUri: REDIRECT_URI, ...network });
    assert.ok(common.authorizationUrl.startsWith('https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize?'));
  });

  describe('the tenant rule, as a table', () => {
    const rows: [string, EnterpriseOptions, Record<string, unknown>, boolean][] = [
      ['common, tenant allowed', { is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT] }, { tid: ACME_TENANT, iss: `https://login.microsoftonline.com/${ACME_TENANT}/v2.0` }, true],
      ['common, tenant not allowed', { is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT] }, { tid: OTHER_TENANT }, false],
      ['issuer and tid disagree', { is_use_common_endpoint: true, entra_allowed_tenant_ids: [ACME_TENANT] }, { tid: ACME_TENANT, iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0` }, false],
      ['tenant id configured, same tenant', { entra_id_domain: ACME_TENANT.toUpperCase() }, { tid: ACME_TENANT }, true],
      ['tenant id configured, other tenant', { entra_id_domain: ACME_TENANT }, { tid: OTHER_TENANT }, false],
      ['tenant domain configured (checked by the discovered issuer)', { entra_id_domain: 'acme.onmicrosoft.com' }, { tid: ACME_TENANT }, true],
      ['no tid at all', { entra_id_domain: ACME_TENANT }, {}, false],
    ];
    for (const [name, options, claims, accepted] of rows) {
      it(`${name}: ${accepted ? 'accepted' : 'refused'}`, () => {
        if (accepted) assertEntraTenant(options, claims);
        else assert.throws(() => assertEntraTenant(options, claims), refusedAs('wrong_tenant'));
      });
    }
  });

  it('signs a person in through any OpenID Provider found by its issuer (oidc:custom), with its claim mapping', async () => {
    const conn = connection('oidc:custom', {
      issuer: keycloak.issuer,
      client_id: 'gatehouse-at-keycloak',
      client_secret: client.client_secret,
      token_endpoint_auth_method: 'client_secret_post',
      scopes: ['email', 'profile'],
      claim_mapping: { given_name: 'family_name', family_name: 'given_name' },
      is_retrieve_provider_user_groups: true,
    });
    const profile = await signIn(conn);
    assert.equal(profile.subject, 'kc-7');
    assert.equal(profile.email, 'grace@corp.example');
    assert.equal(profile.email_verified, true);
    assert.equal(profile.given_name, 'Hopper', 'mapped from the claim the connection names');
    assert.equal(profile.family_name, 'Grace');
    assert.deepEqual(profile.ext_groups, ['staff']);
    assert.equal(keycloak.lastAuthorization?.get('scope'), 'openid email profile');
  });

  it('refuses an oidc:custom callback with a forged state, and a wrong client secret', async () => {
    const base = { issuer: keycloak.issuer, client_id: 'gatehouse-at-keycloak', token_endpoint_auth_method: 'client_secret_post' as const };
    await assert.rejects(signIn(connection('oidc:custom', { ...base, client_secret: client.client_secret }), (callback) => callback.set('state', 'forged')), refusedAs('bad_state'));
    await assert.rejects(signIn(connection('oidc:custom', { ...base, client_secret: 'wrong-secret' })), refusedAs('provider_error'));
  });

  it('refuses an oidc:custom issuer on a private address unless allowed', async () => {
    const conn = connection('oidc:custom', { issuer: 'http://127.0.0.2:9/realms/x', client_id: 'c', client_secret: 's' });
    await assert.rejects(beginEnterpriseOidcSignIn(conn, { redirectUri: REDIRECT_URI, allowPrivateNetwork: false }), refusedAs('provider_error'));
  });
});
