import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';

/**
 * The bare engine for `npm run bench`'s peer rounds: oidc-provider 9 alone, in-memory adapter, one
 * client-credentials client, a JWT access token for one resource with the claims Gatehouse's token
 * carries (aud[], azp, client_id, exp, gty, iat, iss, jti, scope, scp, sub), signed RS256 with a
 * 2048-bit key. What Gatehouse adds on top of the engine is the difference between the two rates.
 */
export async function startBareEngine(client: { id: string; secret: string }, audience: string, scope: string): Promise<{ tokenUrl: string; body: string; close(): Promise<void> }> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(origin, {
    clients: [{ client_id: client.id, client_secret: client.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bare', alg: 'RS256', use: 'sig' }] as never },
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope, audience, accessTokenFormat: 'jwt', accessTokenTTL: 86_400, jwt: { sign: { alg: 'RS256' } } }),
      },
    },
    ttl: { ClientCredentials: 86_400 },
    extraTokenClaims: () => ({ gty: ['client_credentials'] }),
    formats: {
      customizers: {
        jwt: (_ctx, _token, jwt) => {
          const payload = jwt.payload as Record<string, unknown>;
          payload.aud = [audience];
          payload.scp = typeof payload.scope === 'string' ? payload.scope.split(' ') : [];
          payload.azp = payload.client_id;
        },
      },
    },
  });
  server.on('request', provider.callback());
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, scope, resource: audience }).toString();
  return {
    tokenUrl: `${origin}/token`,
    body,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
