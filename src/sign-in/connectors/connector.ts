import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Connection } from '../../domain/connections.ts';
import type { User } from '../../domain/users.ts';
import type { Interaction } from '../flow/interaction.ts';
import type { SignInState, Typed } from '../flow/state.ts';

/**
 * A sign-in method (DESIGN.md §4): one module per strategy family, behind this interface. It begins
 * (from the identify page, or straight from the authorization request), runs its own routes, and ends
 * in one result — a `Verified` handed to the kit's `afterFirstFactor`. Nothing after the first factor
 * knows which connector proved the person, only the connection and `amr` it reported.
 */
export type Connector = IdentityConnector | RedirectConnector;

/**
 * A method where the person types who they are at Gatehouse (email, phone, username) and proves it
 * here: a password, a one-time code. It begins once the identifier belongs to an existing person.
 */
export interface IdentityConnector {
  kind: 'identity';
  /** Its form posts under `/interaction/:uid/…`. */
  routes(router: Router): void;
  /** The first step for an existing person: a password page, or a code on its way. */
  begin(interaction: Interaction, user: User, typed: Typed): Promise<SignInState>;
}

/**
 * A method where someone else proves who the person is (a social provider, an enterprise IdP): it
 * begins by sending the browser away, and comes back through its own callback route.
 */
export interface RedirectConnector {
  kind: 'redirect';
  /** Its routes: the callback outside the interaction's path, and any pages of its own. */
  routes(router: Router): void;
  begin(ctx: Context, interaction: Interaction, connection: Connection): Promise<void>;
}

/** The identity connectors, by the verification an application's method names (connectors/registry.ts). */
export interface IdentityConnectors {
  password: IdentityConnector;
  code: IdentityConnector;
}
