import type { Config, TwilioSettings } from '../../config.ts';
import { type DevMailbox, escapeHtml } from './mailer.ts';

export interface SmsSender {
  /** `to` is E.164 (see normalizePhone); resolves once the provider has accepted the message. */
  send(to: string, body: string): Promise<void>;
}

/**
 * Twilio refused or could not take the message. Carries Twilio's error `code` (21211, 20003 …) and
 * message, never the request's credentials nor a non-JSON body (a proxy may echo headers).
 */
export class SmsNotSent extends Error {
  constructor(
    message: string,
    readonly status?: number,
    readonly twilioCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SmsNotSent';
  }
}

/** Twilio's Programmable Messaging REST API: POST /2010-04-01/Accounts/{sid}/Messages.json. */
export class TwilioSms implements SmsSender {
  private readonly url: string;
  private readonly authorization: string;

  constructor(
    private readonly settings: TwilioSettings,
    private readonly timeoutMs = 10_000,
  ) {
    this.url = `${settings.baseUrl}/2010-04-01/Accounts/${encodeURIComponent(settings.accountSid)}/Messages.json`;
    this.authorization = `Basic ${Buffer.from(`${settings.accountSid}:${settings.authToken}`).toString('base64')}`;
  }

  async send(to: string, body: string): Promise<void> {
    const form = new URLSearchParams({ To: to, Body: body });
    // A Messaging Service picks a sender per destination; otherwise the one number sends (spec §014).
    if (this.settings.messagingServiceSid) form.set('MessagingServiceSid', this.settings.messagingServiceSid);
    else if (this.settings.fromNumber) form.set('From', this.settings.fromNumber);
    const response = await fetch(this.url, {
      method: 'POST',
      headers: { authorization: this.authorization, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: form,
      signal: AbortSignal.timeout(this.timeoutMs),
    }).catch((error: unknown) => {
      throw new SmsNotSent(`Twilio could not be reached at ${this.settings.baseUrl}: ${describe(error)}`, undefined, undefined, { cause: error });
    });
    const answer = await twilioAnswer(response);
    if (!response.ok) {
      const reason = answer.message ? `: ${answer.message.slice(0, 300)}` : '';
      const code = answer.code === undefined ? '' : `, Twilio error ${answer.code}`;
      throw new SmsNotSent(`Twilio did not accept the SMS (HTTP ${response.status}${code})${reason}`, response.status, answer.code);
    }
  }
}

/** fetch's own message is "fetch failed"; the cause says why (ECONNREFUSED, a timeout …). */
function describe(error: unknown): string {
  const { message, cause } = error as Error & { cause?: { message?: string } };
  return cause?.message ? `${message} (${cause.message})` : message;
}

async function twilioAnswer(response: Response): Promise<{ code?: number; message?: string }> {
  const json: unknown = await response.json().catch(() => undefined);
  if (!json || typeof json !== 'object') return {};
  const { code, message } = json as Record<string, unknown>;
  return { ...(typeof code === 'number' ? { code } : {}), ...(typeof message === 'string' ? { message } : {}) };
}

/** Without Twilio, SMS are listed in the dev mailbox (/dev/mailbox) beside the emails, to the number. */
export class DevSmsOutbox implements SmsSender {
  constructor(private readonly mailbox: Pick<DevMailbox, 'send'>) {}

  async send(to: string, body: string): Promise<void> {
    await this.mailbox.send({ to, subject: 'SMS', text: body, html: `<p>${escapeHtml(body).replace(/\n/g, '<br>')}</p>` });
  }
}

/**
 * Twilio when configured, else the dev mailbox when there is one. Undefined means SMS cannot be
 * sent at all (SMTP configured for production, Twilio not): phone sign-in must stay off.
 */
export function smsSenderFor(config: Pick<Config, 'twilio'>, devMailbox?: DevMailbox): SmsSender | undefined {
  if (config.twilio) return new TwilioSms(config.twilio);
  return devMailbox ? new DevSmsOutbox(devMailbox) : undefined;
}
