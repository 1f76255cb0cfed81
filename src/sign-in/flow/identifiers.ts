import { identityProblem } from '../../domain/identities.ts';
import { normalizePhone, parsePhoneLoginHint } from '../../domain/phone-numbers.ts';
import type { IdentityType } from '../../domain/users.ts';

export interface Identifier {
  type: IdentityType;
  /** As the person typed it (trimmed); phone numbers in E.164. */
  value: string;
}

export type ParsedIdentifier = Identifier | { problem: string };

/** The domain's rules (one for pages and the management API), in words for the sign-in pages. */
export function emailProblem(email: string): string | undefined {
  return identityProblem('email', email) ? 'Enter a valid email address' : undefined;
}

export function usernameProblem(username: string): string | undefined {
  return identityProblem('username', username) ? 'Usernames are 2 to 64 letters, digits, dashes (-) or underscores (_)' : undefined;
}

const PROMPTS: Record<IdentityType, string> = { email: 'an email address', phone: 'a mobile number', username: 'a username' };

function listOf(types: readonly IdentityType[]): string {
  const words = types.map((t) => PROMPTS[t]);
  return words.length <= 1 ? (words[0] ?? '') : `${words.slice(0, -1).join(', ')} or ${words[words.length - 1]}`;
}

/**
 * Reads the one identifier field of the sign-in page: what looks like an email is an email, what
 * looks like a phone number is a phone number, anything else is a username — among the kinds the
 * application offers.
 */
export function parseIdentifier(input: string, offered: readonly IdentityType[], defaultCountry: string): ParsedIdentifier {
  const value = input.trim();
  if (!value) return { problem: `Enter ${listOf(offered)}` };
  const looksLike: IdentityType = value.includes('@') ? 'email' : /^[+(]?[\d\s().-]{6,}$/.test(value) ? 'phone' : 'username';
  const type = offered.includes(looksLike) ? looksLike : offered.length === 1 ? offered[0]! : looksLike;
  if (!offered.includes(type)) return { problem: `Enter ${listOf(offered)}` };
  if (type === 'email') {
    const problem = emailProblem(value);
    return problem ? { problem } : { type, value };
  }
  if (type === 'username') {
    const problem = usernameProblem(value);
    return problem ? { problem } : { type, value };
  }
  const phone = normalizePhone(value, defaultCountry as never);
  return 'problem' in phone ? { problem: phone.problem } : { type, value: phone.e164 };
}

/**
 * Kinde's `login_hint` forms (section 022): `joe@blogs.com`, `phone:+447700900000:gb`,
 * `username:joebloggs`. A hint that does not parse is ignored (it only prefills).
 */
export function parseLoginHint(hint: unknown, defaultCountry: string): Identifier | undefined {
  if (typeof hint !== 'string' || !hint.trim()) return undefined;
  const value = hint.trim();
  if (value.startsWith('phone:')) {
    const phone = parsePhoneLoginHint(value, defaultCountry as never);
    return 'problem' in phone ? undefined : { type: 'phone', value: phone.e164 };
  }
  if (value.startsWith('username:')) {
    const username = value.slice('username:'.length);
    return usernameProblem(username) ? undefined : { type: 'username', value: username };
  }
  const email = value.startsWith('email:') ? value.slice('email:'.length) : value;
  return emailProblem(email) ? undefined : { type: 'email', value: email };
}
