import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emailDomain, homeRealmConnectionFor } from '../src/domain/enterprise/connections.ts';
import { autoJoinOrganization, enterpriseProvisioning, type ProvisioningDecision, type ProvisioningFacts, showsSsoButton } from '../src/domain/enterprise/rules.ts';

describe('the SSO button (sections 030, 038)', () => {
  const rows: [string, Parameters<typeof showsSsoButton>[0], boolean][] = [
    ['no home-realm domains', {}, true],
    ['empty domain list', { home_realm_domains: [] }, true],
    ['domains route people there', { home_realm_domains: ['acme.example'] }, false],
    ['domains, but always show the button', { home_realm_domains: ['acme.example'], is_force_show_sso_button: true }, true],
  ];
  for (const [name, options, shown] of rows) it(`${name}: ${shown ? 'shown' : 'hidden'}`, () => assert.equal(showsSsoButton(options), shown));
});

describe('home-realm discovery by email domain (section 038)', () => {
  const claims = new Map([['acme.example', 'conn_acme'], ['beta.example', 'conn_beta']]);
  const offered = new Set(['conn_acme']);
  const rows: [string, string, string | undefined][] = [
    ['a domain a connection claims', 'jude@acme.example', 'conn_acme'],
    ['the domain in another case', 'Jude@ACME.Example', 'conn_acme'],
    ['a claimed domain whose connection this sign-in does not offer', 'jude@beta.example', undefined],
    ['an unclaimed domain', 'jude@gmail.example', undefined],
    ['a subdomain of a claimed domain (exact match only)', 'jude@eu.acme.example', undefined],
    ['no domain', 'jude', undefined],
  ];
  for (const [name, email, expected] of rows) it(`${name}: ${expected ?? 'none'}`, () => assert.equal(homeRealmConnectionFor(email, claims, offered), expected));
  it('reads the domain after the last @', () => assert.equal(emailDomain('"a@b"@Acme.example'), 'acme.example'));
});

describe('what an enterprise sign-in does with the person (sections 004, 007, 042)', () => {
  const base: ProvisioningFacts = { isTrusted: false, isCreateMissingUser: false };
  const rows: [string, Partial<ProvisioningFacts>, ProvisioningDecision][] = [
    ['signed in through this connection before', { identityUserId: 'kp_1' }, { action: 'sign_in', userId: 'kp_1' }],
    ['pre-provisioned on this connection', { preProvisionedUserId: 'kp_2' }, { action: 'link', userId: 'kp_2', overwriteProfile: false }],
    ['pre-provisioned, trusted connection', { preProvisionedUserId: 'kp_2', isTrusted: true }, { action: 'link', userId: 'kp_2', overwriteProfile: true }],
    ['email of an existing user, trusted ("trust emails")', { emailUser: { userId: 'kp_3', hasOtherEnterpriseIdentity: false }, isTrusted: true }, { action: 'link', userId: 'kp_3', overwriteProfile: true }],
    ['email of an existing user, untrusted', { emailUser: { userId: 'kp_3', hasOtherEnterpriseIdentity: false } }, { action: 'verify_email_then_link', userId: 'kp_3' }],
    ['email of a user with another enterprise identity', { emailUser: { userId: 'kp_4', hasOtherEnterpriseIdentity: true }, isTrusted: true }, { action: 'refuse', reason: 'other_enterprise_identity' }],
    ['unknown person, JIT on', { isCreateMissingUser: true }, { action: 'create_user' }],
    ['unknown person, JIT off', {}, { action: 'refuse', reason: 'not_found' }],
  ];
  for (const [name, facts, decision] of rows) it(`${name}: ${decision.action}`, () => assert.deepEqual(enterpriseProvisioning({ ...base, ...facts }), decision));
});

describe('organization auto-join (section 036)', () => {
  const rows: [string, Parameters<typeof autoJoinOrganization>[0], string | undefined][] = [
    ["an organization's connection with auto-join", { organizationCode: 'org_acme', options: { is_auto_join_organization_enabled: true } }, 'org_acme'],
    ["an organization's connection without it", { organizationCode: 'org_acme', options: {} }, undefined],
    ['an environment connection with the flag (no organization to join)', { organizationCode: null, options: { is_auto_join_organization_enabled: true } }, undefined],
  ];
  for (const [name, connection, joined] of rows) it(`${name}: ${joined ?? 'none'}`, () => assert.equal(autoJoinOrganization(connection), joined));
});
