import type { Expression } from 'kysely';
import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { readAlong } from './request-reads.ts';

/**
 * Which organization a grant speaks for. Every token issued from the grant (the first access token,
 * each refresh) carries that organization's `org_code`, roles, permissions and flags, read afresh
 * each time (so `refresh_claims` takes effect on the next token, section 050).
 */
export async function organizationOfGrant(db: Db, grantId: string | undefined): Promise<string | undefined> {
  return (await grantFacts(db, grantId))?.organizationCode;
}

export interface GrantFacts {
  organizationCode: string;
  externalGroups: string[] | undefined;
}

export const grantFactsQuery = (db: Db, grantId: string | null | Expression<string | null>) =>
  db.selectFrom('grant_organizations').select(['organization_code', 'external_groups']).where('grant_id', '=', grantId);

const factsOfGrant = preparedQuery((db, { grantId }: { grantId: string }) => grantFactsQuery(db, grantId));

export function toGrantFacts(row: { organization_code: string; external_groups: string | null } | null | undefined): GrantFacts | undefined {
  if (!row) return undefined;
  return { organizationCode: row.organization_code, externalGroups: row.external_groups === null ? undefined : (JSON.parse(row.external_groups) as string[]) };
}

/** Read along with the grant itself (model-reads.ts), by grant id. */
const grantFactsRead = readAlong<string, GrantFacts | undefined>('grant facts');

export function rememberGrantFacts(grantId: string, facts: GrantFacts | undefined): void {
  grantFactsRead.remember(grantId, facts);
}

/**
 * What the sign-in that made a grant decided, for the tokens issued from it: the organization, and the
 * groups an enterprise IdP said the person is in (`ext_groups`, section 032) — one read per token.
 */
export async function grantFacts(db: Db, grantId: string | undefined): Promise<GrantFacts | undefined> {
  if (!grantId) return undefined;
  const read = grantFactsRead.recall(grantId);
  if (read) return read.value;
  return toGrantFacts((await factsOfGrant(db, { grantId })).rows[0]);
}

/** The organization of each of these grants that has one. */
export async function organizationsOfGrants(db: Db, grantIds: readonly string[]): Promise<Map<string, string>> {
  if (grantIds.length === 0) return new Map();
  const rows = await db.selectFrom('grant_organizations').select(['grant_id', 'organization_code']).where('grant_id', 'in', [...grantIds]).execute();
  return new Map(rows.map((row) => [row.grant_id, row.organization_code]));
}

export async function rememberGrantOrganization(db: Db, grantId: string, organizationCode: string, lifetimeSeconds: number, externalGroups?: string[]): Promise<void> {
  grantFactsRead.forget(grantId);
  const row = { grantId, organizationCode, expiresAt: clock.now() + lifetimeSeconds * 1000 };
  // A silent re-grant (interaction-policy.ts) passes no groups and keeps what the federated sign-in said.
  if (externalGroups) await upsertGrantOrganizationWithGroups(db, { ...row, externalGroups: JSON.stringify(externalGroups) });
  else await upsertGrantOrganization(db, row);
}

interface GrantOrganizationRow {
  grantId: string;
  organizationCode: string;
  expiresAt: number;
  externalGroups?: string;
}

// Every sign-in writes one: compiled once per shape (store/prepared.ts), with or without the IdP's groups.
const upsertGrantOrganizationQuery = (withGroups: boolean) =>
  preparedQuery((db, row: GrantOrganizationRow) =>
    db
      .insertInto('grant_organizations')
      .values({ grant_id: row.grantId, organization_code: row.organizationCode, expires_at: row.expiresAt, ...(withGroups ? { external_groups: row.externalGroups } : {}) })
      .onConflict((oc) =>
        oc.column('grant_id').doUpdateSet((eb) => ({
          organization_code: eb.ref('excluded.organization_code'),
          expires_at: eb.ref('excluded.expires_at'),
          ...(withGroups ? { external_groups: eb.ref('excluded.external_groups') } : {}),
        })),
      ),
  );
const upsertGrantOrganization = upsertGrantOrganizationQuery(false);
const upsertGrantOrganizationWithGroups = upsertGrantOrganizationQuery(true);

export async function deleteExpiredGrantOrganizations(db: Db): Promise<void> {
  await db.deleteFrom('grant_organizations').where('expires_at', '<', clock.now()).execute();
}
