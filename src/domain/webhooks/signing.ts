import { importJWK, type JWK, SignJWT } from 'jose';
import type { SigningJwk } from '../signing-keys.ts';

/** What each delivery's JWT carries (contract doc, "Webhooks"), beside `iat` and `exp`. */
export interface WebhookPayload {
  type: string;
  event_id: string;
  source: string;
  /** ISO 8601, when the event happened. */
  timestamp: string;
  data: Record<string, unknown>;
}

/** Long enough for a receiver's queue; short enough that a captured delivery is soon worthless. */
const DELIVERY_JWT_LIFETIME = '15m';

/**
 * Signs deliveries with the key the engine signs tokens with now (RS256, published in
 * /.well-known/jwks.json), so `@kinde/webhooks`' `decodeWebhook(token, issuer)` verifies them.
 * `iat`/`exp` are real time: a receiver checks them against its own clock.
 */
export function webhookSigner(currentKey: () => SigningJwk): (payload: WebhookPayload) => Promise<string> {
  const imported = new Map<string, Promise<CryptoKey | Uint8Array>>();
  return async (payload) => {
    const jwk = currentKey();
    let key = imported.get(jwk.kid);
    if (!key) {
      key = importJWK(jwk as JWK, 'RS256') as Promise<CryptoKey | Uint8Array>;
      imported.set(jwk.kid, key);
    }
    return new SignJWT({ ...payload })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: jwk.kid })
      .setIssuedAt()
      .setExpirationTime(DELIVERY_JWT_LIFETIME)
      .sign(await key);
  };
}
