import { type Db, inTransaction } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';
import { type AttackProtectionPolicy, DEFAULT_ATTACK_PROTECTION } from './attack-protection.ts';
import { assertThat } from './errors.ts';
import { DEFAULT_ENVIRONMENT_MFA, type EnvironmentMfaPolicy } from './mfa-policy.ts';
import { readSetting } from './settings.ts';
import { DEFAULT_ENVIRONMENT_SESSIONS, type EnvironmentSessionSettings } from './sessions.ts';

/** The environment's policies (DESIGN.md §3 `environment_settings`), one JSON document. */
export interface EnvironmentPolicy {
  /** Section 021: off → unknown identities are told to ask their administrator. */
  allowSelfSignUp: boolean;
  /**
   * Whoever may not sign up (sign-up closed here, or an organization that takes no registrations)
   * may ask for access instead (domain/access-requests.ts); off, they are told to ask an administrator.
   */
  allowAccessRequests: boolean;
  /** Section 049: people in several organizations go to their most recent one, not a switcher. */
  signInToMostRecentOrganization: boolean;
  attackProtection: AttackProtectionPolicy;
  /** The SSO session policy (section 048); organizations may override it. */
  sessions: EnvironmentSessionSettings;
  /** Section 053: off / optional / required, and the factors offered; organizations may enforce their own (054). */
  mfa: EnvironmentMfaPolicy;
  email: {
    /** Overrides SMTP_URL for this environment; sealed with the master key (it holds credentials). */
    smtpUrlSealed?: string;
    /** The name people see as the sender ("Acme" <no-reply@…>). */
    senderName?: string;
  };
  /** The business named in emails and SMS. */
  businessName?: string;
  /** Section 028: the `device` application a device authorization without `client_id` is for. */
  defaultDeviceApplicationId?: string;
}

export const DEFAULT_ENVIRONMENT_POLICY: EnvironmentPolicy = {
  allowSelfSignUp: true,
  allowAccessRequests: true,
  signInToMostRecentOrganization: false,
  attackProtection: DEFAULT_ATTACK_PROTECTION,
  sessions: DEFAULT_ENVIRONMENT_SESSIONS,
  mfa: DEFAULT_ENVIRONMENT_MFA,
  email: {},
};

const KEY = 'environment_policy';

export function environmentPolicy(db: Db): Promise<EnvironmentPolicy> {
  return cached(db, 'environment', KEY, async () => withDefaults((await readSetting<Partial<EnvironmentPolicy>>(db, KEY)) ?? {}));
}

function withDefaults(stored: Partial<EnvironmentPolicy>): EnvironmentPolicy {
  return {
    ...DEFAULT_ENVIRONMENT_POLICY,
    ...stored,
    attackProtection: { ...DEFAULT_ATTACK_PROTECTION, ...stored.attackProtection },
    sessions: { ...DEFAULT_ENVIRONMENT_SESSIONS, ...stored.sessions },
    mfa: { ...DEFAULT_ENVIRONMENT_MFA, ...stored.mfa },
    email: { ...stored.email },
  };
}

export interface EnvironmentPolicyPatch {
  allowSelfSignUp?: boolean;
  allowAccessRequests?: boolean;
  signInToMostRecentOrganization?: boolean;
  attackProtection?: Partial<AttackProtectionPolicy>;
  sessions?: Partial<EnvironmentSessionSettings>;
  mfa?: Partial<EnvironmentMfaPolicy>;
  email?: { smtpUrlSealed?: string | null; senderName?: string | null };
  businessName?: string | null;
  /** `null` clears it. */
  defaultDeviceApplicationId?: string | null;
}

/**
 * Applies a patch to the stored document in one transaction that holds the settings row, so
 * concurrent changes (from any replica) apply one after the other and none is lost. A function patch
 * is computed from the current policy inside that transaction.
 */
export async function updateEnvironmentPolicy(db: Db, change: EnvironmentPolicyPatch | ((current: EnvironmentPolicy) => EnvironmentPolicyPatch)): Promise<EnvironmentPolicy> {
  await inTransaction(db, async (tx) => {
    await tx.insertInto('settings').values({ key: KEY, value: '{}' }).onConflict((oc) => oc.column('key').doNothing()).execute();
    await tx.updateTable('settings').set((eb) => ({ value: eb.ref('value') })).where('key', '=', KEY).execute();
    const row = await tx.selectFrom('settings').select('value').where('key', '=', KEY).executeTakeFirstOrThrow();
    const current = withDefaults(JSON.parse(row.value) as Partial<EnvironmentPolicy>);
    const patch = typeof change === 'function' ? change(current) : change;
    const email = { ...current.email };
    if (patch.email?.smtpUrlSealed !== undefined) email.smtpUrlSealed = patch.email.smtpUrlSealed ?? undefined;
    if (patch.email?.senderName !== undefined) email.senderName = patch.email.senderName ?? undefined;
    const next: EnvironmentPolicy = {
      allowSelfSignUp: patch.allowSelfSignUp ?? current.allowSelfSignUp,
      allowAccessRequests: patch.allowAccessRequests ?? current.allowAccessRequests,
      signInToMostRecentOrganization: patch.signInToMostRecentOrganization ?? current.signInToMostRecentOrganization,
      attackProtection: { ...current.attackProtection, ...patch.attackProtection },
      sessions: { ...current.sessions, ...patch.sessions },
      mfa: { ...current.mfa, ...definedFields(patch.mfa) },
      email,
      businessName: patch.businessName === undefined ? current.businessName : (patch.businessName ?? undefined),
      defaultDeviceApplicationId: patch.defaultDeviceApplicationId === undefined ? current.defaultDeviceApplicationId : (patch.defaultDeviceApplicationId ?? undefined),
    };
    await tx.updateTable('settings').set({ value: JSON.stringify(next) }).where('key', '=', KEY).execute();
  });
  return environmentPolicy(db);
}

/** A patch's fields that were given (an explicit `undefined` leaves the current value alone). */
function definedFields<T extends object>(patch: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(patch ?? {}).filter(([, value]) => value !== undefined)) as Partial<T>;
}

/**
 * Section 028 ("Set as default"): the application device authorizations without `client_id` are for.
 * Only a `device` application can be it; unsetting an application that is not the default changes nothing.
 */
export async function setDefaultDeviceApplication(db: Db, application: { id: string; type: string }, isDefault: boolean): Promise<void> {
  assertThat(!isDefault || application.type === 'device', 'INVALID_APPLICATION_TYPE', 'Only a device application can be the default for device authorization');
  await updateEnvironmentPolicy(db, (current) => {
    if (isDefault) return { defaultDeviceApplicationId: application.id };
    return current.defaultDeviceApplicationId === application.id ? { defaultDeviceApplicationId: null } : {};
  });
}
