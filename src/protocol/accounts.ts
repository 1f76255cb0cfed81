import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import { claimSetInRequest } from './claim-sources.ts';
import { displayName, findUser, gravatarUrl, primaryIdentity, type User } from '../domain/users.ts';
import type { Db } from '../store/db.ts';
import { accountStands } from './account-standing.ts';

/**
 * The OpenID Connect claims of a user, in Kinde's shape (contract doc, "ID token claims"). Without a
 * picture of their own, people get their Gravatar unless the application turned that off (section 019).
 */
export function userClaims(user: User, options: { gravatarFallback: boolean } = { gravatarFallback: true }): Record<string, unknown> {
  const email = primaryIdentity(user, 'email');
  const phone = primaryIdentity(user, 'phone');
  const username = primaryIdentity(user, 'username');
  return {
    sub: user.id,
    name: displayName(user),
    given_name: user.firstName ?? undefined,
    family_name: user.lastName ?? undefined,
    picture: user.picture ?? (email && options.gravatarFallback ? gravatarUrl(email.value) : undefined),
    updated_at: Math.floor(user.updatedAt / 1000),
    email: email?.value,
    email_verified: email ? email.isVerified : undefined,
    phone: phone?.value,
    preferred_username: username?.value,
  };
}

/** Scope → claims released in the ID token (`conformIdTokenClaims` is off, as Kinde's ID tokens carry them). */
export const CLAIMS_BY_SCOPE = {
  openid: ['sub', 'azp', 'org_codes', 'organizations', 'amr', 'ext_groups'],
  profile: ['name', 'given_name', 'family_name', 'picture', 'updated_at', 'preferred_username'],
  email: ['email', 'email_verified'],
  phone: ['phone'],
};

export function accountFinder(db: Db) {
  return async (ctx: KoaContextWithOIDC, sub: string, token?: { grantId?: string | undefined }): Promise<Account | undefined> => {
    // With a grant (a code or a refresh token redeemed), the tokens' claims are read with the person, in
    // one statement. Without one, only the account's standing; the person is read if claims are asked for.
    let user: User | undefined;
    if (token?.grantId) {
      user = (await claimSetInRequest(db, sub, token.grantId)).user;
      if (!user || user.isSuspended) return undefined;
    } else if (!(await accountStands(db, sub))) {
      return undefined;
    }
    const client = ctx.oidc?.client;
    const gravatarFallback = client?.['gatehouse_gravatar'] !== false;
    return {
      accountId: sub,
      claims: async () => {
        user ??= await findUser(db, sub);
        // Deleted since its standing was read, within this request: nothing to say but who it was.
        if (!user) return { sub };
        const { memberships: organizations, grant } = await claimSetInRequest(db, user.id, token?.grantId);
        return {
          ...userClaims(user, { gravatarFallback }),
          // Kinde's ID tokens name the application they were issued to (OIDC Core §2 allows `azp` with one audience).
          azp: client?.clientId,
          org_codes: organizations.map((org) => org.code),
          // Section 045: the switcher's list, when the application asks for it.
          ...(client?.['gatehouse_organizations_in_id_token'] ? { organizations: organizations.map((org) => ({ id: org.code, name: org.name })) } : {}),
          // Section 032: an enterprise IdP's groups, in the ID token as in the access token.
          ...(grant?.externalGroups ? { ext_groups: grant.externalGroups } : {}),
        } as unknown as Awaited<ReturnType<Account["claims"]>>;
      },
    };
  };
}
