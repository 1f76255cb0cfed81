import type { Grant } from 'oidc-provider';
import { audienceGrants, findApiByAudience } from '../../domain/apis.ts';
import { memberAccess } from '../../domain/roles.ts';
import { audiencesOf, NO_AUDIENCE } from '../../protocol/audiences.ts';
import type { Db } from '../../store/db.ts';
import type { ConsentAudience } from '../../ui/pages/device.tsx';

/** The OpenID scopes a device may ask for; everything else it asks for belongs to an audience. */
const OPENID_SCOPES = new Set(['openid', 'profile', 'email', 'phone', 'offline']);

/** What the consent screen shows and, once allowed, exactly what the device's grant holds. */
export interface DeviceConsent {
  /** The resource indicators of the request (the audience set, see protocol/audiences.ts). */
  resources: string[];
  /** Every scope the device asked for (all of its audiences' scopes included, protocol/kinde-requests.ts). */
  requested: string[];
  /** The OpenID scopes asked for, granted as asked. */
  openIdScopes: string[];
  /** Per audience, the scopes this person's roles grant in the organization the grant speaks for. */
  audiences: ConsentAudience[];
}

/** Section 027: of an audience's scopes, a device gets those the person holds as permissions. */
export function scopesGrantedByRoles(audienceScopes: readonly string[], permissions: readonly string[]): string[] {
  const held = new Set(permissions);
  return audienceScopes.filter((scope) => held.has(scope));
}

const asList = (value: unknown): string[] => (typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);

export async function deviceConsentFor(db: Db, request: Record<string, unknown>, applicationId: string, userId: string, organizationCode: string): Promise<DeviceConsent> {
  const requested = [...new Set(asList(request.scope).flatMap((scope) => scope.split(' ')).filter((scope) => scope.length > 0))];
  const resources = asList(request.resource);
  if (resources.length === 0) resources.push(NO_AUDIENCE);
  const audiences = [...new Set(resources.flatMap((resource) => audiencesOf(resource) ?? []))];
  const grants = await audienceGrants(db, applicationId, audiences);
  const { permissions } = await memberAccess(db, organizationCode, userId);
  const perAudience = 'refused' in grants ? [] : grants;
  return {
    resources,
    requested,
    openIdScopes: requested.filter((scope) => OPENID_SCOPES.has(scope)),
    audiences: await Promise.all(
      perAudience.map(async (grant) => ({
        audience: grant.audience,
        name: (await findApiByAudience(db, grant.audience))?.name ?? grant.audience,
        scopes: scopesGrantedByRoles(grant.scopes, permissions).filter((scope) => requested.includes(scope)),
      })),
    ),
  };
}

/**
 * The device's grant: the OpenID scopes it asked for and the audience scopes the person's roles give.
 * The rest of what it asked for is recorded as refused, so the engine does not ask again.
 */
export function grantDeviceConsent(grant: Grant, consent: DeviceConsent): void {
  const granted = new Set([...consent.openIdScopes, ...consent.audiences.flatMap((audience) => audience.scopes)]);
  const refused = consent.requested.filter((scope) => !granted.has(scope));
  if (consent.openIdScopes.length > 0) grant.addOIDCScope(consent.openIdScopes.join(' '));
  for (const resource of consent.resources) {
    if (granted.size > 0) grant.addResourceScope(resource, [...granted].join(' '));
    if (refused.length > 0) grant.rejectResourceScope(resource, refused.join(' '));
  }
}
