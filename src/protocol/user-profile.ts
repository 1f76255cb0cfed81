import type { Context } from 'koa';
import { findApplication } from '../domain/applications.ts';
import { findUser, primaryIdentity } from '../domain/users.ts';
import type { Db } from '../store/db.ts';
import { userClaims } from './accounts.ts';
import { type AccessTokenVerifier, bearerToken } from './access-tokens.ts';

function invalidToken(ctx: Context, description: string): void {
  ctx.status = 401;
  ctx.set('WWW-Authenticate', `Bearer error="invalid_token", error_description="${description}"`);
  ctx.body = { error: 'invalid_token', error_description: description };
}

async function userFromBearer(ctx: Context, db: Db, verify: AccessTokenVerifier) {
  const token = bearerToken(ctx.get('authorization'));
  if (!token) return invalidToken(ctx, 'a Bearer access token is required');
  const claims = await verify(token);
  if (!claims) return invalidToken(ctx, 'the access token is invalid or expired');
  const user = await findUser(db, claims.sub);
  if (!user || user.isSuspended) return invalidToken(ctx, 'the access token does not belong to an active user');
  ctx.set('Cache-Control', 'no-store');
  const app = claims.azp ? await findApplication(db, claims.azp) : undefined;
  return { user, claims: userClaims(user, { gravatarFallback: app?.useGravatarFallback ?? true }) };
}

/** `GET /oauth2/v2/user_profile`: what the TS SDK's `getUserProfile()` reads; also the OIDC userinfo. */
export function userProfileV2(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context): Promise<void> => {
    const found = await userFromBearer(ctx, db, verify());
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
export function userProfileV1(db: Db, verify: () => AccessTokenVerifier) {
  return async (ctx: Context): Promise<void> => {
    const found = await userFromBearer(ctx, db, verify());
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
