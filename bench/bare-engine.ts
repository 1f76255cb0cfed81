import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { fork } from 'node:child_process';
import { createServer, type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { ROUTES } from '../src/protocol/provider-routes.ts';

/**
 * The bare engines of the peer rounds: oidc-provider 9 alone, with its default in-memory adapter,
 * tokens signed RS256 with a 2048-bit key and shaped like Gatehouse's. What Gatehouse adds on top of
 * the engine is the difference between the two rates.
 */

/** One RS256 signing key (2048 bits) as the private JWK set an engine signs with. */
function signingKeys(): Configuration['jwks'] {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return { keys: [{ ...privateKey.export({ format: 'jwk' }), kid: 'bare', alg: 'RS256', use: 'sig' }] as never };
}

/** An HTTP server on a free port of 127.0.0.1; the engine is made for its origin, then `serve`d. */
async function listen(): Promise<{ origin: string; serve(handler: RequestListener): void; close(): Promise<void> }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    serve: (handler) => server.on('request', handler),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A JWT access token for one resource, signed RS256, valid a day. */
function jwtResource(resource: string, scope: string) {
  return {
    enabled: true,
    defaultResource: () => resource,
    useGrantedResource: () => true,
    getResourceServerInfo: () => ({ scope, audience: resource, accessTokenFormat: 'jwt' as const, accessTokenTTL: 86_400, jwt: { sign: { alg: 'RS256' as const } } }),
  };
}

/** Gatehouse's access-token shape (src/protocol/token-claims.ts): `aud` an array, the scopes also as `scp[]`, `azp`. */
function shapedLikeGatehouse(aud: string[]): Configuration['formats'] {
  return {
    customizers: {
      jwt: (_ctx, _token, jwt) => {
        const payload = jwt.payload as Record<string, unknown>;
        payload.aud = aud;
        payload.scp = typeof payload.scope === 'string' && payload.scope.length > 0 ? payload.scope.split(' ') : [];
        payload.azp = payload.client_id;
      },
    },
  };
}

/**
 * For `npm run bench`: one client-credentials client, a JWT access token for one resource with the
 * claims Gatehouse's token carries (aud[], azp, client_id, exp, gty, iat, iss, jti, scope, scp, sub).
 */
export async function startBareEngine(client: { id: string; secret: string }, audience: string, scope: string): Promise<{ tokenUrl: string; body: string; close(): Promise<void> }> {
  const http = await listen();
  const provider = new Provider(http.origin, {
    clients: [{ client_id: client.id, client_secret: client.secret, grant_types: ['client_credentials'], redirect_uris: [], response_types: [] }],
    jwks: signingKeys(),
    features: {
      clientCredentials: { enabled: true },
      devInteractions: { enabled: false },
      resourceIndicators: jwtResource(audience, scope),
    },
    ttl: { ClientCredentials: 86_400 },
    extraTokenClaims: () => ({ gty: ['client_credentials'] }),
    formats: shapedLikeGatehouse([audience]),
  });
  http.serve(provider.callback());
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: client.id, client_secret: client.secret, scope, resource: audience }).toString();
  return { tokenUrl: `${http.origin}/token`, body, close: http.close };
}

/** The scopes of the user token paths (Kinde calls offline access `offline`). */
export const USER_SCOPE = 'openid profile email offline';
/** The engine's one resource: Gatehouse's user tokens name no API unless asked (`aud: []`), so neither does this one's. */
const USER_RESOURCE = 'urn:bench:user-api';
/** What the interaction reads to know who signs in: `login_hint=bench-person-N`. */
export const bareAccountId = (n: number) => `bench-person-${n}`;

/** The ID token claims Gatehouse releases for the person, in its shape (src/protocol/accounts.ts), from the account id alone. */
function personClaims(accountId: string, clientId: string | undefined): Record<string, unknown> {
  const n = accountId.slice('bench-person-'.length);
  const email = `bench${n}@paths.test`;
  return {
    sub: accountId,
    name: `Bench Person ${n}`,
    given_name: 'Bench',
    family_name: `Person ${n}`,
    picture: `https://gravatar.com/avatar/${createHash('sha256').update(email).digest('hex')}?d=blank&size=200`,
    updated_at: 1_796_000_000,
    email,
    email_verified: true,
    azp: clientId,
    org_codes: ['org_0bench00000'],
  };
}

/**
 * For `npm run bench:token-paths`: the refresh grant and the SSO round trip on oidc-provider alone,
 * on Gatehouse's paths (the load generator runs against it unchanged). One confidential client
 * (client_secret_basic; authorization_code + refresh_token; PKCE S256 required; `callback` its one
 * redirect URI); a refresh token issued and rotated on every code exchange and refresh; the access
 * token a JWT with Gatehouse's user-token claims (org_code, permissions, roles, feature_flags, ksp,
 * grant_id as constants; aud [], scp[], azp), the ID token with the person's name and email claims.
 * Sign-in is `/interaction/:uid` finishing login (the account of `login_hint`) and consent (a saved
 * grant of the scopes) at once, with no page.
 */
export async function startBareUserEngine(client: { id: string; secret: string }, callback: string): Promise<{ origin: string; close(): Promise<void> }> {
  const http = await listen();
  const provider = new Provider(http.origin, {
    clients: [
      {
        client_id: client.id,
        client_secret: client.secret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: [callback],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'RS256',
      },
    ],
    jwks: signingKeys(),
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { signed: true, sameSite: 'lax', httpOnly: true },
      short: { signed: true, sameSite: 'lax', httpOnly: true },
    },
    routes: ROUTES,
    scopes: USER_SCOPE.split(' '),
    claims: {
      openid: ['sub', 'azp', 'org_codes', 'amr'],
      profile: ['name', 'given_name', 'family_name', 'picture', 'updated_at'],
      email: ['email', 'email_verified'],
    },
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { required: () => true },
    issueRefreshToken: () => true,
    rotateRefreshToken: true,
    findAccount: (ctx: KoaContextWithOIDC, sub: string) => ({ accountId: sub, claims: () => personClaims(sub, ctx.oidc?.client?.clientId) as never }),
    extraTokenClaims: (_ctx, token) =>
      token.kind === 'AccessToken'
        ? { org_code: 'org_0bench00000', permissions: [], roles: [], feature_flags: {}, ksp: { persistent: true }, grant_id: (token as { grantId?: string }).grantId }
        : undefined,
    formats: shapedLikeGatehouse([]),
    features: {
      devInteractions: { enabled: false },
      resourceIndicators: jwtResource(USER_RESOURCE, USER_SCOPE),
    },
    ttl: { AccessToken: 86_400, IdToken: 86_400, RefreshToken: 2_592_000, AuthorizationCode: 60, Interaction: 3_600, Session: 2_592_000, Grant: 2_592_000 },
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  });
  provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith('/interaction/')) return next();
    const interaction = await provider.interactionDetails(ctx.req, ctx.res);
    const accountId = String(interaction.params.login_hint);
    const grant = new provider.Grant({ accountId, clientId: String(interaction.params.client_id) });
    grant.addOIDCScope(USER_SCOPE);
    grant.addResourceScope(USER_RESOURCE, USER_SCOPE);
    const grantId = await grant.save();
    ctx.respond = false;
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId, amr: ['pwd'], remember: true }, consent: { grantId } }, { mergeWithLastSubmission: false });
  });
  http.serve(provider.callback());
  return { origin: http.origin, close: http.close };
}

/**
 * `startBareUserEngine` in a child process (bench/bare-engine-process.ts), so that its heap is not the
 * bench's: `pid` is what the bench reads the engine's CPU from. Without V8's memory reducer: it
 * collected the idle engine's big heap during the next phases and the noise check saw it as foreign
 * load (0.11–0.17 cores in the peer rounds, 0.02–0.08 without).
 */
export async function startBareUserEngineProcess(client: { id: string; secret: string }, callback: string): Promise<{ origin: string; pid: number; close(): Promise<void> }> {
  // Profiled alongside the bench when it is (`--cpu-prof`): both profiles share the monotonic clock, so
  // the bench's printed peer windows select the engine's samples too.
  const profileFlags = process.execArgv.filter((arg) => arg.startsWith('--cpu-prof'));
  const child = fork(fileURLToPath(new URL('./bare-engine-process.ts', import.meta.url)), { execArgv: ['--no-memory-reducer', ...profileFlags, '--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const { origin } = await new Promise<{ origin: string }>((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`the bare engine's process ended (${code}) before it listened`)));
    child.send({ client, callback });
  });
  return {
    origin,
    pid: child.pid!,
    close: () =>
      new Promise((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}
