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
import { cursorPage, cursorQuery, OK, oneCursorAtMost } from './input.ts';
import { okWith } from './responses.ts';
import { route } from './route.ts';

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

const connectionSchema = z.object({ id: z.string(), name: z.string(), display_name: z.string(), strategy: z.string() });
/** Kinde's `get_connections_response`. */
export const connectionsResponse = okWith({ connections: z.array(connectionSchema), has_more: z.boolean() });

/** What social and enterprise connections show beyond id, name and strategy (never a secret). */
const connectionDetails = z.object({
  options: z.record(z.string(), z.unknown()).optional(),
  organization_code: z.string().nullable().optional(),
  enabled_applications: z.array(z.string()).optional(),
  /** OAuth and OIDC connections: where the provider sends people back. */
  callback_url: z.string().optional(),
  saml_acs_url: z.string().optional(),
  saml_metadata_url: z.string().optional(),
});
const connectionMessage = okWith({ message: z.string() });

export function connectionJson(connection: Connection): z.input<typeof connectionSchema> {
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

  async function details(connection: Connection): Promise<z.input<typeof connectionDetails>> {
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

  route(router, { method: 'GET', path: '/connections', scope: 'read:connections', summary: 'List connections', query: listQuery, response: connectionsResponse }, async ({ query }) => {
    let connections = await listConnections(db);
    if (query.home_realm_domain) {
      // Section 038: the connection that claims this email domain (home-realm discovery), if any.
      const ids = new Set(await connectionIdsForDomain(db, query.home_realm_domain));
      connections = connections.filter((connection) => ids.has(connection.id));
    }
    const page = cursorPage(connections, query, 'connection');
    return { ...OK, connections: page.items.map(connectionJson), has_more: page.hasMore };
  });

  route(
    router,
    { method: 'POST', path: '/connections', scope: 'create:connections', summary: 'Create a connection', body: createBody, status: 201, response: connectionMessage.extend({ connection: z.object({ id: z.string() }) }) },
    async ({ body }) => {
      const { id } = await createConnection(db, masterKey, { ...change(body), strategy: body.strategy });
      return { ...OK, message: 'Connection successfully created', connection: { id } };
    },
  );

  route(
    router,
    { method: 'GET', path: '/connections/:connection_id', scope: 'read:connections', summary: 'Get a connection', response: okWith({ connection: connectionSchema.extend(connectionDetails.shape) }) },
    async ({ params }) => {
      const connection = await findConnection(db, params.connection_id);
      if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
      return { ...OK, connection: { ...connectionJson(connection), ...(await details(connection)) } };
    },
  );

  route(router, { method: 'PATCH', path: '/connections/:connection_id', scope: 'update:connections', summary: 'Update a connection', body: changeBody, response: connectionMessage }, async ({ params, body }) => {
    await changeConnection(db, masterKey, params.connection_id, change(body), 'merge');
    return { ...OK, message: 'Connection successfully updated' };
  });

  route(
    router,
    { method: 'PUT', path: '/connections/:connection_id', scope: 'update:connections', summary: 'Replace a connection', body: changeBody, response: connectionMessage },
    async ({ params, body }) => {
      await changeConnection(db, masterKey, params.connection_id, change(body), 'replace');
      return { ...OK, message: 'Connection successfully updated' };
    },
  );

  route(router, { method: 'DELETE', path: '/connections/:connection_id', scope: 'delete:connections', summary: 'Delete a connection', response: connectionMessage }, async ({ params }) => {
    await deleteConnection(db, params.connection_id);
    return { ...OK, message: 'Connection successfully deleted' };
  });

  // Section 043 (a Gatehouse extension): fetch the IdP's SAML metadata again, e.g. after it rotated its certificate.
  route(
    router,
    {
      method: 'POST',
      path: '/connections/:connection_id/refresh_metadata',
      scope: 'update:connections',
      summary: "Fetch a SAML connection's IdP metadata again",
      response: connectionMessage.extend({
        metadata: z.object({ entity_id: z.string(), signing_certificates: z.number().int(), sign_in_urls: z.object({ redirect: z.string().optional(), post: z.string().optional() }) }),
      }),
    },
    async ({ params }) => {
      const { refreshConnectionMetadata } = await import('../domain/enterprise/saml.ts');
      // Read outside this write's transaction, which begins only with the write after the fetch: on
      // SQLite an open transaction would hold every request's connection for as long as the IdP takes.
      const connection = await findEnterpriseConnection(outsideUnitOfWork(db), masterKey, params.connection_id);
      if (!connection) throw new DomainError('CONNECTION_NOT_FOUND', 'Connection not found', 404);
      const metadata = await refreshConnectionMetadata(connection, { db, issuer, allowPrivateNetwork: providerCallsMayReachPrivateNetwork(services.config) });
      return { ...OK, message: 'Metadata refreshed', metadata };
    },
  );
}
