import { type Configuration, type Grant, interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { deviceSuccessSource, userCodeConfirmSource, userCodeInputSource } from './device-pages.ts';

/**
 * The device authorization grant (RFC 8628) as Kinde documents it (sections 026–029): 8-character
 * user codes, codes valid for 600 seconds, polling every 5 seconds.
 */
export const DEVICE_CODE_LIFETIME_SECONDS = 600;
export const POLLING_INTERVAL_SECONDS = 5;
/** RFC 8628 §3.5: each `slow_down` adds 5 seconds to the interval for that and every later poll. */
export const SLOW_DOWN_SECONDS = 5;

type DeviceFlowFeature = NonNullable<NonNullable<Configuration['features']>['deviceFlow']>;

export const deviceFlowFeature: DeviceFlowFeature = {
  enabled: true,
  // BCDFGHJKLMNPQRSTVWXZ: no vowels (no words), no 0/O or 1/I look-alikes; 20^8 ≈ 2^34.6 codes
  // (RFC 8628 §6.1), shown and typed as XXXXXXXX (section 027). Input is upper-cased and stripped of
  // dashes and spaces by the engine before lookup.
  charset: 'base-20',
  mask: '********',
  userCodeInputSource,
  userCodeConfirmSource,
  successSource: deviceSuccessSource,
};

/** The routes on which a person approves a device: the code page and the return from sign-in. */
export function isDeviceVerification(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.route === 'code_verification' || ctx.oidc.route === 'device_resume';
}

export const DEVICE_CONSENT_REASON = 'device_consent_required';

/**
 * A device is not the browser the person is using, so it never inherits a grant silently: every
 * device authorization asks for consent (DESIGN.md §4 step 9), even with an SSO session.
 */
export function addDeviceConsentCheck(policy: interactionPolicy.DefaultPolicy): void {
  policy.get('consent')!.checks.add(
    new interactionPolicy.Check(DEVICE_CONSENT_REASON, 'the person must allow the device', 'consent_required', (ctx: KoaContextWithOIDC) =>
      isDeviceVerification(ctx) && !ctx.oidc.result?.consent ? interactionPolicy.Check.REQUEST_PROMPT : interactionPolicy.Check.NO_NEED_TO_PROMPT,
    ),
  );
}

/**
 * The grant a device gets is exactly what the person allowed on the consent screen: no earlier grant
 * of the browser is reused, and nothing requested is added to it afterwards.
 */
export async function consentedDeviceGrant(ctx: KoaContextWithOIDC): Promise<Grant | undefined> {
  const grantId = ctx.oidc.result?.consent?.grantId;
  return grantId ? ctx.oidc.provider.Grant.find(grantId) : undefined;
}
