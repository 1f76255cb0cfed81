import type Provider from 'oidc-provider';
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { MasterKey } from './crypto/master-key.ts';
import type { OneTimeCodes } from './domain/one-time-codes.ts';
import type { NetworkFailures } from './domain/attack-protection.ts';
import type { Mailer } from './domain/messaging/mailer.ts';
import type { CodeChannels } from './domain/messaging/codes.ts';
import type { EnvironmentPolicy } from './domain/environment.ts';
import type { ImportJobs } from './domain/import/jobs.ts';
import type { AccessTokenAuthenticator } from './protocol/access-token-authentication.ts';
import type { AccessTokenVerifier } from './protocol/access-tokens.ts';
import type { Db, Dialect } from './store/db.ts';

/** What the HTTP layers are given: the store, the senders, and the current protocol engine. */
export interface Services {
  config: Config;
  db: Db;
  dialect: Dialect;
  logger: Logger;
  masterKey: MasterKey;
  mailer: Mailer;
  codes: OneTimeCodes;
  /** Bulk imports running in this process (POST /api/v1/users/import). */
  importJobs: ImportJobs;
  /** Failed attempts per network across every account (429 once past GATEHOUSE_FAILURES_PER_ADDRESS). */
  networkFailures: NetworkFailures;
  csrfKey: Buffer;
  /** The engine is rebuilt when signing keys rotate; always read the current one. */
  provider(): Provider;
  verifyAccessToken: () => AccessTokenVerifier;
  /** Checks a request's access token as every endpoint that takes one must (revocation, DPoP). */
  authenticateAccessToken: AccessTokenAuthenticator;
  /** The email and SMS senders of the environment's current settings. */
  senders(policy: EnvironmentPolicy): CodeChannels;
  /** The business named in emails and SMS: the environment's, else GATEHOUSE_BUSINESS_NAME. */
  businessName(policy: EnvironmentPolicy): string;
}
