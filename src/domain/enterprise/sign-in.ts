import type { Db } from '../../store/db.ts';
import type { EnterpriseConnection } from './connections.ts';
import { beginEnterpriseOidcSignIn } from './oidc.ts';
import { enterpriseProtocol } from './options.ts';
import { beginSamlSignIn, type SamlRequestDelivery } from './saml.ts';

/**
 * The first half of every enterprise sign-in, whatever the protocol: where to send the browser, and
 * what the flow must keep for the way back. SAML comes back to `<issuer>/saml/callback` (finish with
 * `completeSamlSignIn(connection, SAMLResponse, keep.requestId, …)`); Entra ID and custom OIDC come back
 * to `<issuer>/login/callback` like social connections (finish with `completeEnterpriseOidcSignIn`).
 */
export type BegunEnterpriseSignIn =
  | { protocol: 'saml'; send: SamlRequestDelivery; keep: { connectionId: string; requestId: string } }
  | {
      protocol: 'oidc';
      send: { binding: 'HTTP-Redirect'; url: string };
      keep: { connectionId: string; state: string; nonce: string | undefined; codeVerifier: string | undefined; redirectUri: string };
    };

export interface EnterpriseBeginOptions {
  db: Db;
  issuer: string;
  /** See `providerCallsMayReachPrivateNetwork`. */
  allowPrivateNetwork: boolean;
  /** The flow's handle: SAML's RelayState, posted back with the response; OIDC's `state` prefix (social/upstream.ts `flowIdOfState`). */
  relayState: string;
  /** The authorization request's `prompt` and `login_hint`, for `{"alias": …}` upstream params (section 009). */
  upstreamParams?: Partial<Record<'prompt' | 'login_hint', string | undefined>>;
  /** The email the person typed (home-realm discovery), passed on as the `login_hint` alias. */
  loginHint?: string | undefined;
  /** `prompt=login`: SAML's ForceAuthn (OIDC providers get `prompt` through upstream params). */
  forceAuthn?: boolean | undefined;
}

export async function beginEnterpriseSignIn(connection: EnterpriseConnection, options: EnterpriseBeginOptions): Promise<BegunEnterpriseSignIn> {
  if (enterpriseProtocol(connection.strategy) === 'saml') {
    const { requestId, ...send } = await beginSamlSignIn(connection, options);
    return { protocol: 'saml', send: send as SamlRequestDelivery, keep: { connectionId: connection.id, requestId } };
  }
  const redirectUri = `${options.issuer}/login/callback`;
  const begun = await beginEnterpriseOidcSignIn(connection, { redirectUri, flowId: options.relayState, allowPrivateNetwork: options.allowPrivateNetwork, upstreamParams: options.upstreamParams, loginHint: options.loginHint });
  return {
    protocol: 'oidc',
    send: { binding: 'HTTP-Redirect', url: begun.authorizationUrl },
    keep: { connectionId: connection.id, state: begun.state, nonce: begun.nonce, codeVerifier: begun.codeVerifier, redirectUri },
  };
}
