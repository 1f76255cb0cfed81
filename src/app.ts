import { useHashingLanes } from './crypto/hashing-lanes.ts';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import type Koa from 'koa';
import type Provider from 'oidc-provider';
import pino, { type Logger } from 'pino';
import { clock } from './clock.ts';
import { type Config, ConfigError } from './config.ts';
import { MasterKey } from './crypto/master-key.ts';
import { sha256Hex } from './crypto/secrets.ts';
import { createApplication, findApplication } from './domain/applications.ts';
import { ensureManagementApi, grantEveryScope, setApplicationAuthorization } from './domain/apis.ts';
import { ensureBuiltInConnections } from './domain/connections.ts';
import { ensureDefaultOrganization } from './domain/organizations.ts';
import { deleteExpiredSessionActivity } from './domain/sessions.ts';
import { DevMailbox, environmentMailer, type Mailer, SmtpMailer } from './domain/messaging/mailer.ts';
import { smsSenderFor } from './domain/messaging/sms.ts';
import { OneTimeCodes } from './domain/one-time-codes.ts';
import { ensureSetting } from './domain/settings.ts';
import { NetworkFailures } from './domain/attack-protection.ts';
import { deleteExpiredRateCounters } from './domain/rate-limits.ts';
import { ensureSigningKey, type KeySet, loadKeySet } from './domain/signing-keys.ts';
import { accountRoutes } from './account/account-routes.tsx';
import { deleteExpiredFlows } from './sign-in/flow/state.ts';
import { devMailboxRoutes } from './http/dev-mailbox.tsx';
import { returnMemoryWhenIdle } from './http/idle-memory.ts';
import { drainable } from './http/draining.ts';
import { recordingEventContext } from './http/event-context.ts';
import { issuerOnLoopback, outboundPoster } from './http/outbound.ts';
import { pruneEvents } from './domain/events/queries.ts';
import { DELIVERIES_CHANNEL, notifyDeliveriesQueued } from './domain/events/outbox.ts';
import { listenForNotifications } from './store/notifications.ts';
import { ImportJobs } from './domain/import/jobs.ts';
import { webhookSigner } from './domain/webhooks/signing.ts';
import { WebhookWorker } from './domain/webhooks/worker.ts';
import { errorBoundary, noteDatabaseOutages, requestLogging, securityHeaders } from './http/middleware.ts';
import { builtOnFirstRequest } from './http/on-first-request.ts';
import { areasByPrefix, onlyItsPaths, stepsByEndpoint } from './http/dispatch.ts';
import { samlServiceProviderMetadata } from './http/saml-metadata.ts';
import { throttleClientAuthentication } from './http/throttling.ts';
import { ROUTES } from './protocol/provider-routes.ts';
import { accessTokenAuthenticator } from './protocol/access-token-authentication.ts';
import { accessTokenVerifier, type AccessTokenVerifier, signedWithUnknownKey } from './protocol/access-tokens.ts';
import { deleteExpiredModels } from './protocol/adapter.ts';
import { accountApiRoutes } from './protocol/account-api.ts';
import { credentialedCors } from './protocol/cors.ts';
import { deleteExpiredGrantOrganizations } from './protocol/grant-organizations.ts';
import { kindeDeviceAuthorizationResponse, prefillUserCode, refuseDeviceFormWithoutSession } from './protocol/device-authorization.ts';
import { deviceCodePollingPace } from './protocol/device-polling.ts';
import { limitWrongUserCodes } from './protocol/user-code-attempts.ts';
import { unauthorizedClientForForeignGrants } from './protocol/grant-errors.ts';
import { introspectAccessTokens } from './protocol/introspect-access-tokens.ts';
import { revokeAccessTokens } from './protocol/revoke-access-tokens.ts';
import { kindeAuthorizationRequest, kindeFormRequest } from './protocol/kinde-requests.ts';
import { logout } from './protocol/logout.ts';
import { createProvider, grantReadWithSession, writesAroundTheEngine } from './protocol/provider.ts';
import { engineContextsShareOneAccessor } from './protocol/engine-context.ts';
import { withRequestReads } from './protocol/request-reads.ts';
import { browserRefreshCookies } from './protocol/spa-refresh-cookie.ts';
import { userProfileV1, userProfileV2 } from './protocol/user-profile.ts';
import type { Services } from './services.ts';
import { migrateToLatest, openStore, type Store } from './store/db.ts';

export interface Gatehouse {
  url: string;
  services: Services;
  /** Re-reads signing keys now (replicas also do it on a timer). */
  reloadKeys(): Promise<void>;
  /**
   * Stops gracefully: no new connections (already when this returns its promise: main.ts logs so),
   * requests in flight finish (for up to 10 s), keep-alive connections close, then the database closes.
   */
  close(): Promise<void>;
}

const KEY_RELOAD_INTERVAL_MS = 30_000;
/** Where clients authenticate: failures there count against the network (src/http/throttling.ts). */
const CLIENT_AUTHENTICATING_PATHS = new Set<string>([ROUTES.token, ROUTES.introspection, ROUTES.revocation, ROUTES.device_authorization]);
const CLEANUP_INTERVAL_MS = 10 * 60_000;
/** Long enough for any sign-in step (an argon2 hash, an SMTP send); shorter than a supervisor's kill timeout (Kubernetes: 30 s). */
const SHUTDOWN_GRACE_MS = 10_000;

/** A database initialised under one master key cannot be read with another: say so plainly. */
async function checkMasterKey(store: Store, masterKey: MasterKey): Promise<void> {
  const sealed = await ensureSetting(store.db, 'master_key_check', masterKey.seal('gatehouse', 'master-key-check'));
  try {
    masterKey.open(sealed, 'master-key-check');
  } catch {
    throw new ConfigError('GATEHOUSE_MASTER_KEY', 'does not match the key this database was initialised with');
  }
}

/** GATEHOUSE_BOOTSTRAP_CLIENT_*: a machine-to-machine application with full management-API access. */
async function ensureBootstrapClient(store: Store, config: Config): Promise<void> {
  if (!config.bootstrapClient) return;
  const { id, secret } = config.bootstrapClient;
  const managementApi = await ensureManagementApi(store.db, config.issuer);
  const existing = await findApplication(store.db, id);
  if (!existing) {
    await createApplication(store.db, { id, name: 'Gatehouse bootstrap (management API)', type: 'm2m', clientSecret: secret }).catch(async (error) => {
      if (!(await findApplication(store.db, id))) throw error;
    });
  } else if (existing.clientSecretHash !== sha256Hex(secret)) {
    await store.db.updateTable('applications').set({ client_secret_hash: sha256Hex(secret) }).where('id', '=', id).execute();
  }
  await setApplicationAuthorization(store.db, managementApi.id, id, true);
  await grantEveryScope(store.db, managementApi.id, id);
}

/** Every request keeps what its statements read along (protocol/request-reads.ts) until it ends. */
const requestReads: Koa.Middleware = (_ctx, next) => withRequestReads(next);

function isLocalIssuer(issuer: string): boolean {
  return ['localhost', '127.0.0.1', '[::1]'].includes(new URL(issuer).hostname);
}

function buildEngine(services: Services, keys: KeySet, cookieKeys: string[], current: () => Provider): Provider {
  const { config, db } = services;
  const provider = createProvider({
    issuer: config.issuer,
    db,
    keys,
    cookieKeys,
  });
  provider.proxy = process.env.TRUST_PROXY === 'true';
  const refreshCookies = browserRefreshCookies(config.cookieDomain);

  const routes = new Router();
  // Readiness: this replica can serve (its database answers). A load balancer routes to it only then.
  routes.get('/health', async (ctx) => {
    const databaseAnswers = await db.selectFrom('settings').select('key').limit(1).execute().then(() => true, () => false);
    if (!databaseAnswers) ctx.set('Retry-After', '5');
    ctx.status = databaseAnswers ? 200 : 503;
    ctx.body = { status: databaseAnswers ? 'ok' : 'unavailable' };
  });
  // Liveness: the process runs its event loop. Never touches the database, so an outage does not get
  // every replica restarted at once.
  routes.get('/health/live', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  routes.get('/oauth2/v2/user_profile', userProfileV2(db, services.authenticateAccessToken));
  routes.get('/oauth2/user_profile', userProfileV1(db, services.authenticateAccessToken));
  routes.get('/logout', logout(db, current, refreshCookies));

  noteDatabaseOutages(provider);
  provider.use(errorBoundary);
  provider.use(requestReads);
  provider.use(requestLogging(services.logger));
  provider.use(recordingEventContext);
  provider.use(securityHeaders(config.issuer.startsWith('https:')));
  provider.use(credentialedCors(db));
  provider.use(throttleClientAuthentication(services.networkFailures, CLIENT_AUTHENTICATING_PATHS));
  provider.use(onlyItsPaths(routes));
  provider.use(
    areasByPrefix([
      ['/saml/metadata/', samlServiceProviderMetadata(services)],
      ['/api/', builtOnFirstRequest(async () => (await import('./management/router.ts')).managementRoutes(services).routes())],
      ['/account_api/', accountApiRoutes(services).routes()],
      ['/interaction/', builtOnFirstRequest(async () => (await import('./sign-in/flow/routes.ts')).signInRoutes(services).routes())],
      ['/saml/callback', builtOnFirstRequest(async () => (await import('./sign-in/connectors/enterprise-callback.ts')).samlCallbackRoutes(services).routes())],
      ['/login/callback', builtOnFirstRequest(async () => (await import('./sign-in/connectors/social-callback.ts')).socialCallbackRoutes(services).routes())],
      ['/account/', accountRoutes(services).routes()],
    ]),
  );
  // The dev mailbox holds sign-in codes: served only when the issuer itself is this machine, so a
  // server behind a reverse proxy (where every client looks like loopback) never exposes it.
  if (services.mailer instanceof DevMailbox && isLocalIssuer(config.issuer)) provider.use(onlyItsPaths(devMailboxRoutes(services.mailer)));
  // Kinde's dialect around the engine's endpoints: named steps, per endpoint, in the order they run.
  const formRequest = kindeFormRequest(db);
  provider.use(
    stepsByEndpoint({
      [ROUTES.authorization]: [kindeAuthorizationRequest, grantReadWithSession],
      [ROUTES.code_verification]: [prefillUserCode, refuseDeviceFormWithoutSession(provider.cookieName('session')), limitWrongUserCodes(db, services.masterKey.derive('user-code-attempts'))],
      [ROUTES.device_authorization]: [kindeDeviceAuthorizationResponse, formRequest, unauthorizedClientForForeignGrants],
      [ROUTES.token]: [formRequest, deviceCodePollingPace(db), refreshCookies.onTokenResponse, unauthorizedClientForForeignGrants],
      [ROUTES.introspection]: [formRequest, introspectAccessTokens(db, services.verifyAccessToken)],
      [ROUTES.revocation]: [formRequest, revokeAccessTokens(db, services.verifyAccessToken)],
      [ROUTES.pushed_authorization_request]: [formRequest],
    }),
  );
  // After the rest, so it wraps only the engine. Authorizations succeed at several paths (the authorization endpoint, its resume, the device confirmation).
  provider.use(writesAroundTheEngine(db) as never);
  // Last: it must call the engine's router synchronously, where the router defines `ctx.oidc` (engine-context.ts).
  provider.use(engineContextsShareOneAccessor());
  return provider;
}

/**
 * A request that reaches a process still starting (only with PORT=0, which must bind to learn its
 * issuer): a proper 503 that says when to come back, never an empty one.
 */
const stillStarting: http.RequestListener = (_req, res) => {
  res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1', connection: 'close' });
  res.end(JSON.stringify({ error: 'temporarily_unavailable', error_description: 'Gatehouse is starting; try again in a moment' }));
};

export async function startGatehouse(configured: Config, options: { logger?: Logger } = {}): Promise<Gatehouse> {
  let handler: http.RequestListener = stillStarting;
  const listener: http.RequestListener = (req, res) => handler(req, res);
  const server = configured.tls
    ? https.createServer({ cert: readFileSync(configured.tls.certFile), key: readFileSync(configured.tls.keyFile) }, listener)
    : http.createServer(listener);
  const requests = drainable(server);
  // The webhook worker's rate cap lifts while this stays put (nothing else for the process to do).
  let requestsReceived = 0;
  server.on('request', () => requestsReceived++);
  const listen = async (): Promise<number> => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(configured.port, configured.host, () => resolve());
    });
    return (server.address() as AddressInfo).port;
  };
  // A load balancer without health checks sends traffic as soon as the port accepts connections, so
  // the port is bound only once migrations are checked and keys loaded. PORT=0 (tests, several local
  // replicas) is the exception: the issuer follows the port actually bound.
  const port = configured.issuerFromPort ? await listen() : configured.port;
  const config: Config = configured.issuerFromPort ? { ...configured, issuer: `${configured.tls ? 'https' : 'http'}://localhost:${port}` } : configured;
  const logger = options.logger ?? pino({ level: config.logLevel, redact: ['req.headers.authorization', 'req.headers.cookie'] });
  useHashingLanes(config.hashingThreads);
  const store = openStore(config.databaseUrl, { onConnectionError: (err) => logger.warn({ err }, 'a background database connection failed') });
  try {
    await migrateToLatest(store.db);
    const masterKey = MasterKey.load(config.masterKey, config.dataDir);
    await checkMasterKey(store, masterKey);
    await ensureSigningKey(store.db, masterKey);
    await ensureBuiltInConnections(store.db);
    await ensureDefaultOrganization(store.db);
    await ensureManagementApi(store.db, config.issuer);
    await ensureBootstrapClient(store, config);

    let keys = await loadKeySet(store.db, masterKey);
    let verifier: AccessTokenVerifier = accessTokenVerifier(keys, config.issuer);
    const mailer: Mailer = config.smtpUrl ? new SmtpMailer(config.smtpUrl, config.mailFrom) : new DevMailbox(logger);
    const sms = smsSenderFor(config, mailer instanceof DevMailbox ? mailer : undefined);
    const mailerFor = environmentMailer(mailer, config.mailFrom, (sealed) => masterKey.open(sealed, 'environment-smtp-url'));
    const cookieKeys = [masterKey.derive('cookies').toString('base64url')];
    let engine: Provider;

    const importJobs = new ImportJobs(store.db, logger, store.dialect);
    const interrupted = await importJobs.interruptAbandoned();
    if (interrupted > 0) logger.warn({ jobs: interrupted }, 'import jobs whose process stopped are marked interrupted');

    const services: Services = {
      config,
      db: store.db,
      dialect: store.dialect,
      logger,
      masterKey,
      mailer,
      codes: new OneTimeCodes(store.db, masterKey.derive('one-time-codes')),
      importJobs,
      networkFailures: new NetworkFailures(store.db, config.addressLimits.failures),
      csrfKey: masterKey.derive('csrf'),
      provider: () => engine,
      verifyAccessToken: () => verifyWithReload,
      authenticateAccessToken: accessTokenAuthenticator(store.db, () => verifyWithReload),
      senders: (policy) => ({ mailer: mailerFor(policy.email), sms }),
      businessName: (policy) => policy.businessName ?? process.env.GATEHOUSE_BUSINESS_NAME ?? 'Gatehouse',
    };

    // A token signed with a key this replica has not loaded yet (another replica rotated, or started
    // first) triggers one early reload, at most every few seconds, instead of a 30-second wait.
    let lastUnknownKidReload = 0;
    const verifyWithReload: AccessTokenVerifier = async (token, audience) => {
      const claims = await verifier(token, audience);
      if (claims || !signedWithUnknownKey(token, keys) || Date.now() - lastUnknownKidReload < 5_000) return claims;
      lastUnknownKidReload = Date.now();
      await reloadKeys();
      return verifier(token, audience);
    };

    const install = (nextKeys: KeySet) => {
      keys = nextKeys;
      verifier = accessTokenVerifier(keys, config.issuer);
      engine = buildEngine(services, keys, cookieKeys, () => engine);
      handler = engine.callback();
    };
    install(keys);

    const reloadKeys = async () => {
      const latest = await loadKeySet(store.db, masterKey);
      if (latest.fingerprint !== keys.fingerprint) {
        install(latest);
        logger.info({ keys: latest.fingerprint }, 'signing keys changed; protocol engine reloaded');
      }
    };

    // Issue 14, "Safety": the provider calls' SSRF rule, 2xx within 10 s, at most 64 KB of an answer read.
    const webhookPoster = outboundPoster({ allowPrivateNetwork: config.allowPrivateNetwork || issuerOnLoopback(config.issuer), timeoutMs: 10_000, maxBytes: 64 * 1024 });
    const webhookWorker = new WebhookWorker({
      db: store.db,
      dialect: store.dialect,
      logger,
      sign: webhookSigner(() => keys.privateKeys[0]!),
      send: webhookPoster.post,
      retry: { baseDelayMs: config.webhookRetryBaseMs, maxDelayMs: 60 * 60_000, retryForMs: 24 * 60 * 60_000 },
      pollMs: config.webhookPollMs,
      maxRate: config.webhookMaxRate,
      requestsReceived: () => requestsReceived,
    });

    const boundPort = server.listening ? port : await listen();
    webhookWorker.start();
    // Replicas on one PostgreSQL wake each other's workers when an event commits; polling stays the fallback.
    const deliveryNotifications =
      store.dialect === 'postgres'
        ? listenForNotifications(config.databaseUrl, DELIVERIES_CHANNEL, notifyDeliveriesQueued, (err) => logger.warn({ err }, 'listening for webhook deliveries failed; polling until it is back'))
        : undefined;

    const timers = [
      returnMemoryWhenIdle(server),
      setInterval(() => reloadKeys().catch((err) => logger.error({ err }, 'signing key reload failed')), KEY_RELOAD_INTERVAL_MS),
      setInterval(() => {
        Promise.all([
          deleteExpiredModels(store.db),
          services.codes.deleteExpired(),
          deleteExpiredFlows(store.db),
          deleteExpiredGrantOrganizations(store.db),
          deleteExpiredSessionActivity(store.db),
          deleteExpiredRateCounters(store.db),
          pruneEvents(store.db, clock.now() - config.eventRetentionDays * 24 * 60 * 60_000),
        ]).catch((err) =>
          logger.error({ err }, 'cleanup failed'),
        );
      }, CLEANUP_INTERVAL_MS),
    ];
    for (const timer of timers) timer.unref();

    const url = `${config.tls ? 'https' : 'http'}://localhost:${boundPort}`;
    logger.info({ url, issuer: config.issuer, database: store.dialect, at: clock.now() }, 'Gatehouse is listening');
    if (services.mailer instanceof DevMailbox && !isLocalIssuer(config.issuer)) {
      logger.warn('SMTP_URL is not set and the issuer is not this machine: emails cannot be delivered (the dev mailbox is only served on localhost)');
    }
    if (!config.bootstrapClient) {
      logger.info('no management client configured: set GATEHOUSE_BOOTSTRAP_CLIENT_ID and GATEHOUSE_BOOTSTRAP_CLIENT_SECRET to use /api/v1 (README, "First steps")');
    }

    return {
      url,
      services,
      reloadKeys,
      async close() {
        for (const timer of timers) clearInterval(timer);
        await requests.drain(SHUTDOWN_GRACE_MS);
        // Sends in flight are interrupted and handed back (another replica, or the next start, sends them).
        await deliveryNotifications?.stop();
        await webhookWorker.stop();
        await importJobs.stop();
        webhookPoster.close();
        await store.close();
      },
    };
  } catch (error) {
    await store.close();
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    throw error;
  }
}
