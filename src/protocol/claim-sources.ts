import { membershipsForTokens } from '../domain/organizations.ts';
import type { Db } from '../store/db.ts';
import { grantFacts } from './grant-organizations.ts';

type Memberships = Awaited<ReturnType<typeof membershipsForTokens>>;
type GrantFacts = Awaited<ReturnType<typeof grantFacts>>;

const perRequest = new WeakMap<object, Map<string, Promise<Memberships>>>();
const grantsPerRequest = new WeakMap<object, Map<string, Promise<GrantFacts>>>();

/**
 * A person's organizations, read once per request: the access token (org_code, org_name, ksp) and the
 * ID token (org_codes, organizations) of one token response both speak of them.
 */
export function membershipsInRequest(ctx: object, db: Db, userId: string): Promise<Memberships> {
  let cache = perRequest.get(ctx);
  if (!cache) perRequest.set(ctx, (cache = new Map()));
  let read = cache.get(userId);
  if (!read) cache.set(userId, (read = membershipsForTokens(db, userId)));
  return read;
}

/** What the sign-in decided for a grant (grant-organizations.ts), read once per request for both tokens. */
export function grantFactsInRequest(ctx: object, db: Db, grantId: string | undefined): Promise<GrantFacts> {
  if (!grantId) return Promise.resolve(undefined);
  let cache = grantsPerRequest.get(ctx);
  if (!cache) grantsPerRequest.set(ctx, (cache = new Map()));
  let read = cache.get(grantId);
  if (!read) cache.set(grantId, (read = grantFacts(db, grantId)));
  return read;
}
