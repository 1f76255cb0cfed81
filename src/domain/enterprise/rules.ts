import type { EnterpriseOptions } from './options.ts';

/**
 * The decisions an enterprise sign-in makes, as pure functions over what the database said (DESIGN.md
 * §1): the identify page and the connector call them; the tables in test/enterprise-rules.test.ts
 * are their specification.
 */

/**
 * Sections 030 and 038: a connection with home-realm domains is reached by typing an email of those
 * domains, so its button is hidden, unless the administrator asks to always show it.
 */
export function showsSsoButton(options: Pick<EnterpriseOptions, 'home_realm_domains' | 'is_force_show_sso_button'>): boolean {
  return !(options.home_realm_domains?.length ?? 0) || options.is_force_show_sso_button === true;
}

export interface ProvisioningFacts {
  /** The user whose enterprise identity is this connection's subject (signed in before). */
  identityUserId?: string | undefined;
  /** A user pre-provisioned on this connection for the email the IdP gave (`POST /users/{id}/identities`, section 042). */
  preProvisionedUserId?: string | undefined;
  /** A user who already has the IdP's email as a verified identity. */
  emailUser?: { userId: string; hasOtherEnterpriseIdentity: boolean } | undefined;
  /** `is_trusted` ("trust emails"): the IdP vouches for its emails. */
  isTrusted: boolean;
  /** `is_create_missing_user`: just-in-time provisioning. */
  isCreateMissingUser: boolean;
}

export type ProvisioningDecision =
  | { action: 'sign_in'; userId: string }
  /** Add the enterprise identity to this user; a trusted connection also overwrites the profile from the IdP. */
  | { action: 'link'; userId: string; overwriteProfile: boolean }
  /** An untrusted IdP's email links only after the person proves it with a code (never a silent takeover, section 004). */
  | { action: 'verify_email_then_link'; userId: string }
  | { action: 'create_user' }
  /** "We can't find your account" (no JIT), or the user already has another enterprise identity (section 007). */
  | { action: 'refuse'; reason: 'not_found' | 'other_enterprise_identity' };

/** Section 042 (provisioning), 004 (linking) and 007 (one enterprise identity per user). */
export function enterpriseProvisioning(facts: ProvisioningFacts): ProvisioningDecision {
  if (facts.identityUserId) return { action: 'sign_in', userId: facts.identityUserId };
  if (facts.preProvisionedUserId) return { action: 'link', userId: facts.preProvisionedUserId, overwriteProfile: facts.isTrusted };
  if (facts.emailUser) {
    if (facts.emailUser.hasOtherEnterpriseIdentity) return { action: 'refuse', reason: 'other_enterprise_identity' };
    return facts.isTrusted ? { action: 'link', userId: facts.emailUser.userId, overwriteProfile: true } : { action: 'verify_email_then_link', userId: facts.emailUser.userId };
  }
  return facts.isCreateMissingUser ? { action: 'create_user' } : { action: 'refuse', reason: 'not_found' };
}

/**
 * Section 036: an organization's enterprise connection with "auto-join" adds everyone who signs in
 * through it to that organization; any other connection adds no one.
 */
export function autoJoinOrganization(connection: { organizationCode: string | null; options: Pick<EnterpriseOptions, 'is_auto_join_organization_enabled'> }): string | undefined {
  return connection.options.is_auto_join_organization_enabled === true && connection.organizationCode ? connection.organizationCode : undefined;
}
