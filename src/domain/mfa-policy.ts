/**
 * Whether a sign-in needs a second factor, and which ones it may offer (sections 052–054). Pure: the
 * sign-in loads the policies, the person's roles and the connection, and asks here.
 */

/** Kinde's three second factors: authenticator app (TOTP, RFC 6238), email code, SMS code. */
export type FactorType = 'totp' | 'email' | 'sms';

/** Canonical order: the order factors are offered in. */
export const FACTOR_TYPES: readonly FactorType[] = ['totp', 'email', 'sms'];

export type MfaMode = 'off' | 'optional' | 'required';

/** Section 053: the environment's "Require multi-factor authentication" (No / Optional / Yes) and its methods. */
export interface EnvironmentMfaPolicy {
  mode: MfaMode;
  factors: FactorType[];
}

export const DEFAULT_ENVIRONMENT_MFA: EnvironmentMfaPolicy = { mode: 'off', factors: [...FACTOR_TYPES] };

/** Section 054: one organization's MFA page. */
export interface OrganizationMfaPolicy {
  /** "Enforce multi-factor authentication for this organization". */
  enforced: boolean;
  /** Its own methods, replacing the environment's while enforced; empty = the environment's. */
  factors: FactorType[];
  exemptRoleKeys: string[];
  /** Enterprise connections whose provider already does MFA. */
  exemptConnectionIds: string[];
}

/** How the person proved who they are first: a code by email or SMS, a password, or anything else (social, enterprise). */
export type PrimaryChannel = 'email' | 'sms' | 'password' | 'other';

export interface MfaRequirementInput {
  environment: EnvironmentMfaPolicy;
  /** The organization the sign-in is for, if any. */
  organization?: OrganizationMfaPolicy | undefined;
  /** The person's roles in that organization. */
  userRoleKeys: readonly string[];
  signedInWithConnectionId?: string | undefined;
  isEnterpriseConnection: boolean;
  primaryMethod: { channel: PrimaryChannel };
}

export type Requirement = 'none' | 'optional' | 'required';

export interface MfaRequirement {
  requirement: Requirement;
  /** What the person may use (or enrol in), in canonical order; recovery codes stand in for any of them. */
  factors: FactorType[];
}

const NONE: MfaRequirement = { requirement: 'none', factors: [] };

/**
 * Section 054's rules, in order:
 * - the environment's "required" or "optional" applies in every organization, whatever the
 *   organization sets; an organization that enforces MFA makes it required within it;
 * - an enforcing organization's own methods replace the environment's (none of its own: the environment's);
 * - exemptions are the organization's, so they apply to any sign-in into it, environment-level MFA
 *   included ("whatever you select here, you can still exempt roles per organization"):
 *   - a person all of whose roles are exempt is exempt; a mix of exempt and non-exempt roles still gets
 *     MFA ("MFA will apply as default"), and so does a person with no roles (nothing exempts them);
 *   - signing in through an exempt enterprise connection exempts whatever the roles;
 * - section 052: a factor the same as the primary method (an email code after email + code, an SMS
 *   after phone + code) is not offered for that sign-in. Optional MFA with nothing left to offer is none;
 *   required MFA with nothing left stays required with no factors, which the sign-in must show as a
 *   configuration problem rather than skip.
 */
export function resolveMfaRequirement(input: MfaRequirementInput): MfaRequirement {
  const { environment, organization } = input;
  const enforcedByOrganization = organization?.enforced === true;
  const requirement: Requirement = enforcedByOrganization || environment.mode === 'required' ? 'required' : environment.mode === 'optional' ? 'optional' : 'none';
  if (requirement === 'none') return NONE;
  if (organization && isExempt(organization, input)) return NONE;

  const listed = enforcedByOrganization && organization.factors.length > 0 ? organization.factors : environment.factors;
  const sameAsPrimary = sameChannelFactor(input.primaryMethod.channel);
  const factors = FACTOR_TYPES.filter((factor) => listed.includes(factor) && factor !== sameAsPrimary);
  if (factors.length === 0 && requirement === 'optional') return NONE;
  return { requirement, factors };
}

function isExempt(organization: OrganizationMfaPolicy, input: MfaRequirementInput): boolean {
  const viaConnection =
    input.isEnterpriseConnection && input.signedInWithConnectionId !== undefined && organization.exemptConnectionIds.includes(input.signedInWithConnectionId);
  const exemptRoles = new Set(organization.exemptRoleKeys);
  const viaRoles = input.userRoleKeys.length > 0 && input.userRoleKeys.every((key) => exemptRoles.has(key));
  return viaConnection || viaRoles;
}

function sameChannelFactor(channel: PrimaryChannel): FactorType | undefined {
  if (channel === 'email') return 'email';
  if (channel === 'sms') return 'sms';
  return undefined;
}

/** In canonical order, without duplicates. */
export function canonicalFactors(factors: readonly FactorType[]): FactorType[] {
  return FACTOR_TYPES.filter((factor) => factors.includes(factor));
}
