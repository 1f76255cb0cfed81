import nodemailer, { type Transporter } from 'nodemailer';
import type { Logger } from 'pino';

export interface OutgoingEmail {
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface Mailer {
  send(email: OutgoingEmail): Promise<void>;
}

export class SmtpMailer implements Mailer {
  private readonly transport: Transporter;

  constructor(
    smtpUrl: string,
    private readonly from: string,
  ) {
    this.transport = nodemailer.createTransport(smtpUrl);
  }

  async send(email: OutgoingEmail): Promise<void> {
    await this.transport.sendMail({ from: this.from, ...email });
  }
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
