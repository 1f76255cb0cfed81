import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { isMember, mostRecentOrganization, organizationsOf } from '../domain/organizations.ts';
import type { Db } from '../store/db.ts';
import { organizationOfGrant, rememberGrantOrganization } from './grant-organizations.ts';

/** How long a grant (and so its organization) lives: the engine's Grant TTL. */
export const GRANT_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

export const ORGANIZATION_PROMPT_REASON = 'organization_not_joined';

const requestedOrganization = (ctx: KoaContextWithOIDC) => (typeof ctx.oidc.params?.org_code === 'string' ? ctx.oidc.params.org_code : undefined);

/**
 * The engine's interaction policy plus one check: a signed-in person asking for an organization they
 * are not a member of needs the sign-in pages (to join it, or to be told no). With `prompt=none` the
 * engine answers `login_required` instead, which is what Kinde's `switchOrg` expects.
 */
export function interactionPolicyWithOrganizations(db: Db) {
  const policy = interactionPolicy.base();
  policy.get('login')!.checks.add(
    new interactionPolicy.Check(ORGANIZATION_PROMPT_REASON, 'the requested organization needs the sign-in pages', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const requested = requestedOrganization(ctx);
      const userId = ctx.oidc.session?.accountId;
      if (!requested || !userId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return (await isMember(db, requested, userId)) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  return policy;
}

/**
 * The organization of a grant made without the sign-in pages (the SSO session signed the person in):
 * the requested one when they are a member, else the grant's own, else their most recent.
 */
export async function organizationForSilentGrant(db: Db, ctx: KoaContextWithOIDC, grantId: string, userId: string): Promise<void> {
  const requested = requestedOrganization(ctx);
  // Not a member: the interaction policy's check then asks for the pages (or, with prompt=none, the
  // engine answers login_required), so nothing is issued for that organization.
  if (requested && (await isMember(db, requested, userId))) {
    await rememberGrantOrganization(db, grantId, requested, GRANT_LIFETIME_SECONDS);
    return;
  }
  if (await organizationOfGrant(db, grantId)) return;
  const organization = (await mostRecentOrganization(db, userId)) ?? (await organizationsOf(db, userId))[0];
  if (organization) await rememberGrantOrganization(db, grantId, organization.code, GRANT_LIFETIME_SECONDS);
}
