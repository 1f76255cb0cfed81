import { z } from 'zod';
import { DEFAULT_HASHING_LANES } from './crypto/hashing-lanes.ts';
import { type CountryCode, phoneCountry } from './domain/phone-numbers.ts';

/**
 * Gatehouse is configured by environment variables (12-factor). Every variable is parsed here and
 * nowhere else; an invalid value stops start-up with one line naming the variable.
 */
export interface Config {
  port: number;
  host: string;
  issuer: string;
  /** ISSUER_URL was not given and PORT is 0: the issuer is derived from the port bound. */
  issuerFromPort: boolean;
  databaseUrl: string;
  dataDir: string;
  smtpUrl: string | undefined;
  mailFrom: string;
  bootstrapClient: { id: string; secret: string } | undefined;
  tls: { certFile: string; keyFile: string } | undefined;
  masterKey: string | undefined;
  logLevel: string;
  /** Threads that run argon2 (src/crypto/hashing-lanes.ts); by default one per core less one. */
  hashingThreads: number;
  /** Dev mailbox page and message logging: on when no SMTP server is configured. */
  devMailbox: boolean;
  /** The business's own Twilio account for SMS codes (spec §014); without it SMS go to the dev mailbox. */
  twilio: TwilioSettings | undefined;
  /** Reads phone numbers typed without a country code (spec §014, "Default country"). */
  defaultPhoneCountry: CountryCode;
  /**
   * Per network (an IPv4 address, an IPv6 /64) in each 15 minutes: one-time codes sent, and failed
   * sign-in or client-authentication attempts, across every account (src/domain/attack-protection.ts).
   */
  addressLimits: { codes: number; failures: number };
  /**
   * Where the `_kbrte` marker cookie is visible (protocol/spa-refresh-cookie.ts): the issuer's parent
   * domain, for a browser application on a sibling subdomain. Unset: only the issuer's own host.
   */
  cookieDomain: string | undefined;
  /**
   * Calls to identity providers may reach loopback, private and link-local addresses
   * (http/outbound.ts). Off by default: an administrator-typed endpoint must not reach the metadata
   * service or the private network (OWASP SSRF). Providers on loopback are allowed regardless.
   */
  allowPrivateNetwork: boolean;
  /**
   * Every management API answer is checked against its declared response (src/management/route.ts),
   * so the OpenAPI document cannot drift from what the API does. On in tests; off by default (a cost
   * per answer, and the type checker already holds the handlers to their declarations).
   */
  checkManagementResponses: boolean;
  /** How long events stay in the log (GATEHOUSE_EVENT_RETENTION_DAYS, default 90); pruned in the background. */
  eventRetentionDays: number;
  /** First webhook retry after about this long, doubling (with jitter) up to an hour, for 24 hours. */
  webhookRetryBaseMs: number;
  /** How often each webhook worker looks for deliveries nobody woke it for (GATEHOUSE_WEBHOOK_POLL_MS). */
  webhookPollMs: number;
  /** Webhook deliveries a second at most, per replica, while it serves requests (0: no cap; issue 14). */
  webhookMaxRate: number;
}

/** Exactly one of `messagingServiceSid` and `fromNumber` is set: Kinde's "SMS source" (spec §014). */
export interface TwilioSettings {
  accountSid: string;
  authToken: string;
  messagingServiceSid?: string;
  fromNumber?: string;
  baseUrl: string;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
  }
}

const clientSecretFormat = /^[A-Za-z0-9]{40,60}$/;

/** A DNS name of two labels or more (letters, digits, hyphens); not an IP address, not a bare TLD. */
const cookieDomainFormat = /^(?=.*[a-z])(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

const variables = {
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().min(1).default('0.0.0.0'),
  ISSUER_URL: z
    .url({ protocol: /^https?$/ })
    .refine((value) => !value.endsWith('/'), 'must not end with a slash')
    .refine((value) => !new URL(value).search && !new URL(value).hash, 'must not have a query or fragment')
    .optional(),
  GATEHOUSE_DATA_DIR: z.string().min(1).default('./data'),
  DATABASE_URL: z
    .string()
    .refine((value) => /^(sqlite:|postgres:\/\/|postgresql:\/\/)/.test(value), 'must start with sqlite: or postgres://')
    .optional(),
  SMTP_URL: z
    .url({ protocol: /^smtps?$/ })
    .optional(),
  MAIL_FROM: z.string().min(3).default('Gatehouse <no-reply@localhost>'),
  GATEHOUSE_BOOTSTRAP_CLIENT_ID: z.string().regex(/^[A-Za-z0-9_-]{8,64}$/, 'must be 8–64 letters, digits, - or _').optional(),
  GATEHOUSE_BOOTSTRAP_CLIENT_SECRET: z.string().regex(clientSecretFormat, 'must be 40–60 letters and digits').optional(),
  TLS_CERT_FILE: z.string().min(1).optional(),
  TLS_KEY_FILE: z.string().min(1).optional(),
  GATEHOUSE_MASTER_KEY: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be 32 bytes, base64url-encoded (43 characters)').optional(),
  GATEHOUSE_HASHING_THREADS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(256, 'must be at most 256').optional(),
  GATEHOUSE_CODES_PER_ADDRESS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(50),
  GATEHOUSE_FAILURES_PER_ADDRESS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').default(100),
  GATEHOUSE_COOKIE_DOMAIN: z
    .string()
    // RFC 6265 §5.2.3: a leading dot is ignored, so `.example.com` means `example.com`.
    .transform((value) => value.toLowerCase().replace(/^\./, ''))
    .refine((value) => cookieDomainFormat.test(value) && !/^[\d.]+$/.test(value), 'must be a domain name like example.com (no scheme, port or path)')
    .optional(),
  GATEHOUSE_ALLOW_PRIVATE_NETWORK: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((value) => value === 'true')
    .default(false),
  GATEHOUSE_CHECK_RESPONSES: z
    .enum(['true', 'false'], { error: 'must be true or false' })
    .transform((value) => value === 'true')
    .default(false),
  GATEHOUSE_EVENT_RETENTION_DAYS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(36500, 'must be at most 36500').default(90),
  GATEHOUSE_WEBHOOK_MAX_RATE: z.coerce.number().int('must be a whole number').min(0, 'must be 0 (no cap) or more').default(200),
  GATEHOUSE_WEBHOOK_RETRY_BASE_MS: z.coerce.number().int('must be a whole number').min(1, 'must be at least 1').max(3_600_000, 'must be at most an hour').default(10_000),
  GATEHOUSE_WEBHOOK_POLL_MS: z.coerce.number().int('must be a whole number').min(10, 'must be at least 10').max(3_600_000, 'must be at most an hour').default(1_000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/, 'must be AC followed by 32 hex digits (Account SID in the Twilio console)').optional(),
  TWILIO_AUTH_TOKEN: z.string().regex(/^[0-9a-fA-F]{32}$/, 'must be the 32 hex digit Auth Token from the Twilio console').optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().regex(/^MG[0-9a-fA-F]{32}$/, 'must be MG followed by 32 hex digits').optional(),
  TWILIO_FROM_NUMBER: z.string().regex(/^\+[1-9]\d{6,14}$/, 'must be a phone number in E.164 form, like +14155552671').optional(),
  TWILIO_API_BASE_URL: z
    .url({ protocol: /^https?$/ })
    .transform((value) => value.replace(/\/+$/, ''))
    .default('https://api.twilio.com'),
  DEFAULT_PHONE_COUNTRY: z
    .string()
    .transform((value, ctx) => {
      const country = phoneCountry(value);
      if (!country) ctx.addIssue({ code: 'custom', message: 'must be a two-letter ISO 3166 country code, like AU or US' });
      return country ?? z.NEVER;
    })
    .default('US'),
} as const;

type Variables = { [K in keyof typeof variables]: z.infer<(typeof variables)[K]> };

function parseVariables(env: NodeJS.ProcessEnv): Variables {
  const parsed: Record<string, unknown> = {};
  for (const [name, schema] of Object.entries(variables)) {
    const raw = env[name] === '' ? undefined : env[name];
    const result = schema.safeParse(raw);
    if (!result.success) throw new ConfigError(name, result.error.issues[0]?.message ?? 'invalid');
    parsed[name] = result.data;
  }
  return parsed as Variables;
}

function requirePair(env: Variables, first: keyof Variables, second: keyof Variables): void {
  if ((env[first] === undefined) !== (env[second] === undefined)) {
    const missing = env[first] === undefined ? first : second;
    throw new ConfigError(missing, `must be set together with ${missing === first ? second : first}`);
  }
}

const TWILIO_CREDENTIALS = ['TWILIO_ACCOUNT_SID', 'TWILIO_AUTH_TOKEN', 'TWILIO_MESSAGING_SERVICE_SID', 'TWILIO_FROM_NUMBER'] as const;

/** Twilio is configured when any credential is given; then it must be complete and name one SMS source. */
function twilioSettings(vars: Variables): TwilioSettings | undefined {
  const given = TWILIO_CREDENTIALS.find((name) => vars[name] !== undefined);
  if (!given) return undefined;
  const { TWILIO_ACCOUNT_SID: accountSid, TWILIO_AUTH_TOKEN: authToken, TWILIO_MESSAGING_SERVICE_SID: messagingServiceSid, TWILIO_FROM_NUMBER: fromNumber } = vars;
  if (!accountSid) throw new ConfigError('TWILIO_ACCOUNT_SID', `must be set when ${given} is set`);
  if (!authToken) throw new ConfigError('TWILIO_AUTH_TOKEN', 'must be set together with TWILIO_ACCOUNT_SID');
  if (messagingServiceSid && fromNumber) {
    throw new ConfigError('TWILIO_FROM_NUMBER', 'must not be set together with TWILIO_MESSAGING_SERVICE_SID: choose one SMS source');
  }
  const source = messagingServiceSid ? { messagingServiceSid } : fromNumber ? { fromNumber } : undefined;
  if (!source) throw new ConfigError('TWILIO_MESSAGING_SERVICE_SID', 'must be set (or TWILIO_FROM_NUMBER instead) to choose where SMS are sent from');
  return { accountSid, authToken, ...source, baseUrl: vars.TWILIO_API_BASE_URL };
}

/**
 * RFC 6265 §5.3 step 6: a browser ignores a cookie whose Domain does not domain-match the host that
 * set it, so the cookie domain must be the issuer's host or one of its parent domains.
 */
function cookieDomainFor(issuer: string, domain: string | undefined): string | undefined {
  if (domain === undefined) return undefined;
  const host = new URL(issuer).hostname;
  if (host !== domain && !host.endsWith(`.${domain}`)) {
    throw new ConfigError('GATEHOUSE_COOKIE_DOMAIN', `must be the issuer's host (${host}) or a parent domain of it, or browsers ignore the cookie`);
  }
  return domain;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const vars = parseVariables(env);
  requirePair(vars, 'GATEHOUSE_BOOTSTRAP_CLIENT_ID', 'GATEHOUSE_BOOTSTRAP_CLIENT_SECRET');
  requirePair(vars, 'TLS_CERT_FILE', 'TLS_KEY_FILE');
  const tls = vars.TLS_CERT_FILE && vars.TLS_KEY_FILE ? { certFile: vars.TLS_CERT_FILE, keyFile: vars.TLS_KEY_FILE } : undefined;
  const scheme = tls ? 'https' : 'http';
  const issuer = vars.ISSUER_URL ?? `${scheme}://localhost:${vars.PORT}`;
  return {
    port: vars.PORT,
    host: vars.HOST,
    issuer,
    issuerFromPort: vars.ISSUER_URL === undefined && vars.PORT === 0,
    dataDir: vars.GATEHOUSE_DATA_DIR,
    databaseUrl: vars.DATABASE_URL ?? `sqlite:${vars.GATEHOUSE_DATA_DIR}/gatehouse.sqlite`,
    smtpUrl: vars.SMTP_URL,
    mailFrom: vars.MAIL_FROM,
    bootstrapClient:
      vars.GATEHOUSE_BOOTSTRAP_CLIENT_ID && vars.GATEHOUSE_BOOTSTRAP_CLIENT_SECRET
        ? { id: vars.GATEHOUSE_BOOTSTRAP_CLIENT_ID, secret: vars.GATEHOUSE_BOOTSTRAP_CLIENT_SECRET }
        : undefined,
    tls,
    masterKey: vars.GATEHOUSE_MASTER_KEY,
    logLevel: vars.LOG_LEVEL,
    hashingThreads: vars.GATEHOUSE_HASHING_THREADS ?? DEFAULT_HASHING_LANES,
    devMailbox: vars.SMTP_URL === undefined,
    twilio: twilioSettings(vars),
    defaultPhoneCountry: vars.DEFAULT_PHONE_COUNTRY,
    addressLimits: { codes: vars.GATEHOUSE_CODES_PER_ADDRESS, failures: vars.GATEHOUSE_FAILURES_PER_ADDRESS },
    cookieDomain: cookieDomainFor(issuer, vars.GATEHOUSE_COOKIE_DOMAIN),
    allowPrivateNetwork: vars.GATEHOUSE_ALLOW_PRIVATE_NETWORK,
    checkManagementResponses: vars.GATEHOUSE_CHECK_RESPONSES,
    eventRetentionDays: vars.GATEHOUSE_EVENT_RETENTION_DAYS,
    webhookRetryBaseMs: vars.GATEHOUSE_WEBHOOK_RETRY_BASE_MS,
    webhookPollMs: vars.GATEHOUSE_WEBHOOK_POLL_MS,
    webhookMaxRate: vars.GATEHOUSE_WEBHOOK_MAX_RATE,
  };
}
