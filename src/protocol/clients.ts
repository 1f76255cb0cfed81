import type Provider from 'oidc-provider';
import type { AdapterPayload } from 'oidc-provider';
import { type Application, clientSecretMatches, findApplication, isPublicClient } from '../domain/applications.ts';
import type { Db } from '../store/db.ts';
import { cached } from '../store/read-cache.ts';

/** Client metadata oidc-provider understands, derived from an application on every lookup. */
export function clientMetadata(app: Application): AdapterPayload {
  const common = {
    client_id: app.id,
    client_name: app.name,
    gatehouse_type: app.type,
    access_token_ttl: app.accessTokenLifetime,
    refresh_token_ttl: app.refreshTokenLifetime,
    id_token_ttl: app.idTokenLifetime,
    authenticated_session_ttl: app.authenticatedSessionLifetime,
    gatehouse_homepage_uri: app.homepageUri ?? undefined,
    gatehouse_login_uri: app.loginUri ?? undefined,
    gatehouse_gravatar: app.useGravatarFallback,
    gatehouse_org_name_in_token: app.isOrgNameInToken,
    gatehouse_organizations_in_id_token: app.isOrganizationsInIdToken,
    gatehouse_hasura: app.isHasuraMappingEnabled,
  };
  switch (app.type) {
    case 'm2m':
      return {
        ...common,
        client_secret: app.clientSecretHash ?? undefined,
        token_endpoint_auth_method: 'client_secret_post',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
      };
    case 'device':
      return {
        ...common,
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
        redirect_uris: [],
      };
    default:
      return {
        ...common,
        ...(isPublicClient(app.type)
          ? { token_endpoint_auth_method: 'none' }
          : { token_endpoint_auth_method: 'client_secret_post', client_secret: app.clientSecretHash ?? undefined }),
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: app.redirectUrls,
      };
  }
}

/**
 * The engine checks a client it gets from the adapter on every request by hashing all its metadata
 * (JSON, then SHA-256: ≈ 20 µs of a client-credentials request's ≈ 600 µs of main thread, issue 13).
 * Its Client instances are kept in the configuration cache instead, which any write to an application
 * empties (on other replicas within CACHE_TTL_MS, as for the metadata itself). The engine already
 * shares one instance between requests while the metadata is unchanged.
 */
export function rememberClients(provider: Provider, db: Db): void {
  const find = provider.Client.find.bind(provider.Client);
  provider.Client.find = (id: string) => (typeof id === 'string' && id.length > 0 ? cached(db, 'engine-clients', id, () => find(id)) : find(id));
}

/** Read on a cache miss of the engine's clients (store/read-cache.ts); each caller gets its own copy. */
export function clientLookup(db: Db) {
  return async (clientId: string): Promise<AdapterPayload | undefined> => {
    const metadata = await cached(db, 'client-metadata', clientId, async () => {
      const app = await findApplication(db, clientId);
      return app && clientMetadata(app);
    });
    return metadata && { ...metadata };
  };
}

export const CLIENT_METADATA_PROPERTIES = [
  'gatehouse_type',
  'access_token_ttl',
  'refresh_token_ttl',
  'id_token_ttl',
  'authenticated_session_ttl',
  'gatehouse_homepage_uri',
  'gatehouse_login_uri',
  'gatehouse_gravatar',
  'gatehouse_org_name_in_token',
  'gatehouse_organizations_in_id_token',
  'gatehouse_hasura',
];

/** The `client_secret` oidc-provider holds is the stored digest, so the presented secret is hashed first. */
export function compareHashedClientSecret(this: { clientSecret?: string }, presented: string): boolean {
  return clientSecretMatches(this.clientSecret, presented);
}
