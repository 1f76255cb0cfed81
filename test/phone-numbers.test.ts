import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type CountryCode, normalizePhone, parsePhoneLoginHint, PHONE_PROBLEMS, type PhoneParse, phoneCountry } from '../src/domain/phone-numbers.ts';

const ok = (e164: string, country: string): PhoneParse => ({ e164, country: country as CountryCode });
const problem = (text: string): PhoneParse => ({ problem: text });

describe('normalizePhone', () => {
  const table: Array<[input: string, defaultCountry: CountryCode | undefined, expected: PhoneParse]> = [
    ['+61 466 043 123', undefined, ok('+61466043123', 'AU')],
    ['0466 043 123', 'AU', ok('+61466043123', 'AU')],
    ['0466-043-123', 'AU', ok('+61466043123', 'AU')],
    ['61466043123', 'AU', ok('+61466043123', 'AU')],
    ['+61 (0) 466 043 123', 'AU', ok('+61466043123', 'AU')],
    ['0011 61 466 043 123', 'AU', ok('+61466043123', 'AU')],
    ['0061 466 043 123', 'US', ok('+61466043123', 'AU')],
    ['(415) 555-2671', 'US', ok('+14155552671', 'US')],
    ['1 415 555 2671', 'US', ok('+14155552671', 'US')],
    ['415.555.2671', 'US', ok('+14155552671', 'US')],
    ['07400 123456', 'GB', ok('+447400123456', 'GB')],
    ['+44 7400 123456', 'AU', ok('+447400123456', 'GB')],
    ['0044 7400 123456', undefined, ok('+447400123456', 'GB')],
    ['0151 23456789', 'DE', ok('+4915123456789', 'DE')],
    ['98765 43210', 'IN', ok('+919876543210', 'IN')],
    ['  +64 21 123 4567  ', 'NZ', ok('+64211234567', 'NZ')],
    ['', 'AU', problem(PHONE_PROBLEMS.empty)],
    ['   ', undefined, problem(PHONE_PROBLEMS.empty)],
    ['61466043123', undefined, problem(PHONE_PROBLEMS.countryCode)],
    ['0466 043 123', undefined, problem(PHONE_PROBLEMS.countryCode)],
    ['1-800-FLOWERS', 'US', problem(PHONE_PROBLEMS.characters)],
    ['+61 466 043 123 ext. 5', 'AU', problem(PHONE_PROBLEMS.characters)],
    ['alice@example.com', 'AU', problem(PHONE_PROBLEMS.characters)],
    ['12345', 'US', problem(PHONE_PROBLEMS.invalid)],
    ['+61 466 043 12', undefined, problem(PHONE_PROBLEMS.invalid)],
    ['+999 1234 5678', undefined, problem(PHONE_PROBLEMS.invalid)],
    ['02 9374 4000', 'AU', problem(PHONE_PROBLEMS.notMobile)],
    ['1800 123 456', 'AU', problem(PHONE_PROBLEMS.notMobile)],
    ['+44 20 7946 0958', undefined, problem(PHONE_PROBLEMS.notMobile)],
    ['+800 1234 5678', undefined, problem(PHONE_PROBLEMS.notMobile)],
  ];
  for (const [input, defaultCountry, expected] of table) {
    it(`reads ${JSON.stringify(input)} with default ${defaultCountry ?? 'none'} as ${'e164' in expected ? expected.e164 : 'a problem'}`, () => {
      assert.deepEqual(normalizePhone(input, defaultCountry), expected);
    });
  }

  it('words every problem for the person typing, with an example number', () => {
    assert.match(PHONE_PROBLEMS.countryCode, /^Enter a mobile number with its country code, like \+61 466 043 123\.$/);
  });
});

describe("parsePhoneLoginHint (Kinde's phone:<number>:<country>)", () => {
  const table: Array<[hint: string, defaultCountry: CountryCode | undefined, expected: PhoneParse]> = [
    ['phone:+61466043123:au', 'US', ok('+61466043123', 'AU')],
    ['phone:61466043123:au', 'US', ok('+61466043123', 'AU')],
    ['phone:+61444110110:au', undefined, ok('+61444110110', 'AU')],
    ['phone:+447400123456', 'US', ok('+447400123456', 'GB')],
    ['phone:447400123456', 'US', ok('+447400123456', 'GB')],
    ['phone:61466043123', undefined, ok('+61466043123', 'AU')],
    ['phone:4155552671:us', 'AU', ok('+14155552671', 'US')],
    ['phone:0466043123:AU', undefined, ok('+61466043123', 'AU')],
    ['phone:+61466043123:zz', undefined, ok('+61466043123', 'AU')],
    ['phone:12345:au', 'AU', problem(PHONE_PROBLEMS.invalid)],
    ['phone:', 'AU', problem(PHONE_PROBLEMS.countryCode)],
    ['dave@kinde.com', 'AU', problem(PHONE_PROBLEMS.countryCode)],
    ['username:Bob_the_dog', 'AU', problem(PHONE_PROBLEMS.countryCode)],
  ];
  for (const [hint, defaultCountry, expected] of table) {
    it(`reads ${hint} with default ${defaultCountry ?? 'none'}`, () => {
      assert.deepEqual(parsePhoneLoginHint(hint, defaultCountry), expected);
    });
  }
});

describe('phoneCountry', () => {
  it('accepts ISO 3166 alpha-2 in either case and refuses the rest', () => {
    assert.equal(phoneCountry('au'), 'AU');
    assert.equal(phoneCountry(' GB '), 'GB');
    assert.equal(phoneCountry('ZZ'), undefined);
    assert.equal(phoneCountry('AUS'), undefined);
    assert.equal(phoneCountry(undefined), undefined);
  });
});
