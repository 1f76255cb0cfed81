import type Router from '@koa/router';
import { z } from 'zod';
import { environmentPolicy, updateEnvironmentPolicy } from '../domain/environment.ts';
import { listFactors, type MfaFactor, remainingRecoveryCodes, resetMfa } from '../domain/mfa.ts';
import { canonicalFactors, type EnvironmentMfaPolicy, type FactorType, type OrganizationMfaPolicy } from '../domain/mfa-policy.ts';
import { organizationMfaPolicy, requireMember, requireOrganization, updateOrganizationMfaPolicy } from '../domain/organizations.ts';
import { requireUser } from '../domain/users.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { dateTime, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

/**
 * MFA in Kinde's shapes (sections 052–054): `PUT /mfa`, `PUT /organizations/{code}/mfa`, a person's
 * factors and their reset, directly and through an organization. Gatehouse extensions: `GET` of both
 * policies, and on the organization's `PUT` the enforcement switch and the exemptions Kinde sets only
 * in its dashboard.
 */

const FACTOR_FROM_KINDE = { 'mfa:authenticator_app': 'totp', 'mfa:email': 'email', 'mfa:sms': 'sms' } as const satisfies Record<string, FactorType>;
const FACTOR_TO_KINDE: Record<FactorType, keyof typeof FACTOR_FROM_KINDE> = { totp: 'mfa:authenticator_app', email: 'mfa:email', sms: 'mfa:sms' };
/** The `type` of a person's factor, as Kinde names it ("email, SMS, authenticator app"). */
const FACTOR_TYPE_NAMES = { totp: 'authenticator_app', email: 'email', sms: 'sms' } as const satisfies Record<FactorType, string>;

const enabledFactors = z
  .array(z.enum(Object.keys(FACTOR_FROM_KINDE) as [keyof typeof FACTOR_FROM_KINDE]))
  .max(3)
  .transform((names) => canonicalFactors(names.map((name) => FACTOR_FROM_KINDE[name])));

/** Recovery codes are always offered (issue 6); turning them off is refused rather than ignored. */
const recoveryCodesEnabled = z.literal(true, { error: 'only true is supported: Gatehouse always gives recovery codes' }).optional();

const environmentBody = z
  .object({
    policy: z.enum(['off', 'optional', 'required']),
    enabled_factors: enabledFactors,
    is_recovery_codes_enabled: recoveryCodesEnabled,
  })
  .refine((body) => body.policy === 'off' || body.enabled_factors.length > 0, {
    path: ['enabled_factors'],
    message: 'name at least one factor, unless the policy is off',
  });

const keys = z.array(z.string().min(1).max(255)).max(100);

/**
 * Kinde's body is the organization's factors (empty: the environment's). Gatehouse extensions, each
 * left as it was when absent (Kinde's clients never send them): `is_enforce_mfa` (also on
 * `PATCH /organization/{code}`), `exempt_role_keys`, `exempt_connection_ids` (enterprise connections).
 */
const organizationBody = z.object({
  enabled_factors: enabledFactors,
  is_recovery_codes_enabled: recoveryCodesEnabled,
  is_enforce_mfa: z.boolean().optional(),
  exempt_role_keys: keys.optional(),
  exempt_connection_ids: keys.optional(),
});

const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

const kindeFactor = z.enum(Object.keys(FACTOR_FROM_KINDE) as [keyof typeof FACTOR_FROM_KINDE]);
const environmentMfaSchema = z.object({ policy: z.enum(['off', 'optional', 'required']), enabled_factors: z.array(kindeFactor), is_recovery_codes_enabled: z.boolean() });
const organizationMfaSchema = z.object({
  is_enforce_mfa: z.boolean(),
  enabled_factors: z.array(kindeFactor),
  is_recovery_codes_enabled: z.boolean(),
  exempt_role_keys: z.array(z.string()),
  exempt_connection_ids: z.array(z.string()),
});
const factorSchema = z.object({
  id: z.string(),
  type: z.enum(['authenticator_app', 'email', 'sms']),
  created_on: dateTime,
  name: z.string(),
  is_verified: z.boolean(),
  usage_count: z.number().int(),
  last_used_on: dateTime.nullable(),
});
const userMfaResponse = okWith({ mfa: factorSchema.optional(), factors: z.array(factorSchema), recovery_codes_remaining: z.number().int() });

function environmentMfaJson(policy: EnvironmentMfaPolicy): z.input<typeof environmentMfaSchema> {
  return { policy: policy.mode, enabled_factors: policy.factors.map((factor) => FACTOR_TO_KINDE[factor]), is_recovery_codes_enabled: true };
}

function organizationMfaJson(policy: OrganizationMfaPolicy): z.input<typeof organizationMfaSchema> {
  return {
    is_enforce_mfa: policy.enforced,
    enabled_factors: policy.factors.map((factor) => FACTOR_TO_KINDE[factor]),
    is_recovery_codes_enabled: true,
    exempt_role_keys: policy.exemptRoleKeys,
    exempt_connection_ids: policy.exemptConnectionIds,
  };
}

/** Kinde's `get_user_mfa_response.mfa`. */
function factorJson(factor: MfaFactor): z.input<typeof factorSchema> {
  return {
    id: factor.id,
    type: FACTOR_TYPE_NAMES[factor.type],
    created_on: new Date(factor.createdAt).toISOString(),
    name: factor.destination ?? 'Authenticator app',
    is_verified: factor.isVerified,
    usage_count: factor.usageCount,
    last_used_on: isoOrNull(factor.lastUsedAt),
  };
}

export function mfaRoutes(router: Router, services: Services): void {
  const { db } = services;

  /**
   * Kinde's response has one `mfa` object: the person's first proven factor (else their first). Every
   * factor is in the Gatehouse extension `factors`, with the recovery codes left unused.
   */
  async function userMfaJson(userId: string): Promise<z.input<typeof userMfaResponse>> {
    const factors = await listFactors(db, userId);
    const shown = factors.find((factor) => factor.isVerified) ?? factors[0];
    return {
      ...OK,
      ...(shown ? { mfa: factorJson(shown) } : {}),
      factors: factors.map(factorJson),
      recovery_codes_remaining: await remainingRecoveryCodes(db, userId),
    };
  }

  async function personOf(params: { user_id: string }): Promise<string> {
    return (await requireUser(db, params.user_id)).id;
  }

  /**
   * A person's factors are theirs, not one organization's: through an organization they are read and
   * reset as a whole, once the organization and the membership are known (404 otherwise).
   */
  async function memberOf(params: { org_code: string; user_id: string }): Promise<string> {
    const organization = await requireOrganization(db, params.org_code);
    const user = await requireUser(db, params.user_id);
    await requireMember(db, organization.code, user.id);
    return user.id;
  }

  route(router, { method: 'GET', path: '/mfa', scope: 'read:environments', summary: "Get the environment's MFA policy", response: okWith({ mfa: environmentMfaSchema }) }, async () => {
    return { ...OK, mfa: environmentMfaJson((await environmentPolicy(db)).mfa) };
  });

  route(router, { method: 'PUT', path: '/mfa', scope: 'update:environments', summary: "Set the environment's MFA policy", body: environmentBody, response: okResponse }, async ({ body }) => {
    await updateEnvironmentPolicy(db, { mfa: { mode: body.policy, factors: body.enabled_factors } });
    return OK;
  });

  route(
    router,
    { method: 'GET', path: '/organizations/:org_code/mfa', scope: 'read:organizations', summary: "Get an organization's MFA policy", response: okWith({ mfa: organizationMfaSchema }) },
    async ({ params }) => {
      return { ...OK, mfa: organizationMfaJson(await organizationMfaPolicy(db, params.org_code)) };
    },
  );

  route(
    router,
    { method: 'PUT', path: '/organizations/:org_code/mfa', scope: 'update:organizations', summary: "Set an organization's MFA policy", body: organizationBody, response: okResponse },
    async ({ params, body }) => {
      await updateOrganizationMfaPolicy(db, params.org_code, {
        enforced: body.is_enforce_mfa,
        factors: body.enabled_factors,
        exemptRoleKeys: body.exempt_role_keys,
        exemptConnectionIds: body.exempt_connection_ids,
      });
      return OK;
    },
  );

  route(router, { method: 'GET', path: '/users/:user_id/mfa', scope: 'read:users', summary: "Get a user's MFA factors", response: userMfaResponse }, async ({ params }) => {
    return userMfaJson(await personOf(params));
  });

  route(router, { method: 'DELETE', path: '/users/:user_id/mfa', scope: 'update:users', summary: "Reset a user's MFA", response: okResponse }, async ({ params }) => {
    await resetMfa(db, await personOf(params));
    return OK;
  });

  route(router, { method: 'DELETE', path: '/users/:user_id/mfa/:factor_id', scope: 'update:users', summary: "Remove one of a user's MFA factors", response: okResponse }, async ({ params }) => {
    await resetMfa(db, await personOf(params), params.factor_id);
    return OK;
  });

  route(
    router,
    { method: 'GET', path: '/organizations/:org_code/users/:user_id/mfa', scope: 'read:users', summary: "Get a member's MFA factors", response: userMfaResponse },
    async ({ params }) => {
      return userMfaJson(await memberOf(params));
    },
  );

  route(router, { method: 'DELETE', path: '/organizations/:org_code/users/:user_id/mfa', scope: 'update:users', summary: "Reset a member's MFA", response: okResponse }, async ({ params }) => {
    await resetMfa(db, await memberOf(params));
    return OK;
  });

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/users/:user_id/mfa/:factor_id', scope: 'update:users', summary: "Remove one of a member's MFA factors", response: okResponse },
    async ({ params }) => {
      await resetMfa(db, await memberOf(params), params.factor_id);
      return OK;
    },
  );
}
