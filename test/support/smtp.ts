import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedEmail {
  from: string;
  to: string[];
  raw: string;
}

/** A real SMTP server on a random loopback port that keeps what it receives. */
export class TestSmtp {
  readonly messages: ReceivedEmail[] = [];
  private waiters: Array<{ to: string; resolve: (m: ReceivedEmail) => void }> = [];
  private server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    onData: (stream, session, callback) => {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const message: ReceivedEmail = {
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
          raw: Buffer.concat(chunks).toString('utf8'),
        };
        this.messages.push(message);
        for (const waiter of [...this.waiters]) {
          if (message.to.includes(waiter.to)) {
            this.waiters.splice(this.waiters.indexOf(waiter), 1);
            waiter.resolve(message);
          }
        }
        callback();
      });
    },
  });
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.server.address() as AddressInfo).port;
    return this;
  }

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  /** The next message to `to` that arrives after this call. */
  nextMessageTo(to: string): Promise<ReceivedEmail> {
    return new Promise((resolve) => this.waiters.push({ to: to.toLowerCase(), resolve }));
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The six-digit code in a Gatehouse code email (from its plain-text part). */
export function codeIn(message: ReceivedEmail): string {
  const text = message.raw.replace(/=\r?\n/g, '');
  const match = /^(\d{6})\s*$/m.exec(text);
  if (!match?.[1]) throw new Error(`no code in message:\n${message.raw.slice(0, 2000)}`);
  return match[1];
}
