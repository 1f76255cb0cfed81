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

/**
 * The same few audience sets come back on every request, and each token request turned them into an
 * indicator and back two or three times (JSON and base64url, ≈ 10 µs a request; issue 13). Both
 * directions are remembered, up to MEMORY entries (forgotten all at once past that: no growth
 * without bound whatever callers send).
 */
const MEMORY = 1000;
const resourceOfSet = new Map<string, string>();
const setOfResource = new Map<string, readonly string[] | undefined>();

function remember<V>(memory: Map<string, V>, key: string, value: V): V {
  if (memory.size >= MEMORY) memory.clear();
  memory.set(key, value);
  return value;
}

export function audienceResource(audiences: readonly string[]): string {
  const sorted = [...audiences].sort();
  const key = JSON.stringify(sorted);
  return resourceOfSet.get(key) ?? remember(resourceOfSet, key, PREFIX + Buffer.from(key).toString('base64url'));
}

/** The audiences an indicator stands for (a copy the caller may keep), or undefined when it is not one of ours. */
export function audiencesOf(resource: unknown): string[] | undefined {
  if (typeof resource !== 'string' || !resource.startsWith(PREFIX)) return undefined;
  const known = setOfResource.has(resource) ? setOfResource.get(resource) : remember(setOfResource, resource, decodeAudiences(resource));
  return known && [...known];
}

function decodeAudiences(resource: string): readonly string[] | undefined {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(resource.slice(PREFIX.length), 'base64url').toString('utf8'));
    return Array.isArray(parsed) && parsed.every((a) => typeof a === 'string') ? Object.freeze(parsed) : undefined;
  } catch {
    return undefined;
  }
}

export const NO_AUDIENCE = audienceResource([]);
