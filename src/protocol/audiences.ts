/**
 * Kinde's `audience` parameter may be repeated, space-joined or empty, and every requested audience
 * lands in the access token's `aud` array. oidc-provider issues one access token per resource
 * indicator (RFC 8707), so the whole audience set travels as one indicator and is unfolded back into
 * `aud` when the token is shaped.
 */
const PREFIX = 'urn:gatehouse:audiences:';

export function parseAudienceParam(values: readonly string[]): string[] {
  const audiences = values.flatMap((value) => value.split(' ')).filter((value) => value.length > 0);
  return [...new Set(audiences)].sort();
}

export function audienceResource(audiences: readonly string[]): string {
  return PREFIX + Buffer.from(JSON.stringify([...audiences].sort())).toString('base64url');
}

export function audiencesOf(resource: unknown): string[] | undefined {
  if (typeof resource !== 'string' || !resource.startsWith(PREFIX)) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(resource.slice(PREFIX.length), 'base64url').toString('utf8'));
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? parsed : undefined;
  } catch {
    return undefined;
  }
}

export const NO_AUDIENCE = audienceResource([]);
