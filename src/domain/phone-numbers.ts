import { createRequire } from 'node:module';
import type { CountryCode, NumberType } from 'libphonenumber-js/max';

/**
 * libphonenumber with the "max" metadata, which knows number types, so a landline is refused before
 * an SMS is paid for. Loaded with the first phone number (it is ~60 ms and 4 MB of start-up otherwise,
 * and most environments never see one); its CommonJS build, because these functions are synchronous.
 */
const requireLibrary = createRequire(import.meta.url);
const libphonenumber = () => requireLibrary('libphonenumber-js/max') as typeof import('libphonenumber-js/max');

export type { CountryCode };

/** A number Twilio can text: E.164 (`+61466043123`) and its ISO 3166 alpha-2 region. */
export interface NormalizedPhone {
  e164: string;
  country: CountryCode;
}

/** Why the input is not a usable mobile number, worded for the person who typed it. */
export interface PhoneProblem {
  problem: string;
}

export type PhoneParse = NormalizedPhone | PhoneProblem;

const EXAMPLE = '+61 466 043 123';
export const PHONE_PROBLEMS = {
  empty: 'Enter your mobile number.',
  characters: `Enter a mobile number using digits only, like ${EXAMPLE}.`,
  countryCode: `Enter a mobile number with its country code, like ${EXAMPLE}.`,
  invalid: `That is not a valid phone number. Check it and include the country code, like ${EXAMPLE}.`,
  notMobile: 'That looks like a landline or service number. Enter a mobile number that can receive text messages.',
} as const;

/** Digits and the punctuation people type between them; letters (vanity numbers, "ext.") are refused. */
const TYPED_PHONE = /^\+?[\d\s().\-/]{1,40}$/;

/** Types that cannot receive an SMS. Unknown types and FIXED_LINE_OR_MOBILE (US, CA, …) pass. */
const NOT_TEXTABLE = new Set<NumberType>(['FIXED_LINE', 'TOLL_FREE', 'PREMIUM_RATE', 'SHARED_COST', 'UAN', 'VOICEMAIL', 'PAGER']);

/** `au`, `AU` → `'AU'`; anything libphonenumber has no plan for → undefined. */
export function phoneCountry(value: string | undefined): CountryCode | undefined {
  const upper = value?.trim().toUpperCase();
  return upper && libphonenumber().isSupportedCountry(upper) ? upper : undefined;
}

/**
 * Parses what a person typed into E.164. The default country reads national forms (`0466 043 123`,
 * `(415) 555-2671`) and country codes written without '+' (`61466043123` with AU). A leading `00`
 * is the ITU international prefix, tried after the country's own (AU dials out with 0011).
 */
export function normalizePhone(input: string, defaultCountry?: CountryCode): PhoneParse {
  const typed = input.trim();
  if (!typed) return { problem: PHONE_PROBLEMS.empty };
  if (!TYPED_PHONE.test(typed)) return { problem: PHONE_PROBLEMS.characters };
  if (!typed.startsWith('+') && !typed.startsWith('00') && !defaultCountry) return { problem: PHONE_PROBLEMS.countryCode };

  const { parsePhoneNumberFromString } = libphonenumber();
  const candidates = [parsePhoneNumberFromString(typed, defaultCountry)];
  if (typed.startsWith('00')) candidates.push(parsePhoneNumberFromString(`+${typed.slice(2)}`));
  const phone = candidates.find((candidate) => candidate?.isValid());
  if (!phone) return { problem: PHONE_PROBLEMS.invalid };
  // Non-geographic numbers (+800, +882 …) have no region and no SMS.
  if (!phone.country || NOT_TEXTABLE.has(phone.getType())) return { problem: PHONE_PROBLEMS.notMobile };
  return { e164: phone.number, country: phone.country };
}

const LOGIN_HINT = /^phone:([^:]+)(?::([A-Za-z]{2}))?$/;

/**
 * Kinde's login_hint for phone sign-in (spec §022): `phone:+61444110110:au`. The '+' and the trailing
 * country are optional; the number normally carries its country code, so without '+' it is read in
 * the hinted (or default) country first and as international digits second. An email or `username:`
 * hint is a problem here: callers pick the parser by the hint's prefix.
 */
export function parsePhoneLoginHint(hint: string, defaultCountry?: CountryCode): PhoneParse {
  const match = LOGIN_HINT.exec(hint.trim());
  if (!match?.[1]) return { problem: PHONE_PROBLEMS.countryCode };
  const number = match[1];
  const country = phoneCountry(match[2]) ?? defaultCountry;
  const parsed = normalizePhone(number, country);
  if ('e164' in parsed || number.startsWith('+')) return parsed;
  const international = normalizePhone(`+${number}`);
  return 'e164' in international ? international : parsed;
}
