import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { environmentPolicy } from '../src/domain/environment.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer } from './support/server.ts';

const DEFAULTS = {
  is_self_sign_up_enabled: true,
  is_access_request_enabled: true,
  is_sign_in_to_most_recent_org: false,
  attack_protection: { max_attempts: 5, lockout_seconds: 300 },
  sso_session: { persistence_mode: 'persistent', inactivity_timeout: null },
  email: { sender_name: null, has_custom_smtp: false },
  business_name: null,
};

for (const database of testDatabases()) {
  describe(`management API: environment settings and application switches (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));


    const settings = async () => {
      const { status, body } = await server.api('GET', '/environment/settings');
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.code, 'OK');
      assert.equal(body.message, 'Success');
      return body.settings;
    };
    const patch = (body: unknown) => server.api('PATCH', '/environment/settings', body);
    const storedPolicy = async () => {
      const row = await server.services.db.selectFrom('settings').select('value').where('key', '=', 'environment_policy').executeTakeFirst();
      return row?.value;
    };

    describe('GET and PATCH /environment/settings (Gatehouse extension)', () => {
      it('starts with Kinde’s defaults: self sign-up on, 5 attempts lock for 5 minutes', async () => {
        assert.deepEqual(await settings(), DEFAULTS);
      });

      it('round-trips every field, and a partial patch keeps the rest', async () => {
        const response = await patch({
          is_self_sign_up_enabled: false,
          is_access_request_enabled: false,
          is_sign_in_to_most_recent_org: true,
          attack_protection: { max_attempts: 3, lockout_seconds: 900 },
          sso_session: { persistence_mode: 'non_persistent', inactivity_timeout: 3600 },
          email: { sender_name: 'Acme Support' },
          business_name: 'Acme',
        });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        const expected = {
          is_self_sign_up_enabled: false,
          is_access_request_enabled: false,
          is_sign_in_to_most_recent_org: true,
          attack_protection: { max_attempts: 3, lockout_seconds: 900 },
          sso_session: { persistence_mode: 'non_persistent', inactivity_timeout: 3600 },
          email: { sender_name: 'Acme Support', has_custom_smtp: false },
          business_name: 'Acme',
        };
        assert.deepEqual(response.body, { code: 'OK', message: 'Success', settings: expected });
        assert.deepEqual(await settings(), expected);

        assert.equal((await patch({ attack_protection: { lockout_seconds: 60 } })).status, 200);
        assert.deepEqual((await settings()).attack_protection, { max_attempts: 3, lockout_seconds: 60 });
        assert.equal((await settings()).business_name, 'Acme');

        // The sign-in flow reads the same policy.
        const policy = await environmentPolicy(server.services.db);
        assert.equal(policy.allowSelfSignUp, false);
        assert.equal(policy.allowAccessRequests, false);
        assert.equal(policy.signInToMostRecentOrganization, true);
        assert.deepEqual(policy.attackProtection, { maxAttempts: 3, lockoutSeconds: 60 });
        assert.equal(policy.businessName, 'Acme');

        // null or "" clears a name.
        assert.equal((await patch({ business_name: null, email: { sender_name: '' } })).status, 200);
        const cleared = await settings();
        assert.equal(cleared.business_name, null);
        assert.equal(cleared.email.sender_name, null);

        assert.equal(
          (await patch({ is_self_sign_up_enabled: true, is_access_request_enabled: true, is_sign_in_to_most_recent_org: false, sso_session: { persistence_mode: 'persistent', inactivity_timeout: null }, attack_protection: { max_attempts: 5, lockout_seconds: 300 } })).status,
          200,
        );
        assert.deepEqual(await settings(), DEFAULTS);
      });

      it('stores the SMTP URL sealed, never shows it, and clears it with null', async () => {
        const url = 'smtps://mailer:s3cret-pass@smtp.example.test:465';
        const response = await patch({ email: { smtp_url: url } });
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(response.body.settings.email, { sender_name: null, has_custom_smtp: true });
        assert.ok(!JSON.stringify(response.body).includes('s3cret'));
        assert.ok(!JSON.stringify(await settings()).includes('s3cret'));

        const stored = await storedPolicy();
        assert.ok(stored && !stored.includes('s3cret') && !stored.includes('smtp.example.test'), 'no plaintext at rest');
        const sealed = (await environmentPolicy(server.services.db)).email.smtpUrlSealed!;
        assert.equal(server.services.masterKey.open(sealed, 'environment-smtp-url'), url);

        // Other changes leave it in place.
        assert.equal((await patch({ email: { sender_name: 'Acme' } })).status, 200);
        assert.equal((await settings()).email.has_custom_smtp, true);

        assert.equal((await patch({ email: { smtp_url: null, sender_name: null } })).status, 200);
        assert.deepEqual((await settings()).email, { sender_name: null, has_custom_smtp: false });
        assert.equal((await environmentPolicy(server.services.db)).email.smtpUrlSealed, undefined);
      });

      it('refuses out-of-range, mistyped and unknown fields with 400, changing nothing', async () => {
        assert.equal((await patch({ business_name: 'Before', email: { smtp_url: 'smtp://mail.example.test' } })).status, 200);
        const before = await storedPolicy();
        const bad = [
          { attack_protection: { max_attempts: 0 } },
          { attack_protection: { max_attempts: 101 } },
          { attack_protection: { max_attempts: 2.5 } },
          { attack_protection: { max_attempts: '5' } },
          { attack_protection: { lockout_seconds: 0 } },
          { attack_protection: { lockout_seconds: 86_401 } },
          { attack_protection: { max_attempt: 3 } },
          { attack_protection: 5 },
          { is_self_sign_up_enabled: 'no' },
          { is_self_sign_up_enabled: null },
          { email: { smtp_url: 'http://mail.example.test' } },
          { email: { smtp_url: 'smtp://' } },
          { email: { smtp_url: 'smtp:mail.example.test' } },
          { email: { smtp_url: ' smtp://mail.example.test' } },
          { email: { smtp_url: 'mail.example.test:25' } },
          { email: { has_custom_smtp: false } },
          { email: { sender_name: 'Acme\r\nBcc: victim@example.test' } },
          { email: { sender_name: 'x'.repeat(101) } },
          { business_name: 42 },
          { self_sign_up: false },
        ];
        for (const body of bad) {
          const response = await patch(body);
          assert.equal(response.status, 400, `${JSON.stringify(body)} → ${response.status} ${JSON.stringify(response.body)}`);
          assert.equal(response.body.errors[0].code, 'INVALID_REQUEST');
        }
        assert.match((await patch({ email: { has_custom_smtp: false } })).body.errors[0].message, /read-only/);
        assert.equal(await storedPolicy(), before);
        assert.equal((await settings()).business_name, 'Before');
        assert.equal((await patch({ business_name: null, email: { smtp_url: null } })).status, 200);
      });

      it('leaves Kinde’s own GET /environment unimplemented', async () => {
        assertKindeError(await server.api('GET', '/environment'), 404, 'ROUTE_NOT_FOUND');
      });
    });

    describe('application authentication-experience switches (section 019)', () => {
      it('round-trips the four switches through PATCH and GET /applications/{id}', async () => {
        const created = await server.api('POST', '/applications', { name: 'Switches', type: 'reg' });
        const id = created.body.application.id;
        const switches = (app: any) => ({
          is_ask_for_names: app.is_ask_for_names,
          is_show_sign_in_link: app.is_show_sign_in_link,
          is_gravatar_fallback_enabled: app.is_gravatar_fallback_enabled,
          is_ask_marketing_consent: app.is_ask_marketing_consent,
        });
        const read = async () => switches((await server.api('GET', `/applications/${id}`)).body.application);
        const defaults = await read();
        assert.deepEqual(
          { is_show_sign_in_link: defaults.is_show_sign_in_link, is_gravatar_fallback_enabled: defaults.is_gravatar_fallback_enabled, is_ask_marketing_consent: defaults.is_ask_marketing_consent },
          { is_show_sign_in_link: true, is_gravatar_fallback_enabled: true, is_ask_marketing_consent: false },
        );

        const flipped = { is_ask_for_names: !defaults.is_ask_for_names, is_show_sign_in_link: false, is_gravatar_fallback_enabled: false, is_ask_marketing_consent: true };
        const response = await server.api('PATCH', `/applications/${id}`, flipped);
        assert.equal(response.status, 200, JSON.stringify(response.body));
        assert.deepEqual(await read(), flipped);

        // One at a time leaves the others alone.
        assert.equal((await server.api('PATCH', `/applications/${id}`, { is_show_sign_in_link: true })).status, 200);
        assert.deepEqual(await read(), { ...flipped, is_show_sign_in_link: true });

        for (const body of [{ is_show_sign_in_link: 'no' }, { is_gravatar_fallback_enabled: null }, { is_ask_marketing_consent: 1 }]) {
          assertKindeError(await server.api('PATCH', `/applications/${id}`, body), 400, 'INVALID_REQUEST');
        }
        assert.deepEqual(await read(), { ...flipped, is_show_sign_in_link: true });
        assertKindeError(await server.api('PATCH', '/applications/no-such-app', { is_ask_marketing_consent: true }), 404);
      });
    });
  });
}
