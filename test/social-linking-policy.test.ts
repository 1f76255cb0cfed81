import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type SocialNextStep, socialNextStep } from '../src/domain/social/identities.ts';

type Row = [string, Parameters<typeof socialNextStep>[0], SocialNextStep];

const owner = (emailVerified: boolean) => ({ userId: 'kp_owner', emailVerified });
const base = { knownUserId: undefined, email: 'ada@example.test', emailVerified: true, typedByPerson: false, trusted: true, owner: undefined };

// Sections 004 and 055: a provider's word links accounts only when it is trusted and the email verified.
const ROWS: Row[] = [
  ['a known identity signs its user in, whatever the email says', { ...base, knownUserId: 'kp_known', emailVerified: false, trusted: false, owner: owner(true) }, { kind: 'sign_in', userId: 'kp_known' }],
  ['trusted + verified + nobody has the email: a new user with that email, no code', base, { kind: 'create', email: 'ada@example.test' }],
  ['trusted + verified + an owner who verified it: linked, no code', { ...base, owner: owner(true) }, { kind: 'link', userId: 'kp_owner' }],
  ['trusted + verified, but the owner never verified it: a code first', { ...base, owner: owner(false) }, { kind: 'verify_email', email: 'ada@example.test' }],
  ['untrusted provider, existing owner: a code first (never a silent takeover)', { ...base, trusted: false, owner: owner(true) }, { kind: 'verify_email', email: 'ada@example.test' }],
  ['trusted provider, unverified email, existing owner: a code first', { ...base, emailVerified: false, owner: owner(true) }, { kind: 'verify_email', email: 'ada@example.test' }],
  ['untrusted provider, nobody has the email: a new user with the social identity alone', { ...base, trusted: false }, { kind: 'create', email: undefined }],
  ['unverified email, nobody has it: a new user with the social identity alone', { ...base, emailVerified: false }, { kind: 'create', email: undefined }],
  ['an email the person typed (X): a code first, even with nobody holding it', { ...base, emailVerified: false, typedByPerson: true }, { kind: 'verify_email', email: 'ada@example.test' }],
  ['no email from the provider (X): ask for one', { ...base, email: undefined }, { kind: 'ask_email' }],
];

describe('what a social sign-in does with the provider\'s answer (socialNextStep)', () => {
  for (const [name, input, expected] of ROWS) {
    it(name, () => assert.deepEqual(socialNextStep(input), expected));
  }
});
