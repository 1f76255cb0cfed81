import type { Context } from 'koa';
import { findApplication } from '../domain/applications.ts';
import { findUser, primaryIdentity } from '../domain/users.ts';
import type { Db } from '../store/db.ts';
import { userClaims } from './accounts.ts';
import { type AccessTokenAuthenticator, challenge, invalidToken, type TokenRefusal } from './access-token-authentication.ts';

function refuse(ctx: Context, refusal: TokenRefusal): void {
  ctx.status = 401;
  ctx.set('WWW-Authenticate', challenge(refusal));
  ctx.body = { error: refusal.error, error_description: refusal.description };
}

async function userFromAccessToken(ctx: Context, db: Db, authenticate: AccessTokenAuthenticator) {
  const checked = await authenticate(ctx);
  if (checked.refusal) return refuse(ctx, checked.refusal);
  const { token, scheme } = checked;
  const user = await findUser(db, token.sub);
  if (!user || user.isSuspended) return refuse(ctx, invalidToken(scheme, 'the access token does not belong to an active user'));
  ctx.set('Cache-Control', 'no-store');
  const app = token.azp ? await findApplication(db, token.azp) : undefined;
  return { user, claims: userClaims(user, { gravatarFallback: app?.useGravatarFallback ?? true }) };
}

/** `GET /oauth2/v2/user_profile`: what the TS SDK's `getUserProfile()` reads; also the OIDC userinfo. */
export function userProfileV2(db: Db, authenticate: AccessTokenAuthenticator) {
  return async (ctx: Context): Promise<void> => {
    const found = await userFromAccessToken(ctx, db, authenticate);
    if (!found) return;
    const { user, claims } = found;
    ctx.body = {
      sub: user.id,
      id: user.id,
      provided_id: user.providedId,
      name: claims.name ?? null,
      given_name: user.firstName,
      family_name: user.lastName,
      updated_at: claims.updated_at,
      email: claims.email ?? null,
      email_verified: claims.email_verified ?? false,
      picture: claims.picture ?? null,
      preferred_username: claims.preferred_username ?? null,
    };
  };
}

/** `GET /oauth2/user_profile`: the older shape the generated client reads. */
export function userProfileV1(db: Db, authenticate: AccessTokenAuthenticator) {
  return async (ctx: Context): Promise<void> => {
    const found = await userFromAccessToken(ctx, db, authenticate);
    if (!found) return;
    const { user, claims } = found;
    ctx.body = {
      id: user.id,
      preferred_email: primaryIdentity(user, 'email')?.value ?? null,
      username: primaryIdentity(user, 'username')?.value ?? null,
      provided_id: user.providedId,
      last_name: user.lastName,
      first_name: user.firstName,
      picture: claims.picture ?? null,
    };
  };
}
