import type { CodePurpose } from '../one-time-codes.ts';
import { escapeHtml, type Mailer, type OutgoingEmail } from './mailer.ts';
import type { SmsSender } from './sms.ts';

const SUBJECTS: Record<CodePurpose, (business: string) => string> = {
  sign_in: (business) => `Your ${business} sign-in code`,
  sign_up: (business) => `Confirm your email for ${business}`,
  reset_password: (business) => `Reset your ${business} password`,
  mfa: (business) => `Your ${business} verification code`,
};

const LEADS: Record<CodePurpose, string> = {
  sign_in: 'Use this code to sign in',
  sign_up: 'Use this code to confirm your email address',
  reset_password: 'Use this code to reset your password',
  mfa: 'Use this code to finish signing in',
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

/**
 * Kinde's SMS is one fixed, non-editable text for every purpose (spec §003 "OTP message format",
 * §016 "SMS content"): the code first, readable in a notification, then an origin-bound last line
 * `@domain #code` (WebOTP) so browsers can offer the code only on that domain. Without a bound
 * domain the last line is left out. (§014 quotes an older "Your verification code is [xxxxxx]";
 * §003 and §016 agree on this one.)
 */
export function codeSms(_purpose: CodePurpose, code: string, business: string, boundDomain?: string): string {
  const lead = `${code} is your one-time code to sign in to ${business}`;
  return boundDomain ? `${lead}\n\n@${boundDomain} #${code}` : lead;
}

export interface CodeChannels {
  mailer: Mailer;
  /** Absent when neither Twilio nor the dev mailbox is available: phone sign-in is then off. */
  sms?: SmsSender | undefined;
}

export interface CodeMessage {
  channel: 'email' | 'sms';
  purpose: CodePurpose;
  /** An email address, or an E.164 phone number for 'sms'. */
  to: string;
  code: string;
  business: string;
  /** Host name of the sign-in pages (the issuer's, no port), for the SMS's origin-bound last line. */
  boundDomain?: string;
}

/** The one path every one-time code takes to a person, by email or SMS. */
export async function sendCode(channels: CodeChannels, message: CodeMessage): Promise<void> {
  const { purpose, to, code, business } = message;
  if (message.channel === 'email') return channels.mailer.send(codeEmail(purpose, to, code, business));
  if (!channels.sms) throw new Error('SMS is not configured: set TWILIO_ACCOUNT_SID and its companions, or run without SMTP_URL to use the dev mailbox');
  await channels.sms.send(to, codeSms(purpose, code, business, message.boundDomain));
}
