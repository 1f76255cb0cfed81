import type { MasterKey } from '../../crypto/master-key.ts';
import { type Db, isUniqueViolation, type Tx } from '../../store/db.ts';
import { applicationConnections } from '../connections.ts';
import { DomainError } from '../errors.ts';
import { organizationConnectionIds } from '../organizations.ts';
import { findProviderConnection, type OpenedConnection, type OptionsRules } from '../provider-connections.ts';
import { assertUsableEnterpriseOptions, type EnterpriseOptions, parseEnterpriseOptions } from './options.ts';

/**
 * Enterprise connections (sections 030–043): the rules their options follow when the management API
 * makes and changes them (provider-connections.ts writes them), home-realm domains kept unique beside
 * them, and home-realm discovery (section 038).
 */

export type EnterpriseConnection = OpenedConnection<EnterpriseOptions>;

/** Section 038: "all home realm domains must be unique across all connections in the environment". */
async function setHomeRealmDomains(tx: Tx, connectionId: string, options: EnterpriseOptions): Promise<void> {
  await tx.deleteFrom('connection_domains').where('connection_id', '=', connectionId).execute();
  const domains = options.home_realm_domains ?? [];
  if (domains.length === 0) return;
  const taken = await tx.selectFrom('connection_domains').select(['domain']).where('domain', 'in', domains).executeTakeFirst();
  if (taken) throw new DomainError('HOME_REALM_DOMAIN_EXISTS', `options.home_realm_domains: ${taken.domain} is already a home realm domain of another connection`, 400);
  await tx
    .insertInto('connection_domains')
    .values(domains.map((domain) => ({ domain, connection_id: connectionId })))
    .execute()
    .catch((error: unknown) => {
      // Two administrators claiming one domain at once: the key decides.
      if (isUniqueViolation(error)) throw new DomainError('HOME_REALM_DOMAIN_EXISTS', 'options.home_realm_domains: a domain is already a home realm domain of another connection', 400);
      throw error;
    });
}

export const enterpriseOptionsRules: OptionsRules<EnterpriseOptions> = {
  family: 'enterprise',
  parse: parseEnterpriseOptions,
  assertUsable: assertUsableEnterpriseOptions,
  afterWrite: setHomeRealmDomains,
};

export function findEnterpriseConnection(db: Db | Tx, masterKey: MasterKey, id: string): Promise<EnterpriseConnection | undefined> {
  return findProviderConnection<EnterpriseOptions>(db, masterKey, 'enterprise', id);
}

/** `GET /connections?home_realm_domain=`: the ids of the connections that claim this domain (at most one). */
export async function connectionIdsForDomain(db: Db | Tx, domain: string): Promise<string[]> {
  const rows = await db.selectFrom('connection_domains').select('connection_id').where('domain', '=', domain.trim().toLowerCase()).execute();
  return rows.map((row) => row.connection_id);
}

/** The part after the last `@`, lower-cased; undefined when there is none. */
export function emailDomain(email: string): string | undefined {
  const at = email.lastIndexOf('@');
  const domain = at > 0 ? email.slice(at + 1).trim().toLowerCase() : '';
  return domain === '' ? undefined : domain;
}

/**
 * Section 038 as a decision: the connection that claims the email's domain, if the sign-in may use it —
 * an organization with its own connections offers only those (section 036), otherwise the application's.
 */
export function homeRealmConnectionFor(email: string, claims: ReadonlyMap<string, string>, offered: ReadonlySet<string>): string | undefined {
  const domain = emailDomain(email);
  const connectionId = domain === undefined ? undefined : claims.get(domain);
  return connectionId !== undefined && offered.has(connectionId) ? connectionId : undefined;
}

/** What the identify page calls once a person has typed an email: where home-realm discovery sends them. */
export async function connectionForEmailDomain(db: Db | Tx, scope: { applicationId: string; organizationCode?: string | undefined }, email: string): Promise<string | undefined> {
  const domain = emailDomain(email);
  if (domain === undefined) return undefined;
  const claimed = await db.selectFrom('connection_domains').select('connection_id').where('domain', '=', domain).executeTakeFirst();
  if (!claimed) return undefined;
  const ownSet = scope.organizationCode ? await organizationConnectionIds(db, scope.organizationCode) : undefined;
  const offered = new Set(ownSet ?? (await applicationConnections(db, scope.applicationId)).map((connection) => connection.id));
  return homeRealmConnectionFor(email, new Map([[domain, claimed.connection_id]]), offered);
}
