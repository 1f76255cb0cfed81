import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clearActiveStorage, getFlag, getPermission, getPermissions, getRoles, MemoryStorage, setActiveStorage, StorageKeys } from '@kinde/js-utils';
import { decodeJwt } from 'jose';
import { updateApplication } from '../src/domain/applications.ts';
import { listConnections } from '../src/domain/connections.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { createFeatureFlag, setOrganizationFeatureFlag, setUserFeatureFlag } from '../src/domain/feature-flags.ts';
import { addMember, createOrganization, organizationsOf, removeMember, setOrganizationConnection } from '../src/domain/organizations.ts';
import { addRolePermission, createPermission, createRole, updateRole } from '../src/domain/roles.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

for (const database of testDatabases()) {
  describe(`organizations at sign-in and in tokens (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;
    let app: { id: string; secret?: string };

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
    });

    after(async () => {
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    const db = () => server.services.db;

    function authorizeUrl(extra: Record<string, string> = {}): string {
      return `/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid profile email offline', state: 'org', ...extra })}`;
    }

    /** Signs in with an emailed code; returns the driver (with its SSO session) and the callback. */
    async function signIn(email: string, extra: Record<string, string> = {}, driver = new FormDriver(server.url)) {
      const first = await driver.go(authorizeUrl(extra));
      if (first) return { driver, callback: first };
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ identifier: email });
      const callback = await driver.submit({ code: codeIn(await mail) });
      return { driver, callback };
    }

    async function tokensFrom(callback: URL | undefined) {
      assert.ok(callback?.searchParams.get('code'), `expected a code, got ${callback}`);
      if (!callback) throw new Error('unreachable');
      const response = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'authorization_code', code: callback.searchParams.get('code')!, redirect_uri: CALLBACK, client_id: app.id, client_secret: app.secret! }),
      });
      const tokens = (await response.json()) as { access_token: string; id_token: string; refresh_token: string };
      return { ...tokens, access: decodeJwt(tokens.access_token), id: decodeJwt(tokens.id_token) };
    }

    async function member(email: string, ...orgCodes: string[]) {
      const user = await createUser(db(), { firstName: 'Member', identities: [{ type: 'email', value: email, isVerified: true }] });
      for (const code of orgCodes) await addMember(db(), code, user.id);
      return user;
    }

    it('puts roles, permissions and flags of the chosen organization in the token, and the org list in the ID token', async () => {
      const acme = await createOrganization(db(), { name: 'Acme' });
      const globex = await createOrganization(db(), { name: 'Globex' });
      const admin = await createRole(db(), { key: 'admin', name: 'Administrator' });
      const read = await createPermission(db(), { key: 'read:reports', name: 'Read reports' });
      const write = await createPermission(db(), { key: 'write:reports', name: 'Write reports' });
      await addRolePermission(db(), admin.id, read.id);
      await addRolePermission(db(), admin.id, write.id);
      await createFeatureFlag(db(), { key: 'theme', name: 'Theme', type: 's', defaultValue: 'light' });
      await createFeatureFlag(db(), { key: 'beta', name: 'Beta', type: 'b', defaultValue: false });
      await setOrganizationFeatureFlag(db(), acme.code, 'theme', 'dark');
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'two.orgs@example.test', isVerified: true }] });
      await addMember(db(), acme.code, user.id, { roleKeys: ['admin'] });
      await addMember(db(), globex.code, user.id, { roleKeys: [] });
      await setUserFeatureFlag(db(), user.id, 'beta', true);
      await updateApplication(db(), app.id, { isOrganizationsInIdToken: true, isOrgNameInToken: true });

      const atAcme = await tokensFrom((await signIn('two.orgs@example.test', { org_code: acme.code })).callback);
      assert.equal(atAcme.access.org_code, acme.code);
      assert.equal(atAcme.access.org_name, 'Acme');
      assert.deepEqual(atAcme.access.permissions, ['read:reports', 'write:reports']);
      assert.deepEqual(atAcme.access.roles, [{ id: admin.id, key: 'admin', name: 'Administrator' }]);
      assert.deepEqual(atAcme.access.feature_flags, { beta: { t: 'b', v: true }, theme: { t: 's', v: 'dark' } });
      assert.deepEqual((atAcme.id.org_codes as string[]).sort(), [acme.code, globex.code].sort());
      assert.deepEqual(
        (atAcme.id.organizations as Array<{ id: string }>).map((o) => o.id).sort(),
        [acme.code, globex.code].sort(),
      );

      // Kinde's js-utils reads the same through the account API (forceApi).
      const storage = new MemoryStorage();
      setActiveStorage(storage);
      await storage.setSessionItem(StorageKeys.accessToken, atAcme.access_token);
      assert.deepEqual(await getPermissions({ forceApi: true }), { orgCode: acme.code, permissions: ['read:reports', 'write:reports'] });
      assert.deepEqual(await getRoles({ forceApi: true }), [{ id: admin.id, key: 'admin', name: 'Administrator' }]);
      assert.equal(await getFlag('theme', { forceApi: true }), 'dark');
      assert.deepEqual((await getPermission('write:reports', { forceApi: true })) as unknown, { data: { org_code: acme.code, permission_key: 'write:reports', is_granted: true } });
      clearActiveStorage();

      const atGlobex = await tokensFrom((await signIn('two.orgs@example.test', { org_code: globex.code })).callback);
      assert.equal(atGlobex.access.org_code, globex.code);
      assert.deepEqual(atGlobex.access.permissions, []);
      assert.deepEqual(atGlobex.access.feature_flags, { beta: { t: 'b', v: true }, theme: { t: 's', v: 'light' } });

      // Section 050: after a change and refresh_claims, the next token reflects it.
      await addMember(db(), globex.code, user.id, { roleKeys: ['admin'] });
      assert.equal((await server.api('POST', `/users/${user.id}/refresh_claims`)).status, 200);
      const refreshed = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: atGlobex.refresh_token, client_id: app.id, client_secret: app.secret! }),
      }).then((r) => r.json() as Promise<{ access_token: string }>);
      const after = decodeJwt(refreshed.access_token);
      assert.equal(after.org_code, globex.code, 'a refresh keeps the organization');
      assert.deepEqual(after.permissions, ['read:reports', 'write:reports']);
      await updateApplication(db(), app.id, { isOrganizationsInIdToken: false, isOrgNameInToken: false });
    });

    it('mirrors the claims under x-hasura-* names when the application turns Hasura mapping on', async () => {
      const hasura = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await updateApplication(db(), hasura.id, { isHasuraMappingEnabled: true });
      const driver = new FormDriver(server.url);
      await driver.go(`/oauth2/auth?${new URLSearchParams({ client_id: hasura.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'h' })}`);
      const mail = smtp.nextMessageTo('hasura@example.test');
      await driver.submit({ identifier: 'hasura@example.test' });
      const landed = await driver.submit({ code: codeIn(await mail) });
      const tokens = (await (
        await fetch(`${server.url}/oauth2/token`, {
          method: 'POST',
          body: new URLSearchParams({ grant_type: 'authorization_code', code: landed!.searchParams.get('code')!, redirect_uri: CALLBACK, client_id: hasura.id, client_secret: hasura.secret! }),
        })
      ).json()) as { access_token: string };
      const claims = decodeJwt(tokens.access_token);
      assert.equal(claims['x-hasura-user-id'], claims.sub);
      assert.equal(claims['x-hasura-org-code'], claims.org_code);
      assert.deepEqual(claims['x-hasura-permissions'], claims.permissions);
      assert.deepEqual(claims['x-hasura-roles'], claims.roles);
    });

    it('stops speaking for an organization once the person is removed from it', async () => {
      const team = await createOrganization(db(), { name: 'Team' });
      const user = await member('leaver@example.test', team.code);
      const tokens = await tokensFrom((await signIn('leaver@example.test', { org_code: team.code })).callback);
      assert.equal(tokens.access.org_code, team.code);
      await removeMember(db(), team.code, user.id);
      const refreshed = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: app.id, client_secret: app.secret! }),
      }).then((r) => r.json() as Promise<{ access_token: string }>);
      assert.equal(decodeJwt(refreshed.access_token).org_code, undefined);
    });

    it('forgets which grants spoke for an organization when it is deleted; their tokens carry no organization', async () => {
      const doomed = await createOrganization(db(), { name: 'Doomed' });
      await member('doomed@example.test', doomed.code);
      const tokens = await tokensFrom((await signIn('doomed@example.test', { org_code: doomed.code })).callback);
      assert.equal(tokens.access.org_code, doomed.code);
      const remembered = () => db().selectFrom('grant_organizations').select('grant_id').where('organization_code', '=', doomed.code).execute();
      assert.equal((await remembered()).length, 1);

      assert.equal((await server.api('DELETE', `/organization/${doomed.code}`)).status, 200);
      assert.deepEqual(await remembered(), []);
      const refreshed = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: app.id, client_secret: app.secret! }),
      });
      assert.equal(refreshed.status, 200);
      assert.equal(decodeJwt(((await refreshed.json()) as { access_token: string }).access_token).org_code, undefined);
    });

    it('shows the organization switcher to a member of several, unless the environment signs them in to the most recent', async () => {
      const first = await createOrganization(db(), { name: 'First Co' });
      const second = await createOrganization(db(), { name: 'Second Co' });
      await member('switcher@example.test', first.code, second.code);
      const { driver, callback } = await signIn('switcher@example.test');
      assert.equal(callback, undefined, 'a page instead of the application');
      assert.match(driver.lastPage, /Choose an organization/);
      assert.match(driver.lastPage, /First Co/);
      assert.match(driver.lastPage, /Second Co/);
      const chosen = await tokensFrom(await driver.submit({ org_code: second.code }));
      assert.equal(chosen.access.org_code, second.code);

      await updateEnvironmentPolicy(db(), { signInToMostRecentOrganization: true });
      try {
        const direct = await signIn('switcher@example.test');
        assert.equal((await tokensFrom(direct.callback)).access.org_code, second.code, 'the most recent organization, no switcher');
      } finally {
        await updateEnvironmentPolicy(db(), { signInToMostRecentOrganization: false });
      }
    });

    it('adds people from allowed domains automatically, and refuses others', async () => {
      const partner = await createOrganization(db(), { name: 'Partner', allowedDomains: ['partner.example'], autoJoinFromAllowedDomains: true });
      const joined = await signIn('new.hire@partner.example', { org_code: partner.code });
      assert.equal((await tokensFrom(joined.callback)).access.org_code, partner.code);

      await member('outsider@elsewhere.example');
      const refused = new FormDriver(server.url);
      await refused.go(authorizeUrl({ org_code: partner.code }));
      const mail = smtp.nextMessageTo('outsider@elsewhere.example');
      await refused.submit({ identifier: 'outsider@elsewhere.example' });
      await assert.rejects(refused.submit({ code: codeIn(await mail) }), (error: unknown) => error instanceof PageError && /can.t find your account/.test(error.page));
    });

    it('signs in with the methods of the organization when it has its own', async () => {
      const secure = await createOrganization(db(), { name: 'Secure Ltd' });
      const emailPassword = (await listConnections(db())).find((c) => c.strategy === 'email:password')!;
      await setOrganizationConnection(db(), secure.code, emailPassword.id, true);
      const driver = new FormDriver(server.url);
      await driver.go(authorizeUrl({ org_code: secure.code }));
      const user = await member('secure@example.test', secure.code);
      await setPassword(db(), user.id, 'secure org password');
      await driver.submit({ identifier: 'secure@example.test' });
      assert.match(driver.lastPage, /Enter your password/, "the organization's email + password replaces the application's email + code");
      assert.equal((await tokensFrom(await driver.submit({ password: 'secure org password' }))).access.org_code, secure.code);
    });

    it('creates an organization at sign-up with the person as its first member, in the creator role', async () => {
      const owner = await createRole(db(), { key: 'org-owner', name: 'Owner', isDefaultCreatorRole: true });
      const { callback } = await signIn('founder@example.test', { is_create_org: 'true', org_name: 'Founder Inc', prompt: 'create' });
      const tokens = await tokensFrom(callback);
      const orgs = await organizationsOf(db(), tokens.access.sub!);
      const created = orgs.find((o) => o.name === 'Founder Inc');
      assert.ok(created);
      assert.equal(tokens.access.org_code, created.code);
      assert.deepEqual(tokens.access.roles, [{ id: owner.id, key: 'org-owner', name: 'Owner' }]);
      await updateRole(db(), owner.id, { isDefaultCreatorRole: false });
    });

    it('keeps at least one organization open to sign-ups while self sign-up is on (section 021)', async () => {
      const { defaultOrganization } = await import('../src/domain/organizations.ts');
      const fallback = await defaultOrganization(db());
      assert.equal(fallback.policy.allowRegistrations, true, 'the default organization is open');
      const closing = await server.api('PATCH', `/organization/${fallback.code}`, { is_allow_registrations: false });
      assert.equal(closing.status, 400, JSON.stringify(closing.body));
      assert.equal(closing.body.errors[0].code, 'LAST_OPEN_ORGANIZATION');
      assert.equal((await defaultOrganization(db())).policy.allowRegistrations, true, 'nothing changed');

      const open = await createOrganization(db(), { name: 'Open doors', allowRegistrations: true });
      assert.equal((await server.api('PATCH', `/organization/${fallback.code}`, { is_allow_registrations: false })).status, 200);
      const last = await server.api('DELETE', `/organization/${open.code}`);
      assert.equal(last.status, 400, 'the last open one cannot be deleted either');
      assert.equal((await server.api('PATCH', `/organization/${fallback.code}`, { is_allow_registrations: true })).status, 200);
    });

    it('switches organization silently with prompt=none for a member, and answers login_required otherwise', async () => {
      const home = await createOrganization(db(), { name: 'Home' });
      const away = await createOrganization(db(), { name: 'Away' });
      const closed = await createOrganization(db(), { name: 'Closed' });
      await member('silent@example.test', home.code, away.code);
      const { driver } = await signIn('silent@example.test', { org_code: home.code });

      const switched = await driver.go(authorizeUrl({ prompt: 'none', org_code: away.code }));
      assert.equal((await tokensFrom(switched)).access.org_code, away.code);

      const refused = await driver.go(authorizeUrl({ prompt: 'none', org_code: closed.code }));
      assert.equal(refused?.searchParams.get('error'), 'login_required');
      assert.equal(refused?.searchParams.get('state'), 'org');
    });
  });
}
