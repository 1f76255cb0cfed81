import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';

/**
 * Which organization a grant speaks for. Every token issued from the grant (the first access token,
 * each refresh) carries that organization's `org_code`, roles, permissions and flags, read afresh
 * each time (so `refresh_claims` takes effect on the next token, section 050).
 */
export async function organizationOfGrant(db: Db, grantId: string | undefined): Promise<string | undefined> {
  if (!grantId) return undefined;
  const row = await db.selectFrom('grant_organizations').select('organization_code').where('grant_id', '=', grantId).executeTakeFirst();
  return row?.organization_code;
}

/** The organization of each of these grants that has one. */
export async function organizationsOfGrants(db: Db, grantIds: readonly string[]): Promise<Map<string, string>> {
  if (grantIds.length === 0) return new Map();
  const rows = await db.selectFrom('grant_organizations').select(['grant_id', 'organization_code']).where('grant_id', 'in', [...grantIds]).execute();
  return new Map(rows.map((row) => [row.grant_id, row.organization_code]));
}

export async function rememberGrantOrganization(db: Db, grantId: string, organizationCode: string, lifetimeSeconds: number): Promise<void> {
  const row = { organization_code: organizationCode, expires_at: clock.now() + lifetimeSeconds * 1000 };
  await db
    .insertInto('grant_organizations')
    .values({ grant_id: grantId, ...row })
    .onConflict((oc) => oc.column('grant_id').doUpdateSet(row))
    .execute();
}

export async function deleteExpiredGrantOrganizations(db: Db): Promise<void> {
  await db.deleteFrom('grant_organizations').where('expires_at', '<', clock.now()).execute();
}
