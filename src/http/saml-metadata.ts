import type Koa from 'koa';
import type { Services } from '../services.ts';

/**
 * `GET <issuer>/saml/metadata/{connection_id}`: Gatehouse's service-provider metadata for one SAML
 * connection (entity ID, ACS URL, the AuthnRequest signing certificate when set), which the IdP's
 * administrator imports. Public, like any SP metadata: it holds no secret. The SAML library is
 * loaded on the first request that needs it.
 */
export function samlServiceProviderMetadata(services: Services): Koa.Middleware {
  return async (ctx, next) => {
    const match = /^\/saml\/metadata\/(conn_[0-9a-f]{32})$/.exec(ctx.path);
    if (!match || ctx.method !== 'GET') return next();
    const { findEnterpriseConnection } = await import('../domain/enterprise/connections.ts');
    const { enterpriseProtocol } = await import('../domain/enterprise/options.ts');
    const connection = await findEnterpriseConnection(services.db, services.masterKey, match[1]!);
    if (!connection || enterpriseProtocol(connection.strategy) !== 'saml') {
      ctx.status = 404;
      ctx.body = { errors: [{ code: 'CONNECTION_NOT_FOUND', message: 'No SAML connection with this id' }] };
      return;
    }
    const { serviceProviderMetadata } = await import('../domain/enterprise/saml.ts');
    ctx.type = 'application/samlmetadata+xml';
    ctx.body = serviceProviderMetadata(connection, services.config.issuer);
  };
}
