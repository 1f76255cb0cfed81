import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { clock } from '../src/clock.ts';
import { environmentPolicy } from '../src/domain/environment.ts';
import { confirmTotpEnrolment, enrolCodeFactor, listFactors, remainingRecoveryCodes, startTotpEnrolment } from '../src/domain/mfa.ts';
import { organizationMfaPolicy } from '../src/domain/organizations.ts';
import { testDatabases } from './support/databases.ts';
import { assertKindeError, serverForSuite, type TestServer } from './support/server.ts';

const UNKNOWN_ORG = 'org_00000000000';
const UNKNOWN_USER = 'kp_00000000000000000000000000000000';
const UNKNOWN_FACTOR = 'mfa_00000000000000000000000000000000';
const OK = { code: 'OK', message: 'Success' };

for (const database of testDatabases()) {
  describe(`management API: MFA (${database.name})`, () => {
    let server: TestServer;
    serverForSuite(database, (started) => (server = started));
    const db = () => server.services.db;

    let people = 0;
    async function newUser(): Promise<string> {
      const n = ++people;
      const { status, body } = await server.api('POST', '/user', { identities: [{ type: 'email', is_verified: true, details: { email: `person${n}@acme.test` } }] });
      assert.equal(status, 200, JSON.stringify(body));
      return body.id;
    }

    async function newOrganization(name: string): Promise<string> {
      const { status, body } = await server.api('POST', '/organization', { name });
      assert.equal(status, 200, JSON.stringify(body));
      return body.organization.code;
    }

    /** Test-side shortcut through the domain: enrolment happens on the sign-in pages. */
    async function withAuthenticator(userId: string): Promise<string> {
      const enrolment = await startTotpEnrolment(db(), server.services.masterKey, userId, 'Acme');
      const code = TOTP.generate({ secret: Secret.fromBase32(enrolment.secret), timestamp: clock.now() });
      const confirmed = await confirmTotpEnrolment(db(), server.services.masterKey, enrolment.factorId, code);
      assert.ok(confirmed.verified);
      return enrolment.factorId;
    }

    async function enterpriseConnection(): Promise<string> {
      const id = `conn_${String(++people).padStart(32, '0')}`;
      await db().insertInto('connections').values({ id, strategy: 'saml:okta', name: `okta-${people}`, display_name: 'Okta', created_at: clock.now() }).execute();
      return id;
    }

    describe('environment policy (PUT /mfa)', () => {
      it('sets the policy and factors from Kinde’s body', async () => {
        assert.deepEqual(await server.api('GET', '/mfa'), {
          status: 200,
          body: { ...OK, mfa: { policy: 'off', enabled_factors: ['mfa:authenticator_app', 'mfa:email', 'mfa:sms'], is_recovery_codes_enabled: true } },
        });
        const put = await server.api('PUT', '/mfa', { policy: 'required', enabled_factors: ['mfa:sms', 'mfa:authenticator_app', 'mfa:sms'], is_recovery_codes_enabled: true });
        assert.deepEqual(put, { status: 200, body: OK });
        assert.deepEqual((await environmentPolicy(db())).mfa, { mode: 'required', factors: ['totp', 'sms'] });
        assert.deepEqual((await server.api('GET', '/mfa')).body.mfa, { policy: 'required', enabled_factors: ['mfa:authenticator_app', 'mfa:sms'], is_recovery_codes_enabled: true });

        assert.equal((await server.api('PUT', '/mfa', { policy: 'off', enabled_factors: [] })).status, 200, 'off needs no factors');
        assert.deepEqual((await environmentPolicy(db())).mfa, { mode: 'off', factors: [] });
        assert.equal((await server.api('PUT', '/mfa', { policy: 'optional', enabled_factors: ['mfa:email'] })).status, 200);
        assert.deepEqual((await environmentPolicy(db())).mfa, { mode: 'optional', factors: ['email'] });
      });

      it('leaves the rest of the environment’s policy alone', async () => {
        const before = await environmentPolicy(db());
        await server.api('PUT', '/mfa', { policy: 'required', enabled_factors: ['mfa:email'] });
        const after = await environmentPolicy(db());
        assert.deepEqual({ ...after, mfa: before.mfa }, before);
      });

      it('refuses bad input, changing nothing', async () => {
        await server.api('PUT', '/mfa', { policy: 'optional', enabled_factors: ['mfa:email'] });
        const before = (await environmentPolicy(db())).mfa;
        for (const body of [
          {},
          { policy: 'required' },
          { enabled_factors: ['mfa:email'] },
          { policy: 'sometimes', enabled_factors: ['mfa:email'] },
          { policy: 'required', enabled_factors: [] },
          { policy: 'optional', enabled_factors: ['mfa:push'] },
          { policy: 'optional', enabled_factors: ['email'] },
          { policy: 'optional', enabled_factors: 'mfa:email' },
          { policy: 'required', enabled_factors: ['mfa:email'], is_recovery_codes_enabled: false },
          { policy: 'required', enabled_factors: ['mfa:email'], is_recovery_codes_enabled: 'yes' },
        ]) {
          assertKindeError(await server.api('PUT', '/mfa', body), 400, 'INVALID_REQUEST');
        }
        const text = await fetch(`${server.url}/api/v1/mfa`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${await server.managementToken()}`, 'content-type': 'text/plain' },
          body: 'policy=off',
        });
        assert.equal(text.status, 415);
        const broken = await fetch(`${server.url}/api/v1/mfa`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${await server.managementToken()}`, 'content-type': 'application/json' },
          body: '{"policy":',
        });
        assertKindeError({ status: broken.status, body: await broken.json() }, 400, 'INVALID_JSON');
        assert.deepEqual((await environmentPolicy(db())).mfa, before);
      });

      it('needs a management token', async () => {
        const response = await fetch(`${server.url}/api/v1/mfa`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ policy: 'off', enabled_factors: [] }) });
        assert.equal(response.status, 403);
      });
    });

    describe('organization policy (PUT /organizations/{org_code}/mfa)', () => {
      it('sets the organization’s factors, enforcement and exemptions', async () => {
        const code = await newOrganization('Bank');
        assert.deepEqual((await server.api('GET', `/organizations/${code}/mfa`)).body.mfa, {
          is_enforce_mfa: false,
          enabled_factors: [],
          is_recovery_codes_enabled: true,
          exempt_role_keys: [],
          exempt_connection_ids: [],
        });
        await server.api('POST', '/roles', { key: 'auditor', name: 'Auditor' });
        await server.api('POST', '/roles', { key: 'viewer', name: 'Viewer' });
        const okta = await enterpriseConnection();
        const put = await server.api('PUT', `/organizations/${code}/mfa`, {
          enabled_factors: ['mfa:email', 'mfa:authenticator_app'],
          is_enforce_mfa: true,
          exempt_role_keys: ['viewer', 'auditor', 'viewer'],
          exempt_connection_ids: [okta],
        });
        assert.deepEqual(put, { status: 200, body: OK });
        assert.deepEqual(await organizationMfaPolicy(db(), code), { enforced: true, factors: ['totp', 'email'], exemptRoleKeys: ['auditor', 'viewer'], exemptConnectionIds: [okta] });
        assert.deepEqual((await server.api('GET', `/organizations/${code}/mfa`)).body.mfa, {
          is_enforce_mfa: true,
          enabled_factors: ['mfa:authenticator_app', 'mfa:email'],
          is_recovery_codes_enabled: true,
          exempt_role_keys: ['auditor', 'viewer'],
          exempt_connection_ids: [okta],
        });

        // Kinde's own body carries the factors only: the Gatehouse fields keep their values.
        assert.equal((await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:sms'] })).status, 200);
        assert.deepEqual(await organizationMfaPolicy(db(), code), { enforced: true, factors: ['sms'], exemptRoleKeys: ['auditor', 'viewer'], exemptConnectionIds: [okta] });

        assert.equal((await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: [], exempt_role_keys: [], exempt_connection_ids: [] })).status, 200);
        assert.deepEqual(await organizationMfaPolicy(db(), code), { enforced: true, factors: [], exemptRoleKeys: [], exemptConnectionIds: [] });
      });

      it('switches enforcement with Kinde’s is_enforce_mfa on PATCH /organization/{org_code}', async () => {
        const code = await newOrganization('Switched');
        await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:authenticator_app'] });
        assert.deepEqual(await server.api('PATCH', `/organization/${code}`, { is_enforce_mfa: true }), { status: 200, body: OK });
        assert.deepEqual(await organizationMfaPolicy(db(), code), { enforced: true, factors: ['totp'], exemptRoleKeys: [], exemptConnectionIds: [] });
        assert.equal((await server.api('PATCH', `/organization/${code}`, { name: 'Renamed', is_enforce_mfa: false })).status, 200);
        assert.equal((await organizationMfaPolicy(db(), code)).enforced, false);
        assert.equal((await server.api('GET', `/organization?code=${code}`)).body.name, 'Renamed');
        assertKindeError(await server.api('PATCH', `/organization/${UNKNOWN_ORG}`, { is_enforce_mfa: true }), 404, 'ORGANIZATION_INVALID');
      });

      it('refuses bad input, unknown roles and connections, and connections that are not enterprise ones, changing nothing', async () => {
        const code = await newOrganization('Careful');
        await server.api('POST', '/roles', { key: 'clerk', name: 'Clerk' });
        const okta = await enterpriseConnection();
        await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:email'], is_enforce_mfa: true, exempt_role_keys: ['clerk'], exempt_connection_ids: [okta] });
        const before = await organizationMfaPolicy(db(), code);
        const emailOtp = (await db().selectFrom('connections').select('id').where('strategy', '=', 'email:otp').executeTakeFirstOrThrow()).id;

        for (const body of [
          {},
          { enabled_factors: ['mfa:push'] },
          { enabled_factors: 'mfa:sms' },
          { enabled_factors: ['mfa:sms'], is_enforce_mfa: 'yes' },
          { enabled_factors: ['mfa:sms'], exempt_role_keys: 'clerk' },
          { enabled_factors: ['mfa:sms'], exempt_role_keys: [''] },
          { enabled_factors: ['mfa:sms'], exempt_connection_ids: [5] },
          { enabled_factors: ['mfa:sms'], is_recovery_codes_enabled: false },
        ]) {
          assertKindeError(await server.api('PUT', `/organizations/${code}/mfa`, body), 400, 'INVALID_REQUEST');
        }
        assertKindeError(await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:sms'], exempt_role_keys: ['clerk', 'ghost'] }), 404, 'ROLE_INVALID');
        assertKindeError(
          await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:sms'], exempt_connection_ids: [okta, 'conn_ffffffffffffffffffffffffffffffff'] }),
          404,
          'CONNECTION_NOT_FOUND',
        );
        assertKindeError(await server.api('PUT', `/organizations/${code}/mfa`, { enabled_factors: ['mfa:sms'], exempt_connection_ids: [emailOtp] }), 400, 'CONNECTION_NOT_ENTERPRISE');
        assertKindeError(await server.api('PATCH', `/organization/${code}`, { is_enforce_mfa: 'no' }), 400, 'INVALID_REQUEST');
        assert.deepEqual(await organizationMfaPolicy(db(), code), before);

        assertKindeError(await server.api('PUT', `/organizations/${UNKNOWN_ORG}/mfa`, { enabled_factors: ['mfa:sms'] }), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('GET', `/organizations/${UNKNOWN_ORG}/mfa`), 404, 'ORGANIZATION_INVALID');
      });
    });

    describe('a person’s factors', () => {
      it('shows a person’s MFA in Kinde’s shape, with every factor and the recovery codes left', async () => {
        const userId = await newUser();
        assert.deepEqual(await server.api('GET', `/users/${userId}/mfa`), { status: 200, body: { ...OK, factors: [], recovery_codes_remaining: 0 } });

        const factorId = await withAuthenticator(userId);
        const sms = await enrolCodeFactor(db(), userId, 'sms', '+61466043123');
        const { status, body } = await server.api('GET', `/users/${userId}/mfa`);
        assert.equal(status, 200);
        assert.match(factorId, /^mfa_[0-9a-f]{32}$/);
        const totp = {
          id: factorId,
          type: 'authenticator_app',
          created_on: body.mfa.created_on,
          name: 'Authenticator app',
          is_verified: true,
          usage_count: 0,
          last_used_on: null,
        };
        assert.match(body.mfa.created_on, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.deepEqual(body, {
          ...OK,
          mfa: totp,
          factors: [totp, { id: sms.id, type: 'sms', created_on: new Date(sms.createdAt).toISOString(), name: '+61466043123', is_verified: false, usage_count: 0, last_used_on: null }],
          recovery_codes_remaining: 10,
        });
      });

      it('resets one factor, then all of them', async () => {
        const userId = await newUser();
        const factorId = await withAuthenticator(userId);
        const email = await enrolCodeFactor(db(), userId, 'email', `person${people}@acme.test`);
        assert.deepEqual(await server.api('DELETE', `/users/${userId}/mfa/${email.id}`), { status: 200, body: OK });
        assert.deepEqual((await listFactors(db(), userId)).map((factor) => factor.id), [factorId]);
        assert.equal(await remainingRecoveryCodes(db(), userId), 10, 'the authenticator app is still set up');

        assert.deepEqual(await server.api('DELETE', `/users/${userId}/mfa`), { status: 200, body: OK });
        assert.deepEqual(await listFactors(db(), userId), []);
        assert.equal(await remainingRecoveryCodes(db(), userId), 0);
        assert.deepEqual(await server.api('DELETE', `/users/${userId}/mfa`), { status: 200, body: OK }, 'nothing to reset is not an error');
        const audit = await db().selectFrom('audit_events').select('type').where('subject', '=', userId).where('type', '=', 'user.mfa_reset').execute();
        assert.equal(audit.length, 3);
      });

      it('answers 404 for unknown people and factors, and for another person’s factor, deleting nothing', async () => {
        const ann = await newUser();
        const bob = await newUser();
        const annFactor = await withAuthenticator(ann);
        await withAuthenticator(bob);
        assertKindeError(await server.api('GET', `/users/${UNKNOWN_USER}/mfa`), 404, 'USER_INVALID');
        assertKindeError(await server.api('DELETE', `/users/${UNKNOWN_USER}/mfa`), 404, 'USER_INVALID');
        assertKindeError(await server.api('DELETE', `/users/${UNKNOWN_USER}/mfa/${annFactor}`), 404, 'USER_INVALID');
        assertKindeError(await server.api('DELETE', `/users/${ann}/mfa/${UNKNOWN_FACTOR}`), 404, 'MFA_FACTOR_NOT_FOUND');
        assertKindeError(await server.api('DELETE', `/users/${bob}/mfa/${annFactor}`), 404, 'MFA_FACTOR_NOT_FOUND');
        assert.equal((await listFactors(db(), ann)).length, 1);
        assert.equal((await listFactors(db(), bob)).length, 1);
        assert.equal(await remainingRecoveryCodes(db(), ann), 10);
        assert.equal(await remainingRecoveryCodes(db(), bob), 10);
      });
    });

    describe('a member’s factors through the organization', () => {
      it('reads and resets a member’s factors, and answers 404 for non-members and unknown organizations', async () => {
        const code = await newOrganization('Members');
        const member = await newUser();
        const outsider = await newUser();
        await server.api('POST', `/organizations/${code}/users`, { users: [{ id: member }] });
        const factorId = await withAuthenticator(member);
        const outsiderFactor = await withAuthenticator(outsider);

        const { status, body } = await server.api('GET', `/organizations/${code}/users/${member}/mfa`);
        assert.equal(status, 200);
        assert.equal(body.mfa.id, factorId);
        assert.deepEqual(body, (await server.api('GET', `/users/${member}/mfa`)).body);

        assertKindeError(await server.api('GET', `/organizations/${code}/users/${outsider}/mfa`), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${outsider}/mfa`), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${outsider}/mfa/${outsiderFactor}`), 404, 'ORGANIZATION_USER_INVALID');
        assertKindeError(await server.api('GET', `/organizations/${UNKNOWN_ORG}/users/${member}/mfa`), 404, 'ORGANIZATION_INVALID');
        assertKindeError(await server.api('GET', `/organizations/${code}/users/${UNKNOWN_USER}/mfa`), 404, 'USER_INVALID');
        assertKindeError(await server.api('DELETE', `/organizations/${code}/users/${member}/mfa/${outsiderFactor}`), 404, 'MFA_FACTOR_NOT_FOUND');
        assert.equal((await listFactors(db(), outsider)).length, 1);

        assert.deepEqual(await server.api('DELETE', `/organizations/${code}/users/${member}/mfa/${factorId}`), { status: 200, body: OK });
        assert.deepEqual(await listFactors(db(), member), []);
        await withAuthenticator(member);
        assert.deepEqual(await server.api('DELETE', `/organizations/${code}/users/${member}/mfa`), { status: 200, body: OK });
        assert.deepEqual(await listFactors(db(), member), []);
        assert.equal(await remainingRecoveryCodes(db(), member), 0);
      });
    });
  });
}
