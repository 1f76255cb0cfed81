import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedSms {
  to: string;
  body: string;
  from?: string;
  messagingServiceSid?: string;
}

const E164 = /^\+[1-9]\d{1,14}$/;

/** Twilio's error messages for the codes the fake answers with. */
const TWILIO_ERRORS: Record<number, string> = {
  20003: 'Authenticate',
  20404: 'The requested resource was not found',
  20429: 'Too Many Requests',
  21211: "The 'To' number is not a valid phone number.",
  21602: 'Message body is required.',
  21603: "A 'From' phone number is required.",
  21604: "A 'To' phone number is required.",
  21608: "The number is unverified. Trial accounts cannot send messages to unverified numbers; verify it at twilio.com/user/account/phone-numbers/verified, or purchase a Twilio number to send messages to unverified numbers.",
  21610: 'Attempt to send to unsubscribed recipient',
  21614: "'To' number is not a valid mobile number",
};

const sid = (prefix: string) => prefix + randomBytes(16).toString('hex');

/**
 * A local stand-in for Twilio's Messages API (`POST /2010-04-01/Accounts/{sid}/Messages.json`):
 * Basic auth with the account SID and auth token, form-encoded To/Body/From|MessagingServiceSid,
 * answers and errors in Twilio's JSON shapes. Keeps every accepted message.
 */
export class FakeTwilio {
  readonly accountSid = sid('AC');
  readonly authToken = randomBytes(16).toString('hex');
  readonly messages: ReceivedSms[] = [];
  private waiters: Array<{ to: string; resolve: (message: ReceivedSms) => void }> = [];
  private failures: Array<{ status: number; code: number }> = [];
  private server = createServer((req, res) => {
    this.handle(req, res).catch((error: unknown) => answer(res, 500, { code: 20500, message: String(error), status: 500 }));
  });
  port = 0;

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', () => resolve()));
    this.port = (this.server.address() as AddressInfo).port;
    return this;
  }

  /** What TWILIO_API_BASE_URL points at. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** The next accepted message to `phone` that arrives after this call. */
  nextMessageTo(phone: string): Promise<ReceivedSms> {
    return new Promise((resolve) => this.waiters.push({ to: phone, resolve }));
  }

  /** The next well-authenticated request is refused with this HTTP status and Twilio error code. */
  failNext(status: number, code: number): void {
    this.failures.push({ status, code });
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', this.baseUrl).pathname;
    const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/.exec(path);
    if (!this.authenticated(req)) return twilioError(res, 401, 20003);
    if (req.method !== 'POST' || !match || match[1] !== this.accountSid) return twilioError(res, 404, 20404);
    const failure = this.failures.shift();
    if (failure) return twilioError(res, failure.status, failure.code);

    // Twilio reads only form bodies; JSON leaves every parameter missing (error 21604).
    const form = (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')
      ? new URLSearchParams(await readBody(req))
      : new URLSearchParams();
    const to = form.get('To');
    const body = form.get('Body');
    const from = form.get('From') ?? undefined;
    const messagingServiceSid = form.get('MessagingServiceSid') ?? undefined;
    if (!to) return twilioError(res, 400, 21604);
    if (!E164.test(to)) return twilioError(res, 400, 21211, `The 'To' number ${to} is not a valid phone number.`);
    if (!from && !messagingServiceSid) return twilioError(res, 400, 21603);
    if (!body) return twilioError(res, 400, 21602);

    const message: ReceivedSms = { to, body, ...(from ? { from } : {}), ...(messagingServiceSid ? { messagingServiceSid } : {}) };
    this.messages.push(message);
    for (const waiter of this.waiters.filter((w) => w.to === to)) {
      this.waiters.splice(this.waiters.indexOf(waiter), 1);
      waiter.resolve(message);
    }
    answer(res, 201, this.messageResource(message));
  }

  private authenticated(req: IncomingMessage): boolean {
    const [scheme, encoded] = (req.headers.authorization ?? '').split(' ');
    if (scheme !== 'Basic' || !encoded) return false;
    return Buffer.from(encoded, 'base64').toString('utf8') === `${this.accountSid}:${this.authToken}`;
  }

  /** Twilio's Message resource as created: a Messaging Service message is 'accepted' with no sender yet. */
  private messageResource(message: ReceivedSms): Record<string, unknown> {
    const messageSid = sid('SM');
    const now = new Date().toUTCString().replace('GMT', '+0000');
    return {
      account_sid: this.accountSid,
      api_version: '2010-04-01',
      body: message.body,
      date_created: now,
      date_sent: null,
      date_updated: now,
      direction: 'outbound-api',
      error_code: null,
      error_message: null,
      from: message.from ?? null,
      messaging_service_sid: message.messagingServiceSid ?? null,
      num_media: '0',
      num_segments: message.messagingServiceSid ? '0' : '1',
      price: null,
      price_unit: 'USD',
      sid: messageSid,
      status: message.messagingServiceSid ? 'accepted' : 'queued',
      subresource_uris: { media: `/2010-04-01/Accounts/${this.accountSid}/Messages/${messageSid}/Media.json` },
      to: message.to,
      uri: `/2010-04-01/Accounts/${this.accountSid}/Messages/${messageSid}.json`,
    };
  }
}

function twilioError(res: ServerResponse, status: number, code: number, message = TWILIO_ERRORS[code] ?? 'Error'): void {
  answer(res, status, { code, message, more_info: `https://www.twilio.com/docs/errors/${code}`, status });
}

function answer(res: ServerResponse, status: number, json: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(json));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The six-digit code in a Gatehouse SMS (it leads the message). */
export function codeIn(body: string): string {
  const match = /^(\d{6})\b/.exec(body) ?? /#(\d{6})\s*$/.exec(body);
  if (!match?.[1]) throw new Error(`no code in SMS: ${body}`);
  return match[1];
}
