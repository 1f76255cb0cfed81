import { importPKCS8 } from 'jose';
import { z } from 'zod';
import { endpoints, secret, upstreamParams, type UpstreamParams, visibleOptions } from '../connection-options.ts';
import { DomainError } from '../errors.ts';
import { type ProviderEndpoints, socialProvider } from './providers.ts';

/**
 * A social connection's options, as Kinde's management API takes them (`CreateConnectionData`), plus
 * Apple's key and Gatehouse's `endpoints`. Stored as one JSON document sealed with the master key;
 * `SECRET_OPTIONS` are never shown again.
 */
export const SECRET_OPTIONS = ['client_secret', 'private_key'] as const;

/** The options as given; `null` (PATCH) removes an option. */
export const socialOptionsInput = z
  .object({
    client_id: z.string().min(1).max(500).optional(),
    client_secret: secret.optional(),
    is_trusted: z.boolean().optional(),
    is_use_custom_domain: z.boolean().optional(),
    is_sync_user_profile_on_login: z.boolean().optional(),
    upstream_params: upstreamParams.nullable().optional(),
    endpoints: endpoints.nullable().optional(),
    team_id: z.string().min(1).max(100).nullable().optional(),
    key_id: z.string().min(1).max(100).nullable().optional(),
    private_key: secret.nullable().optional(),
  })
  .strict();

export type SocialOptionsInput = z.infer<typeof socialOptionsInput>;

/** What is sealed: `is_trusted` lives in its own column (sign-in reads it without opening secrets). */
export interface SocialOptions {
  client_id?: string;
  client_secret?: string;
  is_use_custom_domain?: boolean;
  is_sync_user_profile_on_login?: boolean;
  upstream_params?: UpstreamParams;
  endpoints?: ProviderEndpoints;
  team_id?: string;
  key_id?: string;
  private_key?: string;
}

/**
 * A social connection needs its app's credentials at the provider: a client id, and a client secret —
 * or, for Apple, the key that makes one (team id, key id, private key), since Apple's secrets expire
 * within 6 months (section 056).
 */
export async function assertUsableOptions(strategy: string, options: SocialOptions): Promise<void> {
  const provider = socialProvider(strategy);
  if (!provider) throw new DomainError('INVALID_STRATEGY', `Unknown social strategy ${strategy}`, 400);
  if (!options.client_id) throw new DomainError('INVALID_REQUEST', 'options.client_id: a social connection needs the client ID of your app at the provider', 400);
  if (provider.clientSecretJwt) {
    const key = [options.team_id, options.key_id, options.private_key];
    if (!options.client_secret && key.some((part) => !part)) {
      throw new DomainError('INVALID_REQUEST', 'options: Apple needs team_id, key_id and private_key (the .p8 key), or a client_secret made from them', 400);
    }
    if (options.private_key) {
      try {
        await importPKCS8(options.private_key, 'ES256');
      } catch {
        throw new DomainError('INVALID_REQUEST', 'options.private_key: must be the PEM (PKCS #8) ES256 key Apple gave you (.p8)', 400);
      }
    }
  } else if (!options.client_secret) {
    throw new DomainError('INVALID_REQUEST', 'options.client_secret: a social connection needs the client secret of your app at the provider', 400);
  }
}

/** The options as the management API shows them: everything but the secrets. */
export function visibleSocialOptions(options: SocialOptions, isTrusted: boolean): Record<string, unknown> {
  return visibleOptions(options, isTrusted, SECRET_OPTIONS);
}
