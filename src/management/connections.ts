import type Router from '@koa/router';
import { z } from 'zod';
import { changeConnection, createConnection } from '../domain/connection-changes.ts';
import { type Connection, findConnection, listConnections } from '../domain/connections.ts';
import { connectionIdsForDomain, findEnterpriseConnection } from '../domain/enterprise/connections.ts';
import { enterpriseProtocol, visibleEnterpriseOptions } from '../domain/enterprise/options.ts';
import { DomainError } from '../domain/errors.ts';
import { type ConnectionChange, connectionApplications, deleteConnection } from '../domain/provider-connections.ts';
import { findSocialConnection } from '../domain/social/connections.ts';
import { visibleSocialOptions } from '../domain/social/options.ts';
import { providerCallsMayReachPrivateNetwork } from '../domain/social/upstream.ts';
import type { Services } from '../services.ts';
import { outsideUnitOfWork } from '../store/db.ts';
import { cursorPage, cursorQuery, OK, oneCursorAtMost, readBody, readQuery } from './input.ts';

const listQuery = z
  .object({ ...cursorQuery, home_realm_domain: z.string().min(1).optional() })
  .refine(...oneCursorAtMost);

/** Kinde's `CreateConnectionData`/`UpdateConnectionData` bodies; the options are checked by the strategy's family. */
const connectionFields = {
  name: z.string().trim().min(1).max(200).optional(),
  display_name: z.string().trim().min(1).max(200).optional(),
  enabled_applications: z.array(z.string().min(1)).max(500).optional(),
  organization_code: z.string().min(1).nullable().optional(),
  options: z.record(z.string(), z.unknown()).optional(),
};
const createBody = z.object({ ...connectionFields, strategy: z.string().min(1) }).strict();
const changeBody = z.object(connectionFields).strict();

export function connectionJson(connection: Connection) {
  return { id: connection.id, name: connection.name, display_name: connection.displayName, strategy: connection.strategy };
}

function change(body: z.infer<typeof changeBody>): ConnectionChange {
  return { name: body.name, displayName: body.display_name, enabledApplications: body.enabled_applications, organizationCode: body.organization_code, options: body.options };
}

export function connectionRoutes(router: Router, services: Services): void {
  const { db, masterKey } = services;
  const { issuer } = services.config;
  /** One callback for every OAuth connection (issue 11): the flow is found from `state`. */
  const callbackUrl = `${issuer}/login/callback`;

  /** What social and enterprise connections show beyond id, name and strategy (never a secret). */
  async function details(connection: Connection): Promise<Record<string, unknown>> {
    const social = await findSocialConnection(db, masterKey, connection.id);
    if (social) {
      return { options: visibleSocialOptions(social.options, social.isTrusted), organization_code: social.organizationCode, enabled_applications: await connectionApplications(db, connection.id), callback_url: callbackUrl };
    }
    const enterprise = await findEnterpriseConnection(db, masterKey, connection.id);
    if (!enterprise) return {};
    const shown = { options: visibleEnterpriseOptions(enterprise.options, enterprise.isTrusted), organization_code: enterprise.organizationCode, enabled_applications: await connectionApplications(db, connection.id) };
    if (enterpriseProtocol(enterprise.strategy) !== 'saml') return { ...shown, callback_url: callbackUrl };
    const { samlAcsUrl, samlMetadataUrl } = await import('../domain/enterprise/saml.ts');
    return { ...shown, saml_acs_url: samlAcsUrl(issuer), saml_metadata_url: samlMetadataUrl(issuer, enterprise.id) };
  }

  router.get('/connections', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    let connections = await listConnections(db);
    if (query.home_realm_domain) {
      // Section 038: the connection that claims this email domain (home-realm discovery), if any.
      const ids = new Set(await connectionIdsForDomain(db, query.home_realm_domain));
      connections = connections.filter((connection) => ids.has(connection.id));
    }
    const page = cursorPage(connections, query, 'connection');
    ctx.body = { ...OK, connections: page.items.map(connectionJson), has_more: page.hasMore };
  });

  router.post('/connections', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const { id } = await createConnection(db, masterKey, { ...change(body), strategy: body.strategy });
    ctx.status = 201;
    ctx.body = { ...OK, message: 'Connection successfully created', connection: { id } };
  });

  router.get('/connections/:connection_id', async (ctx) => {
    const connection = await findConnection(db, ctx.params.connection_id!);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    ctx.body = { ...OK, connection: { ...connectionJson(connection), ...(await details(connection)) } };
  });

  router.patch('/connections/:connection_id', async (ctx) => {
    const body = await readBody(ctx, changeBody);
    await changeConnection(db, masterKey, ctx.params.connection_id!, change(body), 'merge');
    ctx.body = { ...OK, message: 'Connection successfully updated' };
  });

  router.put('/connections/:connection_id', async (ctx) => {
    const body = await readBody(ctx, changeBody);
    await changeConnection(db, masterKey, ctx.params.connection_id!, change(body), 'replace');
    ctx.body = { ...OK, message: 'Connection successfully updated' };
  });

  router.delete('/connections/:connection_id', async (ctx) => {
    await deleteConnection(db, ctx.params.connection_id!);
    ctx.body = { ...OK, message: 'Connection successfully deleted' };
  });

  // Section 043 (a Gatehouse extension): fetch the IdP's SAML metadata again, e.g. after it rotated its certificate.
  router.post('/connections/:connection_id/refresh_metadata', async (ctx) => {
    const { refreshConnectionMetadata } = await import('../domain/enterprise/saml.ts');
    // Read outside this write's transaction, which begins only with the write after the fetch: on
    // SQLite an open transaction would hold every request's connection for as long as the IdP takes.
    const connection = await findEnterpriseConnection(outsideUnitOfWork(db), masterKey, ctx.params.connection_id!);
    if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
    const metadata = await refreshConnectionMetadata(connection, { db, issuer, allowPrivateNetwork: providerCallsMayReachPrivateNetwork(services.config) });
    ctx.body = { ...OK, message: 'Metadata refreshed', metadata };
  });
}
