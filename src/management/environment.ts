import type Router from '@koa/router';
import { assertThat } from '../domain/errors.ts';
import { someOrganizationAllowsRegistrations } from '../domain/organizations.ts';
import { z } from 'zod';
import type { AttackProtectionPolicy } from '../domain/attack-protection.ts';
import { type EnvironmentPolicy, environmentPolicy, updateEnvironmentPolicy } from '../domain/environment.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { okWith } from './responses.ts';
import { route } from './route.ts';

/**
 * Gatehouse extension: the environment's policies (Kinde's "Settings > Environment" screens have no
 * public API). At `/environment/settings`, clear of Kinde's own `GET /environment`.
 */

/** Both go into email headers and SMS bodies: no control characters (header injection); `""` clears. */
const displayName = z
  .string()
  .trim()
  .max(100)
  .regex(/^\P{Cc}*$/u, 'must not contain control characters')
  .nullable()
  .transform((value) => value || null);

const smtpUrl = z
  .string()
  .max(2048)
  .regex(/^smtps?:\/\//, 'must be an smtp:// or smtps:// URL')
  .pipe(z.url({ protocol: /^smtps?$/, hostname: /^\S+$/, error: 'must be an smtp:// or smtps:// URL' }));

// Strict: a misspelt policy field must not be answered with a silent 200.
const settingsBody = z.strictObject({
  is_self_sign_up_enabled: z.boolean().optional(),
  is_access_request_enabled: z.boolean().optional(),
  is_sign_in_to_most_recent_org: z.boolean().optional(),
  attack_protection: z
    .strictObject({
      max_attempts: z.number().int().min(1).max(100).optional(),
      lockout_seconds: z.number().int().min(1).max(86_400).optional(),
    })
    .optional(),
  sso_session: z
    .strictObject({
      persistence_mode: z.enum(['persistent', 'non_persistent']).optional(),
      /** Seconds; null turns the inactivity timeout off. */
      inactivity_timeout: z.number().int().min(60).max(31_536_000).nullable().optional(),
    })
    .optional(),
  email: z
    .strictObject({
      sender_name: displayName.optional(),
      /** Write-only: it carries credentials. `null` returns to the server's SMTP_URL. */
      smtp_url: smtpUrl.nullable().optional(),
      has_custom_smtp: z.undefined({ error: 'is read-only: set smtp_url, or null to clear it' }).optional(),
    })
    .optional(),
  business_name: displayName.optional(),
});

/** Only the fields given: the domain spreads this over the current policy. */
function attackProtectionPatch(input: { max_attempts?: number | undefined; lockout_seconds?: number | undefined } = {}): Partial<AttackProtectionPolicy> {
  return {
    ...(input.max_attempts === undefined ? {} : { maxAttempts: input.max_attempts }),
    ...(input.lockout_seconds === undefined ? {} : { lockoutSeconds: input.lockout_seconds }),
  };
}

const settingsSchema = z.object({
  is_self_sign_up_enabled: z.boolean(),
  is_access_request_enabled: z.boolean(),
  is_sign_in_to_most_recent_org: z.boolean(),
  attack_protection: z.object({ max_attempts: z.number().int(), lockout_seconds: z.number().int() }),
  sso_session: z.object({ persistence_mode: z.enum(['persistent', 'non_persistent']), inactivity_timeout: z.number().int().nullable() }),
  email: z.object({ sender_name: z.string().nullable(), has_custom_smtp: z.boolean() }),
  business_name: z.string().nullable(),
});
const settingsResponse = okWith({ settings: settingsSchema });

function settingsJson(policy: EnvironmentPolicy): z.input<typeof settingsSchema> {
  return {
    is_self_sign_up_enabled: policy.allowSelfSignUp,
    is_access_request_enabled: policy.allowAccessRequests,
    is_sign_in_to_most_recent_org: policy.signInToMostRecentOrganization,
    attack_protection: { max_attempts: policy.attackProtection.maxAttempts, lockout_seconds: policy.attackProtection.lockoutSeconds },
    sso_session: { persistence_mode: policy.sessions.persistent ? 'persistent' : 'non_persistent', inactivity_timeout: policy.sessions.inactivityTimeoutSeconds },
    email: { sender_name: policy.email.senderName ?? null, has_custom_smtp: policy.email.smtpUrlSealed !== undefined },
    business_name: policy.businessName ?? null,
  };
}

export function environmentRoutes(router: Router, services: Services): void {
  const { db, masterKey } = services;

  route(router, { method: 'GET', path: '/environment/settings', scope: 'read:environments', summary: "Get the environment's policies", response: settingsResponse }, async () => {
    return { ...OK, settings: settingsJson(await environmentPolicy(db)) };
  });

  route(router, { method: 'PATCH', path: '/environment/settings', scope: 'update:environments', summary: "Change the environment's policies", body: settingsBody, response: settingsResponse }, async ({ body }) => {
    assertThat(
      body.is_self_sign_up_enabled !== true || (await someOrganizationAllowsRegistrations(db)),
      'LAST_OPEN_ORGANIZATION',
      'Self sign-up needs at least one organization that allows sign-ups (section 021): open one first',
    );
    const smtpUrl = body.email?.smtp_url;
    const policy = await updateEnvironmentPolicy(db, {
      allowSelfSignUp: body.is_self_sign_up_enabled,
      allowAccessRequests: body.is_access_request_enabled,
      signInToMostRecentOrganization: body.is_sign_in_to_most_recent_org,
      attackProtection: attackProtectionPatch(body.attack_protection),
      sessions: {
        ...(body.sso_session?.persistence_mode === undefined ? {} : { persistent: body.sso_session.persistence_mode === 'persistent' }),
        ...(body.sso_session?.inactivity_timeout === undefined ? {} : { inactivityTimeoutSeconds: body.sso_session.inactivity_timeout }),
      },
      email: {
        senderName: body.email?.sender_name,
        smtpUrlSealed: smtpUrl === undefined || smtpUrl === null ? smtpUrl : masterKey.seal(smtpUrl, 'environment-smtp-url'),
      },
      businessName: body.business_name,
    });
    return { ...OK, settings: settingsJson(policy) };
  });
}
