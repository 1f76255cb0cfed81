/**
 * What every enterprise sign-in (SAML, Entra ID, custom OIDC) hands to the sign-in flow about the
 * person, whichever protocol brought it: the connector's `Verified` result is built from this.
 */
export interface EnterpriseProfile {
  /** The IdP's stable id for the person: with the connection, what identifies the enterprise identity. */
  subject: string;
  email: string | undefined;
  /** Whether the IdP says it verified `email`; linking by email still needs a trusted connection (section 004). */
  email_verified?: boolean;
  given_name: string | undefined;
  family_name: string | undefined;
  /** The person's groups at the IdP, for the `ext_groups` claim (only when the connection retrieves them, section 032). */
  ext_groups?: string[];
  /** Everything the IdP said: SAML attributes by name, or the validated ID token's claims. */
  attributes: Record<string, unknown>;
}
