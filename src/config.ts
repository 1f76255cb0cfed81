import { z } from 'zod';

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
  /** Dev mailbox page and message logging: on when no SMTP server is configured. */
  devMailbox: boolean;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, reason: string) {
    super(`${variable}: ${reason}`);
  }
}

const clientSecretFormat = /^[A-Za-z0-9]{40,60}$/;

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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
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

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const vars = parseVariables(env);
  requirePair(vars, 'GATEHOUSE_BOOTSTRAP_CLIENT_ID', 'GATEHOUSE_BOOTSTRAP_CLIENT_SECRET');
  requirePair(vars, 'TLS_CERT_FILE', 'TLS_KEY_FILE');
  const tls = vars.TLS_CERT_FILE && vars.TLS_KEY_FILE ? { certFile: vars.TLS_CERT_FILE, keyFile: vars.TLS_KEY_FILE } : undefined;
  const scheme = tls ? 'https' : 'http';
  return {
    port: vars.PORT,
    host: vars.HOST,
    issuer: vars.ISSUER_URL ?? `${scheme}://localhost:${vars.PORT}`,
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
    devMailbox: vars.SMTP_URL === undefined,
  };
}
