import { membershipsForTokens } from '../domain/organizations.ts';
import type { Db } from '../store/db.ts';

type Memberships = Awaited<ReturnType<typeof membershipsForTokens>>;

const perRequest = new WeakMap<object, Map<string, Promise<Memberships>>>();

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
