import type { IdentityType } from './users.ts';

/**
 * Every kind of connection Gatehouse knows, in Kinde's strategy names: the one registry that the
 * identify page, the management API, MFA's exemptions and the token claims read. A new provider is
 * one entry here (plus, for a social one, its endpoints and profile mapping in its connector).
 */
export type StrategyFamily = 'password' | 'one_time_code' | 'social' | 'enterprise';

export interface Strategy {
  name: string;
  family: StrategyFamily;
  /** Shown on buttons and in the management API. */
  displayName: string;
  /** Built-in methods: the kind of identity the person types on the identify page. */
  identityType?: IdentityType;
}

const builtIn = (name: string, identityType: IdentityType, family: 'password' | 'one_time_code', displayName: string): Strategy => ({ name, family, identityType, displayName });

const social = (name: string, displayName: string): Strategy => ({ name, family: 'social', displayName });

const STRATEGIES: readonly Strategy[] = [
  builtIn('email:password', 'email', 'password', 'Email + password'),
  builtIn('email:otp', 'email', 'one_time_code', 'Email + code'),
  builtIn('phone:otp', 'phone', 'one_time_code', 'Phone + code'),
  builtIn('username:password', 'username', 'password', 'Username + password'),
  builtIn('username:otp', 'username', 'one_time_code', 'Username + code'),
  // Social connections (sections 055–069): one per provider, named as each brands itself. Endpoints,
  // scopes and profile mapping live in the provider catalogue (domain/social/providers.ts).
  social('oauth2:apple', 'Apple'),
  social('oauth2:bitbucket', 'Bitbucket'),
  social('oauth2:discord', 'Discord'),
  social('oauth2:facebook', 'Facebook'),
  social('oauth2:github', 'GitHub'),
  social('oauth2:gitlab', 'GitLab'),
  social('oauth2:google', 'Google'),
  social('oauth2:linkedin', 'LinkedIn'),
  social('oauth2:microsoft', 'Microsoft'),
  social('oauth2:roblox', 'Roblox'),
  social('oauth2:slack', 'Slack'),
  social('oauth2:twitch', 'Twitch'),
  social('oauth2:twitter', 'X'),
  social('oauth2:xero', 'Xero'),
  // Enterprise connections (sections 030–043). Social `oauth2:microsoft` is not one; `oauth2:azure_ad` (Entra ID) is.
  { name: 'oauth2:azure_ad', family: 'enterprise', displayName: 'Microsoft Entra ID' },
  { name: 'saml:custom', family: 'enterprise', displayName: 'SAML' },
  { name: 'saml:okta', family: 'enterprise', displayName: 'Okta' },
  { name: 'saml:google', family: 'enterprise', displayName: 'Google Workspace' },
  { name: 'saml:cloudflare', family: 'enterprise', displayName: 'Cloudflare' },
  { name: 'saml:microsoft', family: 'enterprise', displayName: 'Microsoft Entra ID (SAML)' },
  // Gatehouse extension: any OpenID Provider by its issuer (Okta OIDC, Keycloak, Auth0, Zitadel, another Gatehouse).
  { name: 'oidc:custom', family: 'enterprise', displayName: 'OpenID Connect' },
  { name: 'wsfed:azure_ad', family: 'enterprise', displayName: 'Microsoft Entra ID (WS-Federation)' },
];

const BY_NAME = new Map(STRATEGIES.map((strategy) => [strategy.name, strategy]));

export function strategyNamed(name: string): Strategy | undefined {
  return BY_NAME.get(name);
}

/** Built-in sign-in methods: one connection each, created at first start (DESIGN.md §3). */
export const BUILT_IN_STRATEGIES = STRATEGIES.filter((strategy) => strategy.identityType !== undefined);

/** Enterprise strategies are the only ones an organization may exempt from MFA (section 054). */
export function isEnterpriseStrategy(name: string): boolean {
  return strategyNamed(name)?.family === 'enterprise' || name.startsWith('saml:') || name.startsWith('wsfed:');
}

export function isSocialStrategy(name: string): boolean {
  return strategyNamed(name)?.family === 'social';
}
