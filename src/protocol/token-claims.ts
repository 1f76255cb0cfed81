import type { KoaContextWithOIDC } from 'oidc-provider';
import { audiencesOf } from './audiences.ts';

type IssuedToken = { kind: string; clientId?: string; accountId?: string };

/**
 * Kinde's access-token claims beyond RFC 9068 (contract doc, "Tokens"). Roles, permissions, flags and
 * organizations arrive with the organizations work; the claims are present (empty) from the start so
 * Kinde's SDKs read them the same way.
 */
export async function extraTokenClaims(_ctx: KoaContextWithOIDC, token: IssuedToken): Promise<Record<string, unknown>> {
  if (token.kind === 'ClientCredentials') return { gty: ['client_credentials'] };
  return {
    permissions: [],
    roles: [],
    feature_flags: {},
    ksp: { persistent: true },
  };
}

interface StructuredToken {
  header?: Record<string, unknown>;
  payload: Record<string, unknown>;
}

/** Shapes the JWT access token: the audience set unfolded into `aud[]`, scopes as `scp[]`, `azp`. */
export function shapeAccessToken(_ctx: KoaContextWithOIDC, _token: unknown, jwt: StructuredToken): void {
  const { payload } = jwt;
  payload.aud = audiencesOf(payload.aud) ?? (typeof payload.aud === 'string' ? [payload.aud] : payload.aud);
  payload.scp = typeof payload.scope === 'string' && payload.scope.length > 0 ? payload.scope.split(' ') : [];
  payload.azp = payload.client_id;
}
