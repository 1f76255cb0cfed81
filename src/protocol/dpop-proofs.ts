import { createHash } from 'node:crypto';
import { calculateJwkThumbprint, EmbeddedJWK, type JWTVerifyResult, jwtVerify } from 'jose';
import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { protocolRecords } from './protocol-records.ts';

/**
 * Proof algorithms, asymmetric only (RFC 9449 §4.3: never `none` or a MAC). The token endpoint (the
 * engine) takes the same list, and discovery advertises it.
 */
export const DPOP_ALGORITHMS = ['ES256', 'Ed25519', 'EdDSA'] as const;

/** How far a proof's `iat` may be from now (the engine's own window at the token endpoint). */
const PROOF_WINDOW_SECONDS = 300;

/** Proof `jti`s seen, per key, until their `iat` window has passed: a replay is refused on every replica. */
const SEEN_PROOFS = 'DPoPProof';

export interface ProofContext {
  proof: string | undefined;
  /** The request's method and URL (RFC 9449 §4.3 points 8–9). */
  method: string;
  url: string;
  accessToken: string;
  /** The key thumbprint the access token is bound to (`cnf.jkt`, RFC 9449 §6.1). */
  boundKey: string;
}

const base64urlSha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

/** RFC 9449 §4.3 point 9: the URIs are compared without their query and fragment. */
function withoutQuery(url: string): string | undefined {
  if (!URL.canParse(url)) return undefined;
  const parsed = new URL(url);
  parsed.search = '';
  parsed.hash = '';
  return parsed.href;
}

const sameTarget = (htu: unknown, url: string): boolean => typeof htu === 'string' && withoutQuery(htu) !== undefined && withoutQuery(htu) === withoutQuery(url);

async function verifiedProof(proof: string): Promise<JWTVerifyResult | undefined> {
  try {
    return await jwtVerify(proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...DPOP_ALGORITHMS] });
  } catch {
    return undefined;
  }
}

/**
 * What is wrong with a request's DPoP proof for a bound access token (RFC 9449 §4.3 and §7.1), or
 * undefined when it is valid; a valid proof is then spent, so it cannot be presented again.
 */
export async function dpopProofProblem(db: Db, request: ProofContext): Promise<string | undefined> {
  if (!request.proof) return 'a DPoP proof is required for a DPoP-bound access token';
  const verified = await verifiedProof(request.proof);
  if (!verified) return 'the DPoP proof is not a JWT of type dpop+jwt signed by its embedded public key';
  const { payload, protectedHeader } = verified;
  if (typeof payload.jti !== 'string' || payload.jti.length === 0) return 'the DPoP proof has no jti';
  if (typeof payload.iat !== 'number' || Math.abs(clock.nowSeconds() - payload.iat) > PROOF_WINDOW_SECONDS) return 'the DPoP proof is not recent';
  if (payload.htm !== request.method) return 'the DPoP proof is for another method';
  if (!sameTarget(payload.htu, request.url)) return 'the DPoP proof is for another URL';
  if (payload.ath !== base64urlSha256(request.accessToken)) return 'the DPoP proof is not for this access token';
  if ((await calculateJwkThumbprint(protectedHeader.jwk!)) !== request.boundKey) return 'the DPoP proof is signed by another key than the access token is bound to';
  const seen = base64urlSha256(`${request.boundKey}:${payload.jti}`);
  const first = await protocolRecords.create(db, SEEN_PROOFS, seen, '', (payload.iat + PROOF_WINDOW_SECONDS) * 1000);
  return first ? undefined : 'the DPoP proof was already used';
}
