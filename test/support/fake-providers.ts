import { createHash, generateKeyPairSync, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT } from 'jose';
import Provider, { type Configuration } from 'oidc-provider';

/** A listening loopback server whose handler is set once its origin is known. */
async function listen(): Promise<{ server: Server; origin: string; handle(handler: (req: IncomingMessage, res: ServerResponse) => void): void; close(): Promise<void> }> {
  let current: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => current(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    server,
    origin,
    handle: (handler) => (current = handler),
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

export interface FakeOidcProvider {
  issuer: string;
  /** The query of the last authorization request the fake received. */
  lastAuthorization: URLSearchParams | undefined;
  close(): Promise<void>;
}

/**
 * A real OpenID provider (oidc-provider) standing in for Google, Microsoft…: it signs one fixed person
 * in without a page and grants what is asked, so a test can drive the code flow over HTTP alone.
 */
export async function startFakeOidcProvider(options: { client: { client_id: string; client_secret: string; redirect_uris: string[] }; account: Record<string, unknown> & { sub: string } }): Promise<FakeOidcProvider> {
  const http = await listen();
  const configuration: Configuration = {
    clients: [{ ...options.client, token_endpoint_auth_method: 'client_secret_post' }],
    claims: { openid: ['sub', 'tid', 'groups'], email: ['email', 'email_verified'], profile: ['name', 'given_name', 'family_name', 'picture', 'preferred_username'] },
    // Claims in the ID token as Google puts them there, not only at the UserInfo endpoint.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    findAccount: (_ctx, sub) => (sub === options.account.sub ? { accountId: sub, claims: () => options.account } : undefined),
    interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    async loadExistingGrant(ctx) {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid email profile');
      await grant.save();
      return grant;
    },
    cookies: { keys: ['fake-provider-cookie-key'] },
    // Its own signing key (oidc-provider's quick-start keys are the same in every instance).
    jwks: { keys: [{ ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig', alg: 'RS256' } as never] },
  };
  const provider = new Provider(http.origin, configuration);
  const fake: FakeOidcProvider = { issuer: http.origin, lastAuthorization: undefined, close: http.close };
  const callback = provider.callback();
  http.handle((req, res) => {
    const url = new URL(req.url ?? '/', http.origin);
    if (url.pathname === '/auth') fake.lastAuthorization = url.searchParams;
    if (url.pathname.startsWith('/interaction/')) {
      provider.interactionFinished(req, res, { login: { accountId: options.account.sub } }, { mergeWithLastSubmission: false }).catch((error) => {
        res.statusCode = 500;
        res.end(String(error));
      });
      return;
    }
    callback(req, res);
  });
  return fake;
}

/** Follows the browser's redirects (keeping cookies) until the provider sends it to `redirectUri`; returns that URL. */
export async function followToCallback(authorizationUrl: string, redirectUri: string): Promise<URL> {
  const cookies = new Map<string, string>();
  let url = authorizationUrl;
  for (let hop = 0; hop < 10; hop++) {
    const response = await fetch(url, { redirect: 'manual', headers: { cookie: [...cookies].map(([k, v]) => `${k}=${v}`).join('; ') } });
    for (const cookie of response.headers.getSetCookie()) {
      const [pair] = cookie.split(';');
      const at = pair!.indexOf('=');
      cookies.set(pair!.slice(0, at), pair!.slice(at + 1));
    }
    const location = response.headers.get('location');
    if (!location) throw new Error(`no redirect from ${url}: ${response.status} ${await response.text()}`);
    url = new URL(location, url).href;
    if (url.startsWith(redirectUri)) return new URL(url);
  }
  throw new Error('too many redirects');
}

export interface RecordedRequest {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: string;
}

export interface FakeApi {
  origin: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

/** A tiny HTTP fake of a provider's API: each route answers `[status, json]`, a redirect or a page, from the request. */
type Answer = [number, unknown] | { redirect: string } | { html: string };

export async function startFakeApi(routes: Record<string, (request: RecordedRequest) => Answer | Promise<Answer>>): Promise<FakeApi> {
  const http = await listen();
  const requests: RecordedRequest[] = [];
  http.handle((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const request = { method: req.method ?? 'GET', url: new URL(req.url ?? '/', http.origin), headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const route = routes[`${request.method} ${request.url.pathname}`];
      if (!route) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
        return;
      }
      const answer = await route(request);
      if ('html' in answer) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(answer.html);
        return;
      }
      if ('redirect' in answer) {
        res.writeHead(302, { location: answer.redirect }).end();
        return;
      }
      res.writeHead(answer[0], { 'content-type': 'application/json' }).end(JSON.stringify(answer[1]));
    });
  });
  return { origin: http.origin, requests, close: http.close };
}

/** RFC 6749 §2.3.1: Basic credentials are form-encoded before base64 (openid-client sends `x%2Dclient`). */
export function basicCredentials(header: string | undefined): string | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const [id, secret] = Buffer.from(header.slice(6), 'base64').toString().split(':');
  const decode = (value = '') => decodeURIComponent(value.replaceAll('+', ' '));
  return `${decode(id)}:${decode(secret)}`;
}

export const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url');

/** A provider's authorization endpoint that approves at once: back to the callback with a code, remembering the request. */
export function approving(issued: Map<string, URLSearchParams>) {
  return (request: { url: URL }) => {
    const code = randomUUID();
    issued.set(code, request.url.searchParams);
    const back = new URL(request.url.searchParams.get('redirect_uri')!);
    back.searchParams.set('code', code);
    back.searchParams.set('state', request.url.searchParams.get('state')!);
    return { redirect: back.href };
  };
}

const escapeHtml = (value: string) => value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/**
 * A fake of Sign in with Apple: `/auth/authorize` approves at once, either redirecting back with the
 * code (simple for HTTP-driven tests) or, with `formPost`, answering Apple's page that POSTs code,
 * state and the first sign-in's `user` to the callback; `/auth/token` answers an RS256 ID token for
 * `subject` with the nonce that was asked for; `/auth/keys` is its JWKS.
 */
export async function startFakeApple(options: { clientId: string; subject: string; formPost?: { user: unknown } }): Promise<FakeApi> {
  const issued = new Map<string, URLSearchParams>();
  const signing = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const publicJwk = { ...(await exportJWK(signing.publicKey)), kid: 'apple-test', use: 'sig', alg: 'RS256' };
  const formPost = options.formPost;
  const apple: FakeApi = await startFakeApi({
    'GET /auth/authorize': formPost
      ? ({ url }) => {
          const code = randomUUID();
          issued.set(code, url.searchParams);
          const fields = { code, state: url.searchParams.get('state')!, user: JSON.stringify(formPost.user) };
          const inputs = Object.entries(fields).map(([name, value]) => `<input type="hidden" name="${name}" value="${escapeHtml(value)}">`).join('');
          return { html: `<!doctype html><title>Apple</title><form method="post" action="${escapeHtml(url.searchParams.get('redirect_uri')!)}">${inputs}</form><script>document.forms[0].submit()</script>` };
        }
      : approving(issued),
    'GET /auth/keys': () => [200, { keys: [publicJwk] }],
    'POST /auth/token': async ({ body }) => {
      const asked = issued.get(new URLSearchParams(body).get('code')!);
      if (!asked) return [400, { error: 'invalid_grant' }];
      const idToken = await new SignJWT({ email: 'tim@privaterelay.example', email_verified: 'true', nonce: asked.get('nonce')! })
        .setProtectedHeader({ alg: 'RS256', kid: 'apple-test' })
        .setIssuer(apple.origin)
        .setAudience(options.clientId)
        .setSubject(options.subject)
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(signing.privateKey);
      return [200, { access_token: 'apple-at', token_type: 'Bearer', expires_in: 3600, id_token: idToken }];
    },
  });
  return apple;
}
