import type { CodePurpose } from '../one-time-codes.ts';
import type { Mailer, OutgoingEmail } from './mailer.ts';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const SUBJECTS: Record<CodePurpose, (business: string) => string> = {
  sign_in: (business) => `Your ${business} sign-in code`,
  sign_up: (business) => `Confirm your email for ${business}`,
  reset_password: (business) => `Reset your ${business} password`,
};

const LEADS: Record<CodePurpose, string> = {
  sign_in: 'Use this code to sign in',
  sign_up: 'Use this code to confirm your email address',
  reset_password: 'Use this code to reset your password',
};

export function codeEmail(purpose: CodePurpose, to: string, code: string, business: string): OutgoingEmail {
  const lead = LEADS[purpose];
  const expiry = 'It expires in 2 hours and can be used once. If you did not ask for it, you can ignore this email.';
  return {
    to,
    subject: SUBJECTS[purpose](business),
    text: `${lead} at ${business}:\n\n${code}\n\n${expiry}\n`,
    html: `<p>${escapeHtml(lead)} at ${escapeHtml(business)}:</p><p style="font-size:28px;font-weight:700;letter-spacing:6px">${code}</p><p>${escapeHtml(expiry)}</p>`,
  };
}

/** The one path every one-time code takes to a person (email now; SMS joins it with phone sign-in). */
export async function sendCode(mailer: Mailer, purpose: CodePurpose, to: string, code: string, business: string): Promise<void> {
  await mailer.send(codeEmail(purpose, to, code, business));
}
