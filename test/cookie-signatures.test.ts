import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CookieSignatures } from '../src/crypto/cookie-signatures.ts';

// Signatures Keygrip 1.1 made for these keys and data: cookies signed before the switch still verify.
const KEYGRIP_VECTORS = { current: 'KT6EBKdVma1tY-s5Nj5hZl4Swvs', older: 'FCVyUhBl-S-HjP9DUI5L3pA-7LE' };

describe('cookie signatures', () => {
  const signatures = new CookieSignatures(['gatehouse-test-key', 'older-key']);

  it("signs in Keygrip's format with the first key", () => {
    assert.equal(signatures.sign('_session=AbC123'), KEYGRIP_VECTORS.current);
  });

  it('says which key signed a cookie, so one signed with an older key is re-signed', () => {
    assert.equal(signatures.index('_session=AbC123', KEYGRIP_VECTORS.current), 0);
    assert.equal(signatures.index('_session=AbC123', KEYGRIP_VECTORS.older), 1);
    assert.equal(signatures.verify('_session=AbC123', KEYGRIP_VECTORS.older), true);
  });

  it('refuses a signature of other data, a changed, truncated or missing one', () => {
    assert.equal(signatures.index('_session=AbC124', KEYGRIP_VECTORS.current), -1);
    assert.equal(signatures.index('_session=AbC123', `${KEYGRIP_VECTORS.current.slice(0, -1)}A`), -1);
    assert.equal(signatures.index('_session=AbC123', KEYGRIP_VECTORS.current.slice(0, 10)), -1);
    assert.equal(signatures.index('_session=AbC123', undefined as unknown as string), -1);
    assert.equal(signatures.verify('_session=AbC123', ''), false);
  });

  it('needs a key', () => {
    assert.throws(() => new CookieSignatures([]), /at least one key/);
  });
});
