import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectionForEmailDomain } from '../src/domain/enterprise/connections.ts';
import { testDatabases } from './support/databases.ts';
import { type FakeSamlIdp, type KeyPair, newKeyPair, startFakeSamlIdp } from './support/fake-saml-idp.ts';
import { assertKindeError, serverForSuite, type TestServer } from './support/server.ts';

const TENANT = '5f0a7c3e-1b2d-4e5f-8a9b-0c1d2e3f4a5b';

for (const database of testDatabases()) {
  describe(`enterprise connections through the management API (${database.name})`, () => {
    let server: TestServer;
    let idp: FakeSamlIdp;
    let spKeys: KeyPair;
    let otherKeys: KeyPair;
    serverForSuite(database, (started) => (server = started));
    before(async () => {
      idp = await startFakeSamlIdp();
      spKeys = await newKeyPair('sp.test');
      otherKeys = await newKeyPair('other.test');
    });
    after(async () => {
      await idp?.close();
    });

    const count = async () => (await server.services.db.selectFrom('connections').select('id').execute()).length;
    const domains = async () => (await server.services.db.selectFrom('connection_domains').select(['domain', 'connection_id']).orderBy('domain').execute());
    const saml = (extra: Record<string, unknown> = {}) => ({ saml_entity_id: 'urn:gatehouse:acme', saml_idp_metadata_url: idp.metadataUrl, ...extra });

    it('creates an Okta SAML connection and shows its ACS and metadata URLs, never its private key', async () => {
      const app = await server.createApplication({ type: 'reg' });
      const created = await server.api('POST', '/connections', {
        name: 'acme-okta',
        display_name: 'Acme (Okta)',
        strategy: 'saml:okta',
        enabled_applications: [app.id],
        options: saml({ home_realm_domains: ['Acme.example', 'acme-corp.example'], is_create_missing_user: true, protocol_binding: 'HTTP-POST', saml_signing_certificate: spKeys.certificate, saml_signing_private_key: spKeys.privateKey }),
      });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.connection.id;
      const { issuer } = server.services.config;
      const shown = (await server.api('GET', `/connections/${id}`)).body.connection;
      assert.deepEqual(shown, {
        id,
        name: 'acme-okta',
        display_name: 'Acme (Okta)',
        strategy: 'saml:okta',
        options: {
          saml_entity_id: 'urn:gatehouse:acme',
          saml_idp_metadata_url: idp.metadataUrl,
          home_realm_domains: ['acme.example', 'acme-corp.example'],
          is_create_missing_user: true,
          protocol_binding: 'HTTP-POST',
          saml_signing_certificate: spKeys.certificate,
          is_trusted: false,
        },
        organization_code: null,
        enabled_applications: [app.id],
        saml_acs_url: `${issuer}/saml/callback`,
        saml_metadata_url: `${issuer}/saml/metadata/${id}`,
      });
      const row = await server.services.db.selectFrom('connections').select('options_sealed').where('id', '=', id).executeTakeFirstOrThrow();
      assert.ok(!row.options_sealed?.includes('PRIVATE KEY'), 'sealed at rest');
      assert.deepEqual((await domains()).map((d) => d.domain), ['acme-corp.example', 'acme.example']);

      const metadata = await fetch(`${server.url}/saml/metadata/${id}`);
      assert.equal(metadata.status, 200);
      const xml = await metadata.text();
      assert.match(xml, /entityID="urn:gatehouse:acme"/);
      assert.ok(xml.includes(`Location="${issuer}/saml/callback"`));
      assert.ok(!xml.includes('PRIVATE'));
      assert.equal((await fetch(`${server.url}/saml/metadata/conn_00000000000000000000000000000000`)).status, 404);

      const refreshed = await server.api('POST', `/connections/${id}/refresh_metadata`);
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(refreshed.body.metadata.entity_id, idp.entityId);

      const found = (await server.api('GET', '/connections?home_realm_domain=acme.example')).body.connections;
      assert.deepEqual(found.map((c: any) => c.id), [id]);
      assert.deepEqual((await server.api('GET', '/connections?home_realm_domain=nobody.example')).body.connections, []);
    });

    it('holds no database connection while the IdP answers a metadata refresh (SQLite has only one)', async () => {
      const id = (await server.api('POST', '/connections', { strategy: 'saml:custom', options: saml() })).body.connection.id;
      const held = idp.holdMetadata();
      const refreshing = server.api('POST', `/connections/${id}/refresh_metadata`);
      await held.arrived;
      // Had the write's transaction begun before the fetch, this read would wait for the IdP (and the
      // IdP for this read): the refresh would fail at its 10 s timeout.
      const listed = await server.api('GET', '/connections');
      assert.equal(listed.status, 200);
      assert.ok(listed.body.connections.some((connection: { id: string }) => connection.id === id));
      held.release();
      const refreshed = await refreshing;
      assert.equal(refreshed.status, 200, JSON.stringify(refreshed.body));
      assert.equal(refreshed.body.metadata.entity_id, idp.entityId);
    });

    it('routes an email by its domain to the connection the sign-in may use (home-realm discovery)', async () => {
      const app = await server.createApplication({ type: 'reg' });
      const elsewhere = await server.createApplication({ type: 'reg' });
      const { body } = await server.api('POST', '/connections', { strategy: 'saml:custom', enabled_applications: [app.id], options: saml({ home_realm_domains: ['hrd.example'] }) });
      const id = body.connection.id;
      const { db } = server.services;
      assert.equal(await connectionForEmailDomain(db, { applicationId: app.id }, 'Jude@HRD.example'), id);
      assert.equal(await connectionForEmailDomain(db, { applicationId: app.id }, 'jude@other.example'), undefined);
      assert.equal(await connectionForEmailDomain(db, { applicationId: app.id }, 'not-an-email'), undefined);
      assert.equal(await connectionForEmailDomain(db, { applicationId: elsewhere.id }, 'jude@hrd.example'), undefined, 'not on for that application');
      const organization = (await server.api('POST', '/organization', { name: 'HRD Org' })).body.organization.code;
      const onOrg = await server.api('POST', `/organizations/${organization}/connections/${id}`);
      assert.ok(onOrg.status < 300, JSON.stringify(onOrg.body));
      assert.equal(await connectionForEmailDomain(db, { applicationId: elsewhere.id, organizationCode: organization }, 'jude@hrd.example'), id, "the organization's own set applies");
    });

    it('keeps home-realm domains unique across connections, and drops them with the connection', async () => {
      const first = (await server.api('POST', '/connections', { strategy: 'saml:google', options: saml({ home_realm_domains: ['unique.example'] }) })).body.connection.id;
      const before = await count();
      assertKindeError(await server.api('POST', '/connections', { strategy: 'oauth2:azure_ad', options: { client_id: 'c', client_secret: 's', entra_id_domain: TENANT, home_realm_domains: ['unique.example'] } }), 400, 'HOME_REALM_DOMAIN_EXISTS');
      assert.equal(await count(), before, 'nothing written');
      const second = (await server.api('POST', '/connections', { strategy: 'saml:cloudflare', options: saml() })).body.connection.id;
      assertKindeError(await server.api('PATCH', `/connections/${second}`, { options: { home_realm_domains: ['unique.example'] } }), 400, 'HOME_REALM_DOMAIN_EXISTS');
      assert.equal((await server.api('PATCH', `/connections/${first}`, { options: { home_realm_domains: ['renamed.example'] } })).status, 200);
      assert.equal((await server.api('PATCH', `/connections/${second}`, { options: { home_realm_domains: ['unique.example'] } })).status, 200, 'free again');
      assert.equal((await server.api('DELETE', `/connections/${second}`)).status, 200);
      assert.ok(!(await domains()).some((d) => d.connection_id === second));
    });

    it('creates Entra ID and custom OIDC connections, shows their callback URL, keeps the secret on PATCH', async () => {
      const entra = await server.api('POST', '/connections', {
        strategy: 'oauth2:azure_ad',
        options: { client_id: 'entra-app', client_secret: 'entra-secret-value', is_use_common_endpoint: true, entra_allowed_tenant_ids: [TENANT.toUpperCase()], is_retrieve_provider_user_groups: true },
      });
      assert.equal(entra.status, 201, JSON.stringify(entra.body));
      const shown = (await server.api('GET', `/connections/${entra.body.connection.id}`)).body.connection;
      assert.equal(shown.callback_url, `${server.services.config.issuer}/login/callback`);
      assert.deepEqual(shown.options.entra_allowed_tenant_ids, [TENANT]);
      assert.ok(!JSON.stringify(shown).includes('entra-secret-value'));
      assert.equal((await server.api('PATCH', `/connections/${entra.body.connection.id}`, { options: { is_retrieve_provider_user_groups: false } })).status, 200, 'the secret stays');

      const oidc = await server.api('POST', '/connections', { strategy: 'oidc:custom', options: { issuer: 'https://keycloak.example/realms/acme', client_id: 'gh', client_secret: 'kc-secret', scopes: ['email'], claim_mapping: { groups: 'roles' } } });
      assert.equal(oidc.status, 201, JSON.stringify(oidc.body));
      assert.equal((await server.api('GET', `/connections/${oidc.body.connection.id}`)).body.connection.strategy, 'oidc:custom');
      assertKindeError(await server.api('POST', `/connections/${oidc.body.connection.id}/refresh_metadata`), 400, 'NOT_A_SAML_CONNECTION');
    });

    it('refuses bad input with Kinde errors and writes nothing', async () => {
      const before = await count();
      const refused: [unknown, string][] = [
        [{ strategy: 'wsfed:azure_ad', options: {} }, 'STRATEGY_NOT_SUPPORTED'],
        [{ strategy: 'saml:custom', options: { saml_idp_metadata_url: idp.metadataUrl } }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: { saml_entity_id: 'x' } }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ saml_idp_metadata_url: 'http://idp.example/metadata' }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ protocol_binding: 'HTTP-ARTIFACT' }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ sign_request_algorithm: 'RSA-MD5' }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ name_id_format: 'Kerberos' }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ saml_signing_certificate: spKeys.certificate }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ saml_signing_certificate: spKeys.certificate, saml_signing_private_key: otherKeys.privateKey }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ saml_signing_certificate: 'not a cert', saml_signing_private_key: spKeys.privateKey }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ home_realm_domains: ['https://acme.example/'] }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ upstream_params: { SAMLRequest: { value: 'x' } } }) }, 'INVALID_REQUEST'],
        [{ strategy: 'saml:custom', options: saml({ client_secret: 'not a SAML option' }) }, 'INVALID_REQUEST'],
        [{ strategy: 'oauth2:azure_ad', options: { client_id: 'c', entra_id_domain: TENANT } }, 'INVALID_REQUEST'],
        [{ strategy: 'oauth2:azure_ad', options: { client_id: 'c', client_secret: 's', is_use_common_endpoint: true } }, 'INVALID_REQUEST'],
        [{ strategy: 'oauth2:azure_ad', options: { client_id: 'c', client_secret: 's' } }, 'INVALID_REQUEST'],
        [{ strategy: 'oauth2:azure_ad', options: { client_id: 'c', client_secret: 's', is_use_common_endpoint: true, entra_allowed_tenant_ids: ['acme'] } }, 'INVALID_REQUEST'],
        [{ strategy: 'oidc:custom', options: { client_id: 'c', client_secret: 's' } }, 'INVALID_REQUEST'],
        [{ strategy: 'oidc:custom', options: { issuer: 'ftp://idp.example', client_id: 'c', client_secret: 's' } }, 'INVALID_REQUEST'],
      ];
      for (const [body, code] of refused) {
        const response = await server.api('POST', '/connections', body);
        assertKindeError(response, 400, code);
        assert.ok(!JSON.stringify(response.body).includes('PRIVATE KEY'), 'no secret in the error');
      }
      assert.equal(await count(), before);
      assert.equal((await domains()).filter((d) => d.domain === 'acme.example').length <= 1, true);
    });

    it('checks a PUT whole: a signing certificate without its key is refused and nothing changes', async () => {
      const id = (await server.api('POST', '/connections', { strategy: 'saml:custom', options: saml({ saml_signing_certificate: spKeys.certificate, saml_signing_private_key: spKeys.privateKey }) })).body.connection.id;
      assertKindeError(await server.api('PUT', `/connections/${id}`, { options: saml({ saml_signing_certificate: spKeys.certificate }) }), 400, 'INVALID_REQUEST');
      assert.equal((await server.api('PATCH', `/connections/${id}`, { options: { saml_email_key_attr: 'mail' } })).status, 200, 'PATCH keeps the key');
      const shown = (await server.api('GET', `/connections/${id}`)).body.connection.options;
      assert.equal(shown.saml_email_key_attr, 'mail');
      assert.equal(shown.saml_signing_certificate, spKeys.certificate);
      assert.equal((await server.api('PUT', `/connections/${id}`, { options: saml() })).status, 200, 'PUT without the pair removes both');
      assert.equal((await server.api('GET', `/connections/${id}`)).body.connection.options.saml_signing_certificate, undefined);
    });
  });
}
