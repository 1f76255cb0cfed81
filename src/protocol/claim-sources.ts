import { membershipsForTokens } from '../domain/organizations.ts';
import type { Db } from '../store/db.ts';
import { grantFacts } from './grant-organizations.ts';

type Memberships = Awaited<ReturnType<typeof membershipsForTokens>>;
type GrantFacts = Awaited<ReturnType<typeof grantFacts>>;

const readsOfRequest = new WeakMap<object, Map<string, Promise<unknown>>>();

/** One read per request and key: the access token and the ID token of one response share it. */
function oncePerRequest<T>(ctx: object, key: string, read: () => Promise<T>): Promise<T> {
  let reads = readsOfRequest.get(ctx);
  if (!reads) readsOfRequest.set(ctx, (reads = new Map()));
  let pending = reads.get(key) as Promise<T> | undefined;
  if (!pending) reads.set(key, (pending = read()));
  return pending;
}

/** A person's organizations: org_code, org_name and ksp in the access token; org_codes and organizations in the ID token. */
export function membershipsInRequest(ctx: object, db: Db, userId: string): Promise<Memberships> {
  return oncePerRequest(ctx, `memberships:${userId}`, () => membershipsForTokens(db, userId));
}

/** What the sign-in decided for a grant (grant-organizations.ts): the organization and `ext_groups`. */
export function grantFactsInRequest(ctx: object, db: Db, grantId: string | undefined): Promise<GrantFacts> {
  if (!grantId) return Promise.resolve(undefined);
  return oncePerRequest(ctx, `grant:${grantId}`, () => grantFacts(db, grantId));
}
