import type { Transporter } from 'nodemailer';
import type { Logger } from 'pino';

/** Text placed in an email's HTML body (codes, the development SMS mailbox): never markup. */
export const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string;
  /** Overrides the sender's display name; the address is always MAIL_FROM's. */
  fromName?: string;
}

export interface Mailer {
  send(email: OutgoingEmail): Promise<void>;
}

export class SmtpMailer implements Mailer {
  private transport?: Promise<Transporter>;

  constructor(
    private readonly smtpUrl: string,
    private readonly from: string,
  ) {}

  async send({ fromName, ...email }: OutgoingEmail): Promise<void> {
    // nodemailer (~40 ms and 1–2 MB to load) comes with the first email, not at every start-up.
    this.transport ??= import('nodemailer').then(({ default: nodemailer }) => nodemailer.createTransport(this.smtpUrl));
    const transport = await this.transport;
    await transport.sendMail({ ...email, from: fromName ? { name: fromName, address: senderAddress(this.from) } : this.from });
  }
}

/** The address part of `Name <address>` (or the whole value when it is a bare address). */
export function senderAddress(from: string): string {
  return /<([^>]+)>\s*$/.exec(from)?.[1] ?? from.trim();
}

/**
 * The environment's email settings (section 011): its own SMTP server when one is set through the
 * management API, else SMTP_URL's; its sender name on every message.
 */
export function environmentMailer(defaultMailer: Mailer, mailFrom: string, openSmtpUrl: (sealed: string) => string) {
  const servers = new Map<string, SmtpMailer>();
  return (settings: { smtpUrlSealed?: string; senderName?: string }): Mailer => {
    let mailer = defaultMailer;
    if (settings.smtpUrlSealed) {
      const url = openSmtpUrl(settings.smtpUrlSealed);
      mailer = servers.get(url) ?? new SmtpMailer(url, mailFrom);
      servers.set(url, mailer as SmtpMailer);
    }
    return { send: (email) => mailer.send({ ...email, fromName: email.fromName ?? settings.senderName }) };
  };
}

export interface DevMessage extends OutgoingEmail {
  sentAt: number;
}

/**
 * Without SMTP, messages land here and are listed at /dev/mailbox. The log line names the recipient
 * and subject only: codes never reach the logs (DESIGN.md §5).
 */
export class DevMailbox implements Mailer {
  readonly messages: DevMessage[] = [];

  constructor(private readonly logger: Logger) {}

  async send(email: OutgoingEmail): Promise<void> {
    this.messages.unshift({ ...email, sentAt: Date.now() });
    this.messages.length = Math.min(this.messages.length, 100);
    this.logger.info({ to: email.to, subject: email.subject }, 'email delivered to the dev mailbox (see /dev/mailbox)');
  }
}
