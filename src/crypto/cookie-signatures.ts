import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Signs and checks the engine's cookies (`_interaction`, `_session`, …) in Keygrip's format
 * (HMAC-SHA1, base64url), so cookies signed before keep working. Keygrip compares through `tsscmp`,
 * which draws random bytes and runs two more HMACs per comparison; the signed cookies are read on
 * every sign-in request, and `timingSafeEqual` is as constant-time for a fraction of the cost.
 */
export class CookieSignatures {
  constructor(private readonly keys: readonly string[]) {
    if (keys.length === 0) throw new Error('cookie signing needs at least one key');
  }

  sign(data: string): string {
    return signature(data, this.keys[0]!);
  }

  verify(data: string, digest: string): boolean {
    return this.index(data, digest) > -1;
  }

  /** Which key signed `data` (-1: none); the `cookies` package re-signs with the first key when it is not 0. */
  index(data: string, digest: string): number {
    const given = Buffer.from(digest ?? '');
    for (let i = 0; i < this.keys.length; i++) {
      const expected = Buffer.from(signature(data, this.keys[i]!));
      if (given.length === expected.length && timingSafeEqual(given, expected)) return i;
    }
    return -1;
  }
}

const signature = (data: string, key: string) => createHmac('sha1', key).update(data).digest('base64url');
