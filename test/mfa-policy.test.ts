import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type EnvironmentMfaPolicy,
  type MfaRequirement,
  type MfaRequirementInput,
  type OrganizationMfaPolicy,
  resolveMfaRequirement,
} from '../src/domain/mfa-policy.ts';

const environment = (mode: EnvironmentMfaPolicy['mode'], factors: EnvironmentMfaPolicy['factors'] = ['totp', 'email', 'sms']): EnvironmentMfaPolicy => ({ mode, factors });

const organization = (overrides: Partial<OrganizationMfaPolicy> = {}): OrganizationMfaPolicy => ({
  enforced: false,
  factors: [],
  exemptRoleKeys: [],
  exemptConnectionIds: [],
  ...overrides,
});

const OKTA = 'conn_okta';

/** A password sign-in by a person with the `member` role and no organization, unless a row says otherwise. */
const signIn = (overrides: Partial<MfaRequirementInput>): MfaRequirementInput => ({
  environment: environment('off'),
  userRoleKeys: ['member'],
  isEnterpriseConnection: false,
  primaryMethod: { channel: 'password' },
  ...overrides,
});

const none: MfaRequirement = { requirement: 'none', factors: [] };
const all = ['totp', 'email', 'sms'] as const;

describe('whether a sign-in needs MFA, and which factors it offers (sections 052–054)', () => {
  const rows: Array<[string, MfaRequirementInput, MfaRequirement]> = [
    // Section 053: the environment's setting.
    ['no MFA when the environment has it off and no organization enforces it', signIn({}), none],
    ['optional MFA offers the environment’s factors', signIn({ environment: environment('optional') }), { requirement: 'optional', factors: [...all] }],
    ['required MFA offers the environment’s factors', signIn({ environment: environment('required', ['totp']) }), { requirement: 'required', factors: ['totp'] }],
    // Section 054: "if you select Yes here, MFA will apply in all organizations regardless".
    [
      'the environment’s "required" applies in an organization that does not enforce MFA',
      signIn({ environment: environment('required'), organization: organization() }),
      { requirement: 'required', factors: [...all] },
    ],
    [
      'the environment’s "optional" applies in an organization that does not enforce MFA',
      signIn({ environment: environment('optional', ['sms']), organization: organization() }),
      { requirement: 'optional', factors: ['sms'] },
    ],
    [
      'an organization that stops enforcing cannot switch the environment’s "required" off',
      signIn({ environment: environment('required', ['email']), organization: organization({ enforced: false, factors: ['totp'] }) }),
      { requirement: 'required', factors: ['email'] },
    ],
    // Section 054: "Switch on MFA for an organization".
    [
      'an enforcing organization requires MFA while the environment has it off',
      signIn({ organization: organization({ enforced: true, factors: ['totp'] }) }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'an enforcing organization makes the environment’s optional MFA required within it',
      signIn({ environment: environment('optional'), organization: organization({ enforced: true, factors: ['totp', 'sms'] }) }),
      { requirement: 'required', factors: ['totp', 'sms'] },
    ],
    [
      'an enforcing organization’s factors replace the environment’s, nothing inherited',
      signIn({ environment: environment('required', ['email', 'sms']), organization: organization({ enforced: true, factors: ['totp'] }) }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'an enforcing organization without factors of its own offers the environment’s',
      signIn({ environment: environment('off', ['email']), organization: organization({ enforced: true }) }),
      { requirement: 'required', factors: ['email'] },
    ],
    ['a non-enforcing organization’s exemptions change nothing while MFA is off', signIn({ organization: organization({ exemptRoleKeys: ['member'] }), userRoleKeys: ['admin'] }), none],
    // Section 054: exempt roles.
    [
      'a person whose only role is exempt is exempt',
      signIn({ organization: organization({ enforced: true, exemptRoleKeys: ['member'] }), userRoleKeys: ['member'] }),
      none,
    ],
    [
      'a person all of whose roles are exempt is exempt',
      signIn({ organization: organization({ enforced: true, exemptRoleKeys: ['member', 'viewer', 'billing'] }), userRoleKeys: ['viewer', 'member'] }),
      none,
    ],
    [
      'a person with a mix of exempt and non-exempt roles still gets MFA',
      signIn({ organization: organization({ enforced: true, factors: ['totp'], exemptRoleKeys: ['member'] }), userRoleKeys: ['member', 'admin'] }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'a person with no roles is not exempt',
      signIn({ organization: organization({ enforced: true, factors: ['totp'], exemptRoleKeys: ['member'] }), userRoleKeys: [] }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'exempt roles apply to the environment’s required MFA too ("you can still exempt roles per organization")',
      signIn({ environment: environment('required'), organization: organization({ exemptRoleKeys: ['member'] }), userRoleKeys: ['member'] }),
      none,
    ],
    [
      'exempt roles apply to the environment’s optional MFA too',
      signIn({ environment: environment('optional'), organization: organization({ exemptRoleKeys: ['member'] }), userRoleKeys: ['member'] }),
      none,
    ],
    [
      'exemptions belong to the organization: without one, a role exempts nobody',
      signIn({ environment: environment('required', ['totp']), userRoleKeys: ['member'] }),
      { requirement: 'required', factors: ['totp'] },
    ],
    // Section 054: exempt enterprise connections.
    [
      'signing in through an exempt enterprise connection exempts a person whose role is not exempt',
      signIn({
        organization: organization({ enforced: true, exemptRoleKeys: ['member'], exemptConnectionIds: [OKTA] }),
        userRoleKeys: ['admin'],
        signedInWithConnectionId: OKTA,
        isEnterpriseConnection: true,
        primaryMethod: { channel: 'other' },
      }),
      none,
    ],
    [
      'an exempt enterprise connection exempts from the environment’s required MFA too',
      signIn({
        environment: environment('required'),
        organization: organization({ exemptConnectionIds: [OKTA] }),
        signedInWithConnectionId: OKTA,
        isEnterpriseConnection: true,
        primaryMethod: { channel: 'other' },
      }),
      none,
    ],
    [
      'an enterprise connection that is not on the list exempts nobody',
      signIn({
        organization: organization({ enforced: true, factors: ['totp'], exemptConnectionIds: [OKTA] }),
        signedInWithConnectionId: 'conn_entra',
        isEnterpriseConnection: true,
        primaryMethod: { channel: 'other' },
      }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'only enterprise connections exempt, even if another connection is on the list',
      signIn({
        organization: organization({ enforced: true, factors: ['totp'], exemptConnectionIds: ['conn_email_otp'] }),
        signedInWithConnectionId: 'conn_email_otp',
        isEnterpriseConnection: false,
      }),
      { requirement: 'required', factors: ['totp'] },
    ],
    // Section 052: not the same factor twice.
    [
      'an email code is not offered after signing in with an email code',
      signIn({ environment: environment('required'), primaryMethod: { channel: 'email' } }),
      { requirement: 'required', factors: ['totp', 'sms'] },
    ],
    [
      'an SMS code is not offered after signing in with a phone code',
      signIn({ environment: environment('required'), primaryMethod: { channel: 'sms' } }),
      { requirement: 'required', factors: ['totp', 'email'] },
    ],
    [
      'an email code is offered after signing in with a password',
      signIn({ environment: environment('required', ['email']), primaryMethod: { channel: 'password' } }),
      { requirement: 'required', factors: ['email'] },
    ],
    [
      'the same-factor rule applies to an enforcing organization’s own factors',
      signIn({ organization: organization({ enforced: true, factors: ['email', 'totp'] }), primaryMethod: { channel: 'email' } }),
      { requirement: 'required', factors: ['totp'] },
    ],
    [
      'optional MFA with only the primary method to offer asks for nothing',
      signIn({ environment: environment('optional', ['email']), primaryMethod: { channel: 'email' } }),
      none,
    ],
    [
      'required MFA with only the primary method to offer stays required, with nothing to offer (a configuration problem to show, not to skip)',
      signIn({ environment: environment('required', ['sms']), primaryMethod: { channel: 'sms' } }),
      { requirement: 'required', factors: [] },
    ],
    [
      'factors are offered in one order, once each',
      signIn({ environment: environment('required', ['sms', 'totp', 'sms', 'email']) }),
      { requirement: 'required', factors: ['totp', 'email', 'sms'] },
    ],
  ];
  for (const [behaviour, input, expected] of rows) {
    it(behaviour, () => assert.deepEqual(resolveMfaRequirement(input), expected));
  }
});
