import { createLocalJWKSet, decodeProtectedHeader, type JWTPayload, jwtVerify } from 'jose';
import type { KeySet } from '../domain/signing-keys.ts';

export interface VerifiedAccessToken extends JWTPayload {
  sub: string;
  aud: string[];
  scp?: string[];
  azp?: string;
  gty?: string[];
}

/** Verifies a Gatehouse access token: our signature, our issuer, not expired, RFC 9068 `typ`. */
export function accessTokenVerifier(keys: KeySet, issuer: string) {
  const jwks = createLocalJWKSet({
    keys: keys.privateKeys.map(({ kty, kid, alg, use, n, e }) => ({ kty, kid, alg, use, n, e })),
  });
  return async (token: string, audience?: string): Promise<VerifiedAccessToken | undefined> => {
    try {
      const { payload } = await jwtVerify(token, jwks, {
        issuer,
        typ: 'at+jwt',
        algorithms: ['RS256'],
        ...(audience ? { audience } : {}),
      });
      if (typeof payload.sub !== 'string') return undefined;
      return { ...payload, aud: Array.isArray(payload.aud) ? payload.aud : payload.aud ? [payload.aud] : [] } as VerifiedAccessToken;
    } catch {
      return undefined;
    }
  };
}

export type AccessTokenVerifier = ReturnType<typeof accessTokenVerifier>;

/** The key thumbprint a DPoP-bound token is bound to (`cnf.jkt`, RFC 9449 §6.1). */
export function boundKeyOf(token: VerifiedAccessToken): string | undefined {
  const jkt = (token.cnf as { jkt?: unknown } | undefined)?.jkt;
  return typeof jkt === 'string' ? jkt : undefined;
}

/** True when the token names a key id that is not in this key set. */
export function signedWithUnknownKey(token: string, keys: KeySet): boolean {
  try {
    const { kid } = decodeProtectedHeader(token);
    return typeof kid === 'string' && !keys.privateKeys.some((key) => key.kid === kid);
  } catch {
    return false;
  }
}
