import { errors, type KoaContextWithOIDC, type ResourceServer } from 'oidc-provider';
import { audienceGrants, scopesOfGrants, machineAudienceGrants } from '../domain/apis.ts';
import type { Db } from '../store/db.ts';
import { audiencesOf } from './audiences.ts';

const USER_SCOPES = ['openid', 'profile', 'email', 'phone', 'offline'];

/**
 * Every access token is a JWT for a resource: the requested audience set (possibly empty). Each
 * audience must be an API the application is authorized for; user tokens also carry the OpenID
 * scopes, as Kinde's do.
 */
export function resourceServerInfo(db: Db) {
  return async (_ctx: KoaContextWithOIDC, resourceIndicator: string, client: { clientId: string; [key: string]: unknown }): Promise<ResourceServer> => {
    const audiences = audiencesOf(resourceIndicator);
    if (!audiences) throw new errors.InvalidTarget('unrecognised resource indicator; use the audience parameter');
    // A machine holds the scopes it was given; a person's token may carry any scope of the API.
    const machine = client['gatehouse_type'] === 'm2m';
    const grants = await (machine ? machineAudienceGrants : audienceGrants)(db, client.clientId, audiences);
    if ('refused' in grants) {
      throw new errors.InvalidTarget(`audience ${grants.refused} is not an API this application is authorized for`);
    }
    const apiScopes = scopesOfGrants(grants);
    return {
      scope: machine ? apiScopes.join(' ') : [...new Set([...USER_SCOPES, ...apiScopes])].join(' '),
      audience: resourceIndicator,
      accessTokenFormat: 'jwt',
      accessTokenTTL: typeof client['access_token_ttl'] === 'number' ? client['access_token_ttl'] : 86_400,
      jwt: { sign: { alg: 'RS256' } },
    };
  };
}
