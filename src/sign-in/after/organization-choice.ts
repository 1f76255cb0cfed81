import type { EnvironmentPolicy } from '../../domain/environment.ts';
import {
  addMember,
  createOrganization,
  defaultOrganization,
  findOrganization,
  isMember,
  joinDecision,
  mostRecentOrganization,
  organizationsOf,
} from '../../domain/organizations.ts';
import { membershipData, organizationData } from '../../domain/events/payloads.ts';
import { recordEvent } from '../../domain/events/outbox.ts';
import { creatorRoleKeys } from '../../domain/roles.ts';
import { primaryIdentity, type User } from '../../domain/users.ts';
import { type Db, inTransaction } from '../../store/db.ts';

const memberAdded = (code: string, userId: string) => ({ type: 'organization.user_added', actor: userId, subject: userId, data: membershipData(code, userId) });

/** A membership made at sign-in, with its event in the same transaction (DESIGN.md §5b). */
async function joined(db: Db, code: string, userId: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    if (await addMember(tx, code, userId)) await recordEvent(tx, memberAdded(code, userId));
  });
}

export type OrganizationChoice =
  | { organizationCode: string }
  | { switcher: Array<{ code: string; name: string }> }
  | { refused: 'unknown_organization' | 'not_member' | 'domain_not_allowed' };

export interface OrganizationRequest {
  /** `org_code` from the authorization request. */
  organizationCode?: string;
  /** `is_create_org=true` with `org_name`: sign up and create an organization (section 018). */
  createOrganizationNamed?: string;
}

/**
 * Which organization a signed-in person's tokens speak for (DESIGN.md §4 step 8): the requested one
 * (joining it when its policy allows), a new one they create, their only one, the most recent one
 * when the environment says so, or a choice among several.
 */
export async function chooseOrganization(db: Db, user: User, request: OrganizationRequest, policy: EnvironmentPolicy): Promise<OrganizationChoice> {
  if (request.createOrganizationNamed !== undefined) {
    const name = request.createOrganizationNamed.trim() || `${user.firstName ?? primaryIdentity(user, 'email')?.value ?? 'My'}'s organization`;
    const organization = await inTransaction(db, async (tx) => {
      const created = await createOrganization(tx, { name });
      const creatorRoles = await creatorRoleKeys(tx);
      await addMember(tx, created.code, user.id, creatorRoles.length > 0 ? { roleKeys: creatorRoles } : {});
      await recordEvent(tx, { type: 'organization.created', actor: user.id, subject: created.code, data: (await organizationData(tx, created.code))! });
      await recordEvent(tx, memberAdded(created.code, user.id));
      return created;
    });
    return { organizationCode: organization.code };
  }

  if (request.organizationCode) {
    const organization = await findOrganization(db, request.organizationCode);
    if (!organization) return { refused: 'unknown_organization' };
    const email = primaryIdentity(user, 'email');
    const decision = joinDecision({
      policy: organization.policy,
      email: email?.value,
      emailVerified: email?.isVerified ?? false,
      isMember: await isMember(db, organization.code, user.id),
    });
    if (decision === 'refuse_domain') return { refused: 'domain_not_allowed' };
    if (decision === 'refuse_not_member') return { refused: 'not_member' };
    if (decision !== 'member') await joined(db, organization.code, user.id);
    return { organizationCode: organization.code };
  }

  const organizations = await organizationsOf(db, user.id);
  if (organizations.length === 0) {
    const fallback = await defaultOrganization(db);
    await joined(db, fallback.code, user.id);
    return { organizationCode: fallback.code };
  }
  if (organizations.length === 1) return { organizationCode: organizations[0]!.code };
  if (policy.signInToMostRecentOrganization) {
    const recent = await mostRecentOrganization(db, user.id);
    if (recent) return { organizationCode: recent.code };
  }
  return { switcher: organizations };
}
