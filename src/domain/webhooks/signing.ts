import { createPrivateKey, type JsonWebKey, type KeyObject, sign } from 'node:crypto';
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
const DELIVERY_JWT_LIFETIME_S = 15 * 60;

const base64url = (text: string) => Buffer.from(text).toString('base64url');

/**
 * Signs deliveries with the key the engine signs tokens with now (RS256, published in
 * /.well-known/jwks.json), so `@kinde/webhooks`' `decodeWebhook(token, issuer)` verifies them.
 * `iat`/`exp` are real time: a receiver checks them against its own clock.
 *
 * The JWS is built here, byte for byte what jose's SignJWT makes (header `{alg, typ, kid}`, the
 * payload then `iat`, `exp`), and signed with node:crypto on a KeyObject made once per key: jose
 * goes through WebCrypto, whose per-call dispatch and copies cost as much as a third of the RSA
 * signature itself (docs/benchmarks.md, "Webhook burst"). With a callback, `crypto.sign` runs on
 * libuv's pool, as the token endpoint's WebCrypto signatures do, so the event loop never waits on RSA.
 */
export function webhookSigner(currentKey: () => SigningJwk): (payload: WebhookPayload) => Promise<string> {
  const keys = new Map<string, { key: KeyObject; header: string }>();
  return (payload) => {
    const jwk = currentKey();
    let signing = keys.get(jwk.kid);
    if (!signing) {
      signing = { key: createPrivateKey({ key: jwk as unknown as JsonWebKey, format: 'jwk' }), header: base64url(JSON.stringify({ alg: 'RS256', typ: 'JWT', kid: jwk.kid })) };
      keys.set(jwk.kid, signing);
    }
    const iat = Math.floor(Date.now() / 1000);
    const input = `${signing.header}.${base64url(JSON.stringify({ ...payload, iat, exp: iat + DELIVERY_JWT_LIFETIME_S }))}`;
    const { key } = signing;
    return new Promise((resolve, reject) => {
      sign('sha256', Buffer.from(input), key, (error, signature) => (error ? reject(error) : resolve(`${input}.${signature.toString('base64url')}`)));
    });
  };
}
