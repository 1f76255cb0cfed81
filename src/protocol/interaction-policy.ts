import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { clock } from '../clock.ts';
import { environmentPolicy } from '../domain/environment.ts';
import { findOrganization, isMember, mostRecentOrganization, organizationsOf } from '../domain/organizations.ts';
import { effectiveSessionPolicy, lastSessionActivity, type SessionPolicy } from '../domain/sessions.ts';
import type { Db } from '../store/db.ts';
import { addDeviceConsentCheck } from './device-flow.ts';
import { organizationOfGrant, rememberGrantOrganization } from './grant-organizations.ts';

/** How long a grant (and so its organization) lives: the engine's Grant TTL. */
export const GRANT_LIFETIME_SECONDS = 30 * 24 * 60 * 60;

export const ORGANIZATION_PROMPT_REASON = 'organization_not_joined';

const requestedOrganization = (ctx: KoaContextWithOIDC) => (typeof ctx.oidc.params?.org_code === 'string' ? ctx.oidc.params.org_code : undefined);

export const ACCOUNT_UNAVAILABLE_REASON = 'account_unavailable';
export const SESSION_EXPIRED_REASON = 'authenticated_session_expired';
export const SESSION_INACTIVE_REASON = 'session_inactive';

/** The session policy for this authorization request: environment, application, requested organization. */
async function sessionPolicyFor(db: Db, ctx: KoaContextWithOIDC): Promise<SessionPolicy> {
  const environment = await environmentPolicy(db);
  const requested = requestedOrganization(ctx);
  const organization = requested ? await findOrganization(db, requested) : undefined;
  const lifetime = ctx.oidc.client?.['authenticated_session_ttl'];
  return effectiveSessionPolicy(environment.sessions, { authenticatedSessionLifetime: typeof lifetime === 'number' ? lifetime : 2_592_000 }, organization?.sessionPolicy);
}

/**
 * The engine's interaction policy plus Kinde's session and organization rules, as checks on the
 * login prompt. Each asks for the sign-in pages; with `prompt=none` the engine answers
 * `login_required` instead (what Kinde's silent sign-in and `switchOrg` expect):
 * - the application's authenticated-session lifetime has passed since sign-in (sections 047, 051);
 * - the session has been idle longer than the inactivity timeout (section 048);
 * - a signed-in person asks for an organization they are not a member of;
 * - the session's account was suspended or deleted since (the engine found no account for it, and
 *   would otherwise go on to its consent checks without a grant and fail).
 * And on the consent prompt: a device always needs the person's consent (device-flow.ts).
 */
export function gatehouseInteractionPolicy(db: Db) {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(
    new interactionPolicy.Check(ACCOUNT_UNAVAILABLE_REASON, 'the account of this session can no longer sign in', 'login_required', (ctx: KoaContextWithOIDC) =>
      ctx.oidc.session?.accountId && !ctx.oidc.account ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
  login.checks.add(
    new interactionPolicy.Check(SESSION_EXPIRED_REASON, 'the authenticated session is older than this application accepts', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const authTime = ctx.oidc.session?.authTime();
      if (!ctx.oidc.session?.accountId || !authTime) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const { authenticatedSessionLifetime } = await sessionPolicyFor(db, ctx);
      return clock.nowSeconds() - authTime > authenticatedSessionLifetime ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new interactionPolicy.Check(SESSION_INACTIVE_REASON, 'the session has been inactive too long', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const session = ctx.oidc.session;
      if (!session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const { inactivityTimeoutSeconds } = await sessionPolicyFor(db, ctx);
      const lastSeen = inactivityTimeoutSeconds ? await lastSessionActivity(db, session.uid) : undefined;
      return lastSeen !== undefined && clock.now() - lastSeen > inactivityTimeoutSeconds! * 1000
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  login.checks.add(
    new interactionPolicy.Check(ORGANIZATION_PROMPT_REASON, 'the requested organization needs the sign-in pages', 'login_required', async (ctx: KoaContextWithOIDC) => {
      const requested = requestedOrganization(ctx);
      const userId = ctx.oidc.session?.accountId;
      if (!requested || !userId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      return (await isMember(db, requested, userId)) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
    }),
  );
  addDeviceConsentCheck(policy);
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
