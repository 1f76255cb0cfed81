import { z } from 'zod';
import { DomainError } from './errors.ts';
import { ENDPOINT_NAMES } from './social/providers.ts';

/**
 * What the options of every connection to an outside identity provider (social and enterprise) have
 * in common: upstream parameters (section 009), endpoint URLs, secrets, and how a change is applied
 * (PATCH merges, PUT replaces) and shown (secrets never). Each family adds its own fields.
 */

/** Section 009: the authorization request parameters an `alias` may copy. */
export const UPSTREAM_ALIASES = ['prompt', 'login_hint'] as const;

/**
 * Parameters Gatehouse sets itself: an upstream parameter overriding one would break (or subvert) the
 * round trip, e.g. a fixed `state` or a `redirect_uri` elsewhere; for SAML, the message itself.
 */
const PROTOCOL_PARAMETERS = new Set([
  'client_id', 'redirect_uri', 'response_type', 'response_mode', 'state', 'nonce', 'scope',
  'code_challenge', 'code_challenge_method', 'request', 'request_uri', 'claims',
  'SAMLRequest', 'RelayState', 'SigAlg', 'Signature',
]);

const upstreamParam = z.union([
  z.object({ value: z.string().max(2000) }).strict(),
  z.object({ alias: z.enum(UPSTREAM_ALIASES, { error: `must be one of ${UPSTREAM_ALIASES.join(', ')}` }) }).strict(),
]);

export const upstreamParams = z
  .record(z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be a parameter name'), upstreamParam)
  .refine((params) => Object.keys(params).every((name) => !PROTOCOL_PARAMETERS.has(name)), `must not set ${[...PROTOCOL_PARAMETERS].join(', ')}`)
  .refine((params) => Object.keys(params).length <= 20, 'at most 20 parameters');

export type UpstreamParams = z.infer<typeof upstreamParams>;

/** Absolute https URLs (http only for loopback: local development and tests); no fragment. */
export const endpointUrl = z
  .url({ protocol: /^https?$/, error: 'must be an absolute https URL' })
  .max(2000)
  .refine((value) => !value.includes('#'), 'must not contain a fragment')
  .refine((value) => {
    const url = new URL(value);
    return url.protocol === 'https:' || ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname);
  }, 'must use https (http only on loopback)');

/** Gatehouse's `endpoints` option: any subset of the provider's URLs, over its defaults (self-managed servers, local fakes). */
export const endpoints = z.object(Object.fromEntries(ENDPOINT_NAMES.map((name) => [name, endpointUrl.optional()])) as Record<(typeof ENDPOINT_NAMES)[number], z.ZodOptional<typeof endpointUrl>>).strict();

export const secret = z.string().min(1).max(10_000);

/** Parses a connection's `options` with its family's schema; every failing field is named, as `readBody` does. */
export function parseOptions<S extends z.ZodType>(schema: S, given: unknown): z.output<S> {
  const result = schema.safeParse(given ?? {});
  if (result.success) return result.data;
  throw new DomainError('INVALID_REQUEST', result.error.issues.map((issue) => `${['options', ...issue.path].join('.')}: ${issue.message}`).join('; '), 400);
}

/**
 * PATCH: the given options over the stored ones (a secret left out stays; `null` removes). `is_trusted`
 * lives in its own column (sign-in reads it without opening secrets), so it is never sealed.
 */
export function mergeOptions<O extends object>(stored: O, given: object): O {
  const merged: Record<string, unknown> = { ...(stored as Record<string, unknown>) };
  for (const [key, value] of Object.entries(given)) {
    if (key === 'is_trusted' || value === undefined) continue;
    if (value === null) delete merged[key];
    else merged[key] = value;
  }
  return merged as O;
}

/** The options as the management API shows them: everything but the secrets. */
export function visibleOptions(options: object, isTrusted: boolean, secrets: readonly string[]): Record<string, unknown> {
  const shown: Record<string, unknown> = { ...options, is_trusted: isTrusted };
  for (const key of secrets) delete shown[key];
  return shown;
}
