import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';

/** Section 047: the organization's own SSO session policy, used instead of the application's when on. */
export interface OrganizationSessionPolicy {
  useOrgPolicy: boolean;
  persistence: 'persistent' | 'non_persistent';
  useOrgAuthenticatedSessionLifetime: boolean;
  /** Seconds. */
  authenticatedSessionLifetime: number;
}

/** How long and how an SSO session lasts for one sign-in (sections 047, 048, 051). */
export interface SessionPolicy {
  /** Persistent: the session cookie survives a browser restart; non-persistent: it does not. */
  persistent: boolean;
  /** Seconds after sign-in that an application accepts the session without a new sign-in. */
  authenticatedSessionLifetime: number;
  /** Seconds of inactivity after which the session needs a new sign-in; null = no limit. */
  inactivityTimeoutSeconds: number | null;
}

export interface EnvironmentSessionSettings {
  persistent: boolean;
  inactivityTimeoutSeconds: number | null;
}

export const DEFAULT_ENVIRONMENT_SESSIONS: EnvironmentSessionSettings = { persistent: true, inactivityTimeoutSeconds: null };

/**
 * The environment's policy, the application's authenticated-session lifetime, and the organization's
 * overrides when it uses its own (section 047): each organization switch replaces one part only.
 */
export function effectiveSessionPolicy(
  environment: EnvironmentSessionSettings,
  application: { authenticatedSessionLifetime: number },
  organization?: OrganizationSessionPolicy,
): SessionPolicy {
  return {
    persistent: organization?.useOrgPolicy ? organization.persistence === 'persistent' : environment.persistent,
    authenticatedSessionLifetime: organization?.useOrgAuthenticatedSessionLifetime ? organization.authenticatedSessionLifetime : application.authenticatedSessionLifetime,
    inactivityTimeoutSeconds: environment.inactivityTimeoutSeconds,
  };
}

export interface SessionActivity {
  sessionUid: string;
  lastSeenAt: number;
  expiresAt: number;
}

/** Activity on an SSO session (every authorization that uses it), as of now. */
export function sessionActivityNow(sessionUid: string, lifetimeSeconds: number): SessionActivity {
  const now = clock.now();
  return { sessionUid, lastSeenAt: now, expiresAt: now + lifetimeSeconds * 1000 };
}

export const sessionActivityUpsertQuery = (db: Db, { sessionUid, lastSeenAt, expiresAt }: SessionActivity) =>
  db
    .insertInto('session_activity')
    .values({ session_uid: sessionUid, last_seen_at: lastSeenAt, expires_at: expiresAt })
    .onConflict((oc) => oc.column('session_uid').doUpdateSet((eb) => ({ last_seen_at: eb.ref('excluded.last_seen_at'), expires_at: eb.ref('excluded.expires_at') })));

export const sessionActivityUpsert = preparedQuery(sessionActivityUpsertQuery);

export async function lastSessionActivity(db: Db, sessionUid: string): Promise<number | undefined> {
  const row = await db.selectFrom('session_activity').select('last_seen_at').where('session_uid', '=', sessionUid).executeTakeFirst();
  return row?.last_seen_at;
}

export async function deleteExpiredSessionActivity(db: Db): Promise<void> {
  await db.deleteFrom('session_activity').where('expires_at', '<', clock.now()).execute();
}
