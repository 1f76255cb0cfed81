import { type Db, inTransaction } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';
import { type AttackProtectionPolicy, DEFAULT_ATTACK_PROTECTION } from './attack-protection.ts';
import { readSetting } from './settings.ts';
import { DEFAULT_ENVIRONMENT_SESSIONS, type EnvironmentSessionSettings } from './sessions.ts';

/** The environment's policies (DESIGN.md §3 `environment_settings`), one JSON document. */
export interface EnvironmentPolicy {
  /** Section 021: off → unknown identities are told to ask their administrator. */
  allowSelfSignUp: boolean;
  /** Section 049: people in several organizations go to their most recent one, not a switcher. */
  signInToMostRecentOrganization: boolean;
  attackProtection: AttackProtectionPolicy;
  /** The SSO session policy (section 048); organizations may override it. */
  sessions: EnvironmentSessionSettings;
  email: {
    /** Overrides SMTP_URL for this environment; sealed with the master key (it holds credentials). */
    smtpUrlSealed?: string;
    /** The name people see as the sender ("Acme" <no-reply@…>). */
    senderName?: string;
  };
  /** The business named in emails and SMS. */
  businessName?: string;
}

export const DEFAULT_ENVIRONMENT_POLICY: EnvironmentPolicy = {
  allowSelfSignUp: true,
  signInToMostRecentOrganization: false,
  attackProtection: DEFAULT_ATTACK_PROTECTION,
  sessions: DEFAULT_ENVIRONMENT_SESSIONS,
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
    email: { ...stored.email },
  };
}

export interface EnvironmentPolicyPatch {
  allowSelfSignUp?: boolean;
  signInToMostRecentOrganization?: boolean;
  attackProtection?: Partial<AttackProtectionPolicy>;
  sessions?: Partial<EnvironmentSessionSettings>;
  email?: { smtpUrlSealed?: string | null; senderName?: string | null };
  businessName?: string | null;
}

/**
 * Applies a patch to the stored document in one transaction that holds the settings row, so
 * concurrent changes (from any replica) apply one after the other and none is lost.
 */
export async function updateEnvironmentPolicy(db: Db, patch: EnvironmentPolicyPatch): Promise<EnvironmentPolicy> {
  await inTransaction(db, async (tx) => {
    await tx.insertInto('settings').values({ key: KEY, value: '{}' }).onConflict((oc) => oc.column('key').doNothing()).execute();
    await tx.updateTable('settings').set((eb) => ({ value: eb.ref('value') })).where('key', '=', KEY).execute();
    const row = await tx.selectFrom('settings').select('value').where('key', '=', KEY).executeTakeFirstOrThrow();
    const current = withDefaults(JSON.parse(row.value) as Partial<EnvironmentPolicy>);
    const email = { ...current.email };
    if (patch.email?.smtpUrlSealed !== undefined) email.smtpUrlSealed = patch.email.smtpUrlSealed ?? undefined;
    if (patch.email?.senderName !== undefined) email.senderName = patch.email.senderName ?? undefined;
    const next: EnvironmentPolicy = {
      allowSelfSignUp: patch.allowSelfSignUp ?? current.allowSelfSignUp,
      signInToMostRecentOrganization: patch.signInToMostRecentOrganization ?? current.signInToMostRecentOrganization,
      attackProtection: { ...current.attackProtection, ...patch.attackProtection },
      sessions: { ...current.sessions, ...patch.sessions },
      email,
      businessName: patch.businessName === undefined ? current.businessName : (patch.businessName ?? undefined),
    };
    await tx.updateTable('settings').set({ value: JSON.stringify(next) }).where('key', '=', KEY).execute();
  });
  return environmentPolicy(db);
}
