import type { KoaContextWithOIDC } from 'oidc-provider';
import { environmentPolicy } from '../domain/environment.ts';
import { effectiveSessionPolicy } from '../domain/sessions.ts';
import type { Db } from '../store/db.ts';
import { audiencesOf } from './audiences.ts';
import { GRANT_CLAIM } from './revocation-list.ts';
import { claimSetInRequest } from './claim-sources.ts';

type IssuedToken = { kind: string; clientId?: string; accountId?: string; grantId?: string };

/** Kinde's Hasura mapping mirrors the claims under `x-hasura-*` names (js-utils reads either). */
function hasuraMirror(claims: Record<string, unknown>, userId: string): Record<string, unknown> {
  return {
    'x-hasura-user-id': userId,
    'x-hasura-org-code': claims.org_code,
    'x-hasura-permissions': claims.permissions,
    'x-hasura-roles': claims.roles,
    'x-hasura-feature-flags': claims.feature_flags,
  };
}

/**
 * Kinde's access-token claims beyond RFC 9068 (contract doc, "Tokens"): the organization the grant
 * speaks for, the person's roles and permissions in it, and the feature flags that apply to them.
 */
export function extraTokenClaims(db: Db) {
  return async (ctx: KoaContextWithOIDC, token: IssuedToken): Promise<Record<string, unknown>> => {
    if (token.kind === 'ClientCredentials') return { gty: ['client_credentials'] };
    const userId = token.accountId;
    if (!userId) return {};
    const [{ grant, organization, access, featureFlags }, environment] = await Promise.all([claimSetInRequest(db, userId, token.grantId), environmentPolicy(db)]);
    // Someone removed from the organization keeps their session, but their tokens no longer speak for it.
    const orgCode = organization?.code;
    // `ksp.persistent` mirrors the SSO session policy that applied (environment, or the organization's own).
    const persistent = effectiveSessionPolicy(environment.sessions, { authenticatedSessionLifetime: 0 }, organization?.sessionPolicy).persistent;
    const claims: Record<string, unknown> = {
      org_code: orgCode,
      permissions: access.permissions,
      roles: access.roles,
      feature_flags: featureFlags,
      ksp: { persistent },
      // So that ending the grant ends this token at Gatehouse's own endpoints (revocation-list.ts).
      [GRANT_CLAIM]: token.grantId,
    };
    // Section 032: the enterprise IdP's groups, when the connection retrieves them.
    if (grant?.externalGroups) claims.ext_groups = grant.externalGroups;
    const client = ctx.oidc?.client;
    if (organization && client?.['gatehouse_org_name_in_token']) claims.org_name = organization.name;
    if (client?.['gatehouse_hasura']) Object.assign(claims, hasuraMirror(claims, userId));
    return claims;
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
