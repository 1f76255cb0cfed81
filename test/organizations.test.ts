import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import { ensureBuiltInConnections, listConnections } from '../src/domain/connections.ts';
import { DomainError } from '../src/domain/errors.ts';
import {
  createFeatureFlag,
  deleteFeatureFlag,
  featureFlagsFor,
  type FlagType,
  type FlagValue,
  parseFlagValue,
  resolveFeatureFlags,
  setOrganizationFeatureFlag,
  setUserFeatureFlag,
} from '../src/domain/feature-flags.ts';
import {
  addMember,
  createOrganization,
  defaultOrganization,
  deleteOrganization,
  effectiveConnectionIds,
  ensureDefaultOrganization,
  findOrganization,
  isMember,
  joinDecision,
  refusesNewcomer,
  type JoinDecision,
  mostRecentOrganization,
  organizationConnectionIds,
  type OrganizationPolicy,
  organizationsOf,
  removeMember,
  setOrganizationConnection,
  touchMembership,
  updateOrganizationSessionPolicy,
} from '../src/domain/organizations.ts';
import {
  addMemberPermission,
  addMemberRole,
  addRolePermission,
  createPermission,
  createRole,
  deletePermission,
  memberAccess,
  memberRoles,
} from '../src/domain/roles.ts';
import { createUser, deleteUser, refreshClaims } from '../src/domain/users.ts';
import type { Store } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { storeForSuite } from './support/store-suite.ts';

const policy = (overrides: Partial<OrganizationPolicy> = {}): OrganizationPolicy => ({
  allowedDomains: [],
  autoJoinFromAllowedDomains: false,
  allowRegistrations: false,
  ...overrides,
});

describe('who may join an organization (section 042)', () => {
  const rows: Array<[string, Parameters<typeof joinDecision>[0], JoinDecision]> = [
    ['a member always may, whatever the policy', { policy: policy(), email: 'ann@elsewhere.test', emailVerified: false, isMember: true }, 'member'],
    ['a member outside the allowed domains keeps access', { policy: policy({ allowedDomains: ['acme.test'] }), email: 'ann@elsewhere.test', emailVerified: true, isMember: true }, 'member'],
    ['a non-member of a closed organization is refused', { policy: policy(), email: 'ann@acme.test', emailVerified: true, isMember: false }, 'refuse_not_member'],
    ['a closed organization refuses as not-a-member even outside its domains', { policy: policy({ allowedDomains: ['acme.test'] }), email: 'ann@elsewhere.test', emailVerified: true, isMember: false }, 'refuse_not_member'],
    ['auto-join adds a verified email in an allowed domain', { policy: policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), email: 'ann@acme.test', emailVerified: true, isMember: false }, 'auto_join'],
    ['domains match case-insensitively', { policy: policy({ allowedDomains: ['Acme.Test'], autoJoinFromAllowedDomains: true }), email: 'Ann@ACME.test', emailVerified: true, isMember: false }, 'auto_join'],
    ['auto-join does not add an unverified email', { policy: policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), email: 'ann@acme.test', emailVerified: false, isMember: false }, 'refuse_not_member'],
    ['auto-join refuses another domain', { policy: policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), email: 'ann@acme.test.evil', emailVerified: true, isMember: false }, 'refuse_domain'],
    ['a subdomain is another domain', { policy: policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), email: 'ann@eu.acme.test', emailVerified: true, isMember: false }, 'refuse_domain'],
    ['auto-join needs a list of domains to add from', { policy: policy({ autoJoinFromAllowedDomains: true }), email: 'ann@acme.test', emailVerified: true, isMember: false }, 'refuse_not_member'],
    ['auto-join refuses a person without an email when domains are set', { policy: policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), email: undefined, emailVerified: false, isMember: false }, 'refuse_domain'],
    ['allow-registrations lets anyone join when no domains are set', { policy: policy({ allowRegistrations: true }), email: 'ann@anywhere.test', emailVerified: false, isMember: false }, 'self_join'],
    ['allow-registrations lets a person without an email join when no domains are set', { policy: policy({ allowRegistrations: true }), email: undefined, emailVerified: false, isMember: false }, 'self_join'],
    ['allow-registrations keeps to the allowed domains', { policy: policy({ allowedDomains: ['acme.test'], allowRegistrations: true }), email: 'ann@acme.test', emailVerified: false, isMember: false }, 'self_join'],
    ['allow-registrations refuses another domain', { policy: policy({ allowedDomains: ['acme.test'], allowRegistrations: true }), email: 'ann@other.test', emailVerified: true, isMember: false }, 'refuse_domain'],
    ['with both, a verified email in the domain is auto-joined', { policy: policy({ allowedDomains: ['acme.test'], allowRegistrations: true, autoJoinFromAllowedDomains: true }), email: 'ann@acme.test', emailVerified: true, isMember: false }, 'auto_join'],
    ['with both, an unverified email in the domain self-joins', { policy: policy({ allowedDomains: ['acme.test'], allowRegistrations: true, autoJoinFromAllowedDomains: true }), email: 'ann@acme.test', emailVerified: false, isMember: false }, 'self_join'],
    ['with both, another domain is refused', { policy: policy({ allowedDomains: ['acme.test', 'acme.example'], allowRegistrations: true, autoJoinFromAllowedDomains: true }), email: 'ann@other.test', emailVerified: true, isMember: false }, 'refuse_domain'],
    ['any of several allowed domains will do', { policy: policy({ allowedDomains: ['acme.test', 'acme.example'], autoJoinFromAllowedDomains: true }), email: 'ann@acme.example', emailVerified: true, isMember: false }, 'auto_join'],
  ];
  for (const [behaviour, input, expected] of rows) {
    it(behaviour, () => assert.equal(joinDecision(input), expected));
  }
});

describe('whether an organization turns away someone signing up with its org_code, before the account is written', () => {
  const rows: Array<[string, OrganizationPolicy, string | undefined | 'later', boolean]> = [
    ['an organization that takes no registrations refuses', policy(), 'ann@acme.test', true],
    ['…even before a username sign-up gives its email', policy(), 'later', true],
    ['registrations let anyone in', policy({ allowRegistrations: true }), 'ann@anywhere.test', false],
    ['registrations within the allowed domains refuse another domain', policy({ allowedDomains: ['acme.test'], allowRegistrations: true }), 'ann@other.test', true],
    ['…and an account with no email (a phone sign-up)', policy({ allowedDomains: ['acme.test'], allowRegistrations: true }), undefined, true],
    ['…but wait for an email still to come', policy({ allowedDomains: ['acme.test'], allowRegistrations: true }), 'later', false],
    ['auto-join lets in an email of its domains (the sign-up verifies it)', policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), 'ann@acme.test', false],
    ['auto-join alone refuses another domain', policy({ allowedDomains: ['acme.test'], autoJoinFromAllowedDomains: true }), 'ann@other.test', true],
  ];
  for (const [behaviour, organizationPolicy, email, refused] of rows) {
    it(behaviour, () => assert.equal(refusesNewcomer(organizationPolicy, email), refused));
  }
});

describe('which connections an organization offers (section 046)', () => {
  const rows: Array<[string, string[], string[] | undefined, string[]]> = [
    ['the environment’s, when the organization has no set of its own', ['conn_a', 'conn_b'], undefined, ['conn_a', 'conn_b']],
    ['the organization’s own set replaces the environment’s', ['conn_a', 'conn_b'], ['conn_c'], ['conn_c']],
    ['nothing is inherited, even a connection both have', ['conn_a', 'conn_b'], ['conn_b', 'conn_c'], ['conn_b', 'conn_c']],
    ['an empty own set falls back to the environment’s', ['conn_a'], [], ['conn_a']],
    ['an own set is offered even when the environment has none', [], ['conn_c'], ['conn_c']],
  ];
  for (const [behaviour, environment, organization, expected] of rows) {
    it(behaviour, () => assert.deepEqual(effectiveConnectionIds(environment, organization), expected));
  }
});

describe('feature flag precedence: environment default, organization override, user override', () => {
  const flags = [
    { key: 'dark_mode', type: 'b' as FlagType, defaultValue: false },
    { key: 'seats', type: 'i' as FlagType, defaultValue: 5 },
    { key: 'theme', type: 's' as FlagType, defaultValue: 'light' },
  ];
  const rows: Array<[string, Record<string, FlagValue>, Record<string, FlagValue>, Record<string, FlagValue>]> = [
    ['the defaults when nobody overrides', {}, {}, { dark_mode: false, seats: 5, theme: 'light' }],
    ['the organization’s value over the default', { seats: 50 }, {}, { dark_mode: false, seats: 50, theme: 'light' }],
    ['the user’s value over the default', {}, { theme: 'dark' }, { dark_mode: false, seats: 5, theme: 'dark' }],
    ['the user’s value over the organization’s', { theme: 'blue' }, { theme: 'dark' }, { dark_mode: false, seats: 5, theme: 'dark' }],
    ['false and 0 and "" are values, not absences', { dark_mode: true, seats: 7 }, { dark_mode: false, seats: 0, theme: '' }, { dark_mode: false, seats: 0, theme: '' }],
  ];
  for (const [behaviour, organization, user, expected] of rows) {
    it(behaviour, () => {
      const resolved = resolveFeatureFlags(flags, organization, user);
      assert.deepEqual(resolved, {
        dark_mode: { t: 'b', v: expected.dark_mode },
        seats: { t: 'i', v: expected.seats },
        theme: { t: 's', v: expected.theme },
      });
    });
  }

  it('treats keys such as constructor and __proto__ as plain data', () => {
    const odd = [
      { key: 'constructor', type: 'b' as FlagType, defaultValue: true },
      { key: '__proto__', type: 's' as FlagType, defaultValue: 'plain' },
    ];
    const resolved = resolveFeatureFlags(odd, Object.fromEntries([['__proto__', 'org']]), {});
    assert.deepEqual(Object.keys(resolved), ['constructor', '__proto__']);
    assert.deepEqual(resolved.constructor, { t: 'b', v: true });
    assert.deepEqual(Object.getOwnPropertyDescriptor(resolved, '__proto__')?.value, { t: 's', v: 'org' });
    assert.equal(Object.getPrototypeOf(resolved), Object.prototype);
  });

  it('parses values the way Kinde sends them, and refuses the wrong type', () => {
    assert.equal(parseFlagValue('b', 'true'), true);
    assert.equal(parseFlagValue('b', false), false);
    assert.equal(parseFlagValue('i', '-42'), -42);
    assert.equal(parseFlagValue('i', 7), 7);
    assert.equal(parseFlagValue('s', 'true'), 'true');
    for (const [type, value] of [['b', 'yes'], ['b', 1], ['i', '4.5'], ['i', 'ten'], ['i', '99999999999999999'], ['s', 5], ['s', 'x'.repeat(1025)]] as const) {
      assert.throws(() => parseFlagValue(type, value), (error: unknown) => error instanceof DomainError && error.status === 400, `${type} ${String(value)}`);
    }
  });
});

for (const database of testDatabases()) {
  describe(`organizations in the store (${database.name})`, () => {
    let store: Store;
    const db = () => store.db;

    storeForSuite(database, async (opened) => {
      store = opened;
      await ensureBuiltInConnections(store.db);
    });

    let userCount = 0;
    const newUser = async () => (await createUser(db(), { identities: [{ type: 'email', value: `person${++userCount}@acme.test`, isVerified: true }] })).id;

    it('creates exactly one default organization when replicas start together', async () => {
      const results = await Promise.all(Array.from({ length: 5 }, () => ensureDefaultOrganization(db())));
      assert.equal(new Set(results.map((org) => org.code)).size, 1);
      const [organization] = results;
      assert.equal(organization!.name, 'Default Organization');
      assert.equal(organization!.isDefault, true);
      assert.match(organization!.code, /^org_[0-9a-f]{11}$/);
      assert.equal((await defaultOrganization(db())).code, organization!.code);
      const defaults = await db().selectFrom('organizations').select('code').where('is_default', '=', 1).execute();
      assert.equal(defaults.length, 1);
    });

    it('refuses to delete the default organization', async () => {
      const organization = await defaultOrganization(db());
      await assert.rejects(deleteOrganization(db(), organization.code), (error: DomainError) => error.status === 400 && error.code === 'DEFAULT_ORGANIZATION');
      assert.ok(await findOrganization(db(), organization.code));
    });

    it('adds a member once, with the default roles, and keeps what they hold when added again', async () => {
      const member = await createRole(db(), { key: 'member', name: 'Member', isDefaultRole: true });
      await createRole(db(), { key: 'admin', name: 'Admin' });
      const organization = await createOrganization(db(), { name: 'Acme' });
      const userId = await newUser();
      assert.equal(await addMember(db(), organization.code, userId), true);
      assert.equal(await addMember(db(), organization.code, userId, { roleKeys: ['admin'] }), false);
      assert.ok(await isMember(db(), organization.code, userId));
      assert.deepEqual((await memberRoles(db(), organization.code, userId)).map((r) => r.key), ['admin', 'member']);
      assert.equal(member.isDefaultRole, true);

      const named = await newUser();
      await addMember(db(), organization.code, named, { roleKeys: ['admin'] });
      assert.deepEqual((await memberRoles(db(), organization.code, named)).map((r) => r.key), ['admin'], 'named roles replace the defaults');
    });

    it('refuses an unknown organization, person or role without writing anything', async () => {
      const organization = await createOrganization(db(), { name: 'Strict' });
      const userId = await newUser();
      const refused = (code: string) => (error: DomainError) => error.status === 404 && error.code === code;
      await assert.rejects(addMember(db(), 'org_00000000000', userId), refused('ORGANIZATION_INVALID'));
      await assert.rejects(addMember(db(), organization.code, 'kp_00000000000000000000000000000000'), refused('USER_INVALID'));
      await assert.rejects(addMember(db(), organization.code, userId, { roleKeys: ['no-such-role'] }), refused('ROLE_INVALID'));
      assert.equal(await isMember(db(), organization.code, userId), false);
      await assert.rejects(addMemberRole(db(), organization.code, userId, (await createRole(db(), { key: 'strict-role', name: 'S' })).id), refused('ORGANIZATION_USER_INVALID'));
    });

    describe('what a member may do (memberAccess)', () => {
      let orgCode: string;
      let otherOrgCode: string;
      const ids: Record<string, string> = {};

      before(async () => {
        orgCode = (await createOrganization(db(), { name: 'Access Co' })).code;
        otherOrgCode = (await createOrganization(db(), { name: 'Other Co' })).code;
        for (const key of ['read:docs', 'write:docs', 'delete:docs', 'approve:invoices']) {
          ids[key] = (await createPermission(db(), { key, name: key })).id;
        }
        ids.editor = (await createRole(db(), { key: 'editor', name: 'Editor' })).id;
        ids.reviewer = (await createRole(db(), { key: 'reviewer', name: 'Reviewer' })).id;
        await addRolePermission(db(), ids.editor, ids['write:docs']!);
        await addRolePermission(db(), ids.editor, ids['read:docs']!);
        await addRolePermission(db(), ids.reviewer, ids['read:docs']!);
      });

      const rows: Array<[string, { roles: string[]; direct: string[] }, { roles: string[]; permissions: string[] }]> = [
        ['nothing without roles or permissions', { roles: [], direct: [] }, { roles: [], permissions: [] }],
        ['a role’s permissions', { roles: ['editor'], direct: [] }, { roles: ['editor'], permissions: ['read:docs', 'write:docs'] }],
        ['permissions given directly', { roles: [], direct: ['approve:invoices'] }, { roles: [], permissions: ['approve:invoices'] }],
        ['the union of roles and direct permissions, sorted, each once', { roles: ['editor', 'reviewer'], direct: ['read:docs', 'delete:docs'] }, { roles: ['editor', 'reviewer'], permissions: ['delete:docs', 'read:docs', 'write:docs'] }],
      ];
      for (const [behaviour, given, expected] of rows) {
        it(`gives ${behaviour}`, async () => {
          const userId = await newUser();
          await addMember(db(), orgCode, userId, { roleKeys: [] });
          for (const role of given.roles) await addMemberRole(db(), orgCode, userId, ids[role]!);
          for (const permission of given.direct) await addMemberPermission(db(), orgCode, userId, ids[permission]!);
          const access = await memberAccess(db(), orgCode, userId);
          assert.deepEqual(access.roles.map((r) => r.key), expected.roles);
          for (const role of access.roles) assert.deepEqual(role, { id: ids[role.key], key: role.key, name: role.key === 'editor' ? 'Editor' : 'Reviewer' });
          assert.deepEqual(access.permissions, expected.permissions);
          assert.deepEqual(await memberAccess(db(), otherOrgCode, userId), { roles: [], permissions: [] }, 'nothing in an organization they are not in');
        });
      }

      it('gives nothing once the person leaves, and nothing back if they rejoin', async () => {
        const userId = await newUser();
        await addMember(db(), orgCode, userId, { roleKeys: ['editor'], permissionKeys: ['approve:invoices'] });
        assert.equal((await memberAccess(db(), orgCode, userId)).permissions.length, 3);
        await removeMember(db(), orgCode, userId);
        assert.deepEqual(await memberAccess(db(), orgCode, userId), { roles: [], permissions: [] });
        await addMember(db(), orgCode, userId, { roleKeys: [] });
        assert.deepEqual(await memberAccess(db(), orgCode, userId), { roles: [], permissions: [] });
      });

      it('follows role and permission changes at once', async () => {
        const userId = await newUser();
        await addMember(db(), orgCode, userId, { roleKeys: ['reviewer'] });
        const temporary = await createPermission(db(), { key: 'temp:thing', name: 'Temp' });
        await addRolePermission(db(), ids.reviewer!, temporary.id);
        assert.deepEqual((await memberAccess(db(), orgCode, userId)).permissions, ['read:docs', 'temp:thing']);
        await deletePermission(db(), temporary.id);
        assert.deepEqual((await memberAccess(db(), orgCode, userId)).permissions, ['read:docs']);
      });
    });

    describe('feature flags for a person (featureFlagsFor)', () => {
      it('applies the default, then the organization’s override, then the user’s', async () => {
        const organization = await createOrganization(db(), { name: 'Flags Co' });
        const elsewhere = await createOrganization(db(), { name: 'Flags Elsewhere' });
        const userId = await newUser();
        const bystander = await newUser();
        await createFeatureFlag(db(), { key: 'ff_bool', name: 'Bool', type: 'b', defaultValue: 'false' });
        await createFeatureFlag(db(), { key: 'ff_int', name: 'Int', type: 'i', defaultValue: '3' });
        await createFeatureFlag(db(), { key: 'ff_str', name: 'Str', type: 's', defaultValue: 'plain' });
        await setOrganizationFeatureFlag(db(), organization.code, 'ff_int', '30');
        await setOrganizationFeatureFlag(db(), organization.code, 'ff_str', 'org');
        await setUserFeatureFlag(db(), userId, 'ff_str', 'mine');
        await setUserFeatureFlag(db(), userId, 'ff_bool', 'true');

        const pick = (flags: Record<string, unknown>) => Object.fromEntries(Object.entries(flags).filter(([key]) => key.startsWith('ff_')));
        assert.deepEqual(pick(await featureFlagsFor(db(), organization.code, userId)), {
          ff_bool: { t: 'b', v: true },
          ff_int: { t: 'i', v: 30 },
          ff_str: { t: 's', v: 'mine' },
        });
        assert.deepEqual(pick(await featureFlagsFor(db(), organization.code, bystander)), {
          ff_bool: { t: 'b', v: false },
          ff_int: { t: 'i', v: 30 },
          ff_str: { t: 's', v: 'org' },
        });
        assert.deepEqual(pick(await featureFlagsFor(db(), elsewhere.code, bystander)), {
          ff_bool: { t: 'b', v: false },
          ff_int: { t: 'i', v: 3 },
          ff_str: { t: 's', v: 'plain' },
        });
        assert.deepEqual(pick(await featureFlagsFor(db(), undefined, userId)), {
          ff_bool: { t: 'b', v: true },
          ff_int: { t: 'i', v: 3 },
          ff_str: { t: 's', v: 'mine' },
        });
        await deleteFeatureFlag(db(), 'ff_str');
        assert.equal((await featureFlagsFor(db(), organization.code, userId)).ff_str, undefined);
      });

      it('refuses a value of the wrong type for the flag', async () => {
        const organization = await createOrganization(db(), { name: 'Typed' });
        await createFeatureFlag(db(), { key: 'ff_typed', name: 'Typed', type: 'i', defaultValue: 1 });
        await assert.rejects(setOrganizationFeatureFlag(db(), organization.code, 'ff_typed', 'many'), (error: DomainError) => error.status === 400);
        assert.deepEqual((await featureFlagsFor(db(), organization.code, await newUser())).ff_typed, { t: 'i', v: 1 });
      });
    });

    describe('organizations of a person (sections 045, 049)', () => {
      it('lists the most recently accessed first, then the most recently joined', async () => {
        const userId = await newUser();
        const first = await createOrganization(db(), { name: 'First' });
        const second = await createOrganization(db(), { name: 'Second' });
        const third = await createOrganization(db(), { name: 'Third' });
        await addMember(db(), first.code, userId);
        clock.advance(1000);
        await addMember(db(), second.code, userId);
        clock.advance(1000);
        await addMember(db(), third.code, userId);
        assert.deepEqual((await organizationsOf(db(), userId)).map((o) => o.name), ['Third', 'Second', 'First']);
        assert.deepEqual(await mostRecentOrganization(db(), userId), { code: third.code, name: 'Third' });

        clock.advance(1000);
        await touchMembership(db(), first.code, userId);
        assert.deepEqual((await organizationsOf(db(), userId)).map((o) => o.name), ['First', 'Third', 'Second']);
        clock.advance(1000);
        await touchMembership(db(), second.code, userId);
        assert.deepEqual((await organizationsOf(db(), userId)).map((o) => o.name), ['Second', 'First', 'Third']);
        assert.equal((await mostRecentOrganization(db(), userId))?.code, second.code);

        assert.deepEqual(await organizationsOf(db(), await newUser()), []);
        assert.equal(await mostRecentOrganization(db(), await newUser()), undefined);
      });

      it('forgets the memberships of a deleted person or organization', async () => {
        const userId = await newUser();
        const organization = await createOrganization(db(), { name: 'Short-lived' });
        await addMember(db(), organization.code, userId);
        await deleteOrganization(db(), organization.code);
        assert.deepEqual(await organizationsOf(db(), userId), []);
        const kept = await createOrganization(db(), { name: 'Kept' });
        await addMember(db(), kept.code, userId);
        await deleteUser(db(), userId);
        assert.equal(await isMember(db(), kept.code, userId), false);
      });
    });

    it('gives an organization its own connections and reverts when the last is switched off (section 046)', async () => {
      const organization = await createOrganization(db(), { name: 'Own auth' });
      const [first, second] = await listConnections(db());
      assert.equal(await organizationConnectionIds(db(), organization.code), undefined);
      await setOrganizationConnection(db(), organization.code, first!.id, true);
      await setOrganizationConnection(db(), organization.code, second!.id, true);
      await setOrganizationConnection(db(), organization.code, second!.id, true);
      assert.deepEqual(await organizationConnectionIds(db(), organization.code), [first!.id, second!.id].sort());
      await setOrganizationConnection(db(), organization.code, first!.id, false);
      assert.deepEqual(await organizationConnectionIds(db(), organization.code), [second!.id]);
      await setOrganizationConnection(db(), organization.code, second!.id, false);
      assert.equal(await organizationConnectionIds(db(), organization.code), undefined);
      await assert.rejects(setOrganizationConnection(db(), organization.code, 'conn_none', true), (error: DomainError) => error.status === 404);
      assert.equal(await organizationConnectionIds(db(), organization.code), undefined);
    });

    it('keeps the organization’s session policy, field by field (section 047)', async () => {
      const organization = await createOrganization(db(), { name: 'Sessions' });
      assert.deepEqual(organization.sessionPolicy, {
        useOrgPolicy: false,
        persistence: 'persistent',
        useOrgAuthenticatedSessionLifetime: false,
        authenticatedSessionLifetime: 2_592_000,
      });
      await updateOrganizationSessionPolicy(db(), organization.code, { useOrgPolicy: true, persistence: 'non_persistent' });
      await updateOrganizationSessionPolicy(db(), organization.code, { authenticatedSessionLifetime: 3600, useOrgAuthenticatedSessionLifetime: true });
      assert.deepEqual((await findOrganization(db(), organization.code))?.sessionPolicy, {
        useOrgPolicy: true,
        persistence: 'non_persistent',
        useOrgAuthenticatedSessionLifetime: true,
        authenticatedSessionLifetime: 3600,
      });
    });

    it('records a refresh of a person’s claims (section 050)', async () => {
      const userId = await newUser();
      const before = clock.now();
      await refreshClaims(db(), userId);
      const row = await db().selectFrom('users').select('claims_refreshed_at').where('id', '=', userId).executeTakeFirstOrThrow();
      assert.ok(row.claims_refreshed_at !== null && row.claims_refreshed_at >= before);
      await assert.rejects(refreshClaims(db(), 'kp_00000000000000000000000000000000'), (error: DomainError) => error.status === 404);
    });
  });
}
