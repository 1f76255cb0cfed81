import type { Connection } from '../../domain/connections.ts';
import { isEnterpriseStrategy, isSocialStrategy, strategyNamed } from '../../domain/strategies.ts';
import type { IdentityType } from '../../domain/users.ts';

export type Verification = 'password' | 'code';

/** How each kind of identity signs in for one application: at most one verification per kind. */
export type SignInMethods = Partial<Record<IdentityType, { verification: Verification; connectionId: string }>>;

/**
 * The methods an application offers, from its enabled connections. `connection_id` in the
 * authorization request narrows them to that one connection (section 020); an id that is not
 * enabled for the application is ignored rather than trusted.
 */
export function signInMethods(connections: readonly Connection[], onlyConnectionId?: string): SignInMethods {
  const chosen = onlyConnectionId ? connections.filter((c) => c.id === onlyConnectionId) : [];
  const offered = chosen.length > 0 ? chosen : connections;
  const methods: SignInMethods = {};
  for (const connection of offered) {
    const strategy = strategyNamed(connection.strategy);
    const identity = strategy?.identityType;
    if (!identity || methods[identity]) continue;
    methods[identity] = { verification: strategy.family === 'password' ? 'password' : 'code', connectionId: connection.id };
  }
  return methods;
}

/** A social connection offered as a button: `connection_id` naming one narrows the buttons to it. */
export type SocialButton = Pick<Connection, 'id' | 'strategy' | 'displayName'>;

export function socialConnectionsOffered(connections: readonly Connection[], onlyConnectionId?: string): SocialButton[] {
  return connectionsOffered(connections, isSocialStrategy, onlyConnectionId);
}

/** The enterprise connections a sign-in may use (SAML, Entra ID, custom OIDC): buttons, home-realm discovery, `connection_id`. */
export function enterpriseConnectionsOffered(connections: readonly Connection[], onlyConnectionId?: string): SocialButton[] {
  return connectionsOffered(connections, isEnterpriseStrategy, onlyConnectionId);
}

function connectionsOffered(connections: readonly Connection[], ofFamily: (strategy: string) => boolean, onlyConnectionId: string | undefined): SocialButton[] {
  const offered = connections.filter((connection) => ofFamily(connection.strategy));
  const chosen = onlyConnectionId ? connections.filter((c) => c.id === onlyConnectionId) : [];
  if (chosen.length > 0) return offered.filter((connection) => connection.id === onlyConnectionId).map(buttonOf);
  return offered.map(buttonOf);
}

const buttonOf = ({ id, strategy, displayName }: Connection): SocialButton => ({ id, strategy, displayName });

export function offeredIdentityTypes(methods: SignInMethods): IdentityType[] {
  return (['email', 'phone', 'username'] as const).filter((type) => methods[type]);
}

/** The `amr` value (RFC 8176) for how a person proved who they are. */
export function amrFor(verification: Verification, channel: 'email' | 'sms'): string {
  if (verification === 'password') return 'pwd';
  return channel === 'sms' ? 'sms' : 'otp';
}
