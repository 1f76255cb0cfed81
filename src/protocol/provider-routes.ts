/** Kinde's paths (contract doc, "Endpoints on the issuer"). */
export const ROUTES = {
  authorization: '/oauth2/auth',
  token: '/oauth2/token',
  jwks: '/.well-known/jwks.json',
  introspection: '/oauth2/introspect',
  revocation: '/oauth2/revoke',
  device_authorization: '/oauth2/device/auth',
  code_verification: '/device',
  userinfo: '/oauth2/v2/user_profile',
  end_session: '/oauth2/session/end',
  // RFC 9126; Kinde has no PAR endpoint, so the engine's own path.
  pushed_authorization_request: '/request',
} as const;
