import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import pino from 'pino';
import { ConfigError, loadConfig, type TwilioSettings } from '../src/config.ts';
import { codeEmail, codeSms, sendCode } from '../src/domain/messaging/codes.ts';
import { DevMailbox, type Mailer, type OutgoingEmail } from '../src/domain/messaging/mailer.ts';
import { DevSmsOutbox, SmsNotSent, smsSenderFor, TwilioSms } from '../src/domain/messaging/sms.ts';
import { codeIn, FakeTwilio } from './support/fake-twilio.ts';

const MESSAGING_SERVICE = `MG${'a1'.repeat(16)}`;
const FROM = '+15005550006';
const PHONE = '+61466043123';

class RecordingMailer implements Mailer {
  readonly sent: OutgoingEmail[] = [];
  async send(email: OutgoingEmail): Promise<void> {
    this.sent.push(email);
  }
}

describe('TwilioSms against a Twilio-shaped server', () => {
  let twilio: FakeTwilio;
  let settings: TwilioSettings;
  before(async () => {
    twilio = await new FakeTwilio().start();
    settings = { accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.baseUrl };
  });
  after(() => twilio.stop());

  it('sends through a Messaging Service when one is configured', async () => {
    const arriving = twilio.nextMessageTo(PHONE);
    await new TwilioSms({ ...settings, messagingServiceSid: MESSAGING_SERVICE }).send(PHONE, 'hello from a service');
    assert.deepEqual(await arriving, { to: PHONE, body: 'hello from a service', messagingServiceSid: MESSAGING_SERVICE });
  });

  it('sends from the configured phone number otherwise', async () => {
    const arriving = twilio.nextMessageTo(PHONE);
    await new TwilioSms({ ...settings, fromNumber: FROM }).send(PHONE, 'hello from a number');
    assert.deepEqual(await arriving, { to: PHONE, body: 'hello from a number', from: FROM });
  });

  it('is refused with Twilio error 20003 when the auth token is wrong, and never repeats a token', async () => {
    const wrongToken = 'f'.repeat(32);
    const error = await new TwilioSms({ ...settings, authToken: wrongToken, fromNumber: FROM }).send(PHONE, 'x').catch((e: unknown) => e);
    assert.ok(error instanceof SmsNotSent);
    assert.equal(error.status, 401);
    assert.equal(error.twilioCode, 20003);
    assert.match(error.message, /HTTP 401, Twilio error 20003\): Authenticate/);
    for (const token of [wrongToken, twilio.authToken]) assert.ok(!inspect(error, { depth: 5 }).includes(token));
  });

  it("carries Twilio's code and message when the number is not E.164 (21211)", async () => {
    const error = await new TwilioSms({ ...settings, fromNumber: FROM }).send('0466 043 123', 'x').catch((e: unknown) => e);
    assert.ok(error instanceof SmsNotSent);
    assert.equal(error.status, 400);
    assert.equal(error.twilioCode, 21211);
    assert.match(error.message, /The 'To' number 0466 043 123 is not a valid phone number\./);
    assert.ok(!inspect(error, { depth: 5 }).includes(twilio.authToken));
  });

  it('reports a refusal the fake was told to give (rate limit 20429)', async () => {
    twilio.failNext(429, 20429);
    await assert.rejects(new TwilioSms({ ...settings, fromNumber: FROM }).send(PHONE, 'x'), (e: unknown) => e instanceof SmsNotSent && e.status === 429 && e.twilioCode === 20429);
    const arriving = twilio.nextMessageTo(PHONE);
    await new TwilioSms({ ...settings, fromNumber: FROM }).send(PHONE, 'after the failure');
    assert.equal((await arriving).body, 'after the failure');
  });

  it('says so when Twilio cannot be reached', async () => {
    const closed = await new FakeTwilio().start();
    await closed.stop();
    const error = await new TwilioSms({ ...settings, baseUrl: closed.baseUrl, fromNumber: FROM }).send(PHONE, 'x').catch((e: unknown) => e);
    assert.ok(error instanceof SmsNotSent);
    assert.match(error.message, /^Twilio could not be reached at http:\/\/127\.0\.0\.1:\d+: fetch failed/);
    assert.equal(error.status, undefined);
  });

  it('answers like Twilio: 201 with a queued SM message resource, 400 with error 21602 without a body', async () => {
    const url = `${twilio.baseUrl}/2010-04-01/Accounts/${twilio.accountSid}/Messages.json`;
    const authorization = `Basic ${Buffer.from(`${twilio.accountSid}:${twilio.authToken}`).toString('base64')}`;
    const post = (form: Record<string, string>) =>
      fetch(url, { method: 'POST', headers: { authorization, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
    const created = await post({ To: PHONE, From: FROM, Body: 'hi' });
    assert.equal(created.status, 201);
    const message = (await created.json()) as Record<string, unknown>;
    assert.match(String(message.sid), /^SM[0-9a-f]{32}$/);
    assert.equal(message.status, 'queued');
    assert.equal(message.to, PHONE);
    assert.equal(message.account_sid, twilio.accountSid);
    const noBody = await post({ To: PHONE, From: FROM });
    assert.equal(noBody.status, 400);
    assert.deepEqual(await noBody.json(), { code: 21602, message: 'Message body is required.', more_info: 'https://www.twilio.com/docs/errors/21602', status: 400 });
    const noSender = await post({ To: PHONE, Body: 'hi' });
    assert.equal(((await noSender.json()) as { code: number }).code, 21603);
  });
});

describe("the SMS text (Kinde's fixed format, spec §003 and §016)", () => {
  it('leads with the code and ends with the origin-bound line browsers read', () => {
    assert.equal(codeSms('sign_in', '123456', 'Acme', 'login.acme.com'), '123456 is your one-time code to sign in to Acme\n\n@login.acme.com #123456');
  });

  it('leaves the origin-bound line out when no domain is known', () => {
    assert.equal(codeSms('sign_in', '123456', 'Acme'), '123456 is your one-time code to sign in to Acme');
  });

  it('is the same text whatever the code is for', () => {
    assert.equal(codeSms('sign_up', '654321', 'Acme', 'a.b'), codeSms('sign_in', '654321', 'Acme', 'a.b'));
  });
});

describe('sendCode, the one path for email and SMS codes', () => {
  let twilio: FakeTwilio;
  before(async () => {
    twilio = await new FakeTwilio().start();
  });
  after(() => twilio.stop());

  it('texts the code through Twilio on the sms channel', async () => {
    const sms = new TwilioSms({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.baseUrl, messagingServiceSid: MESSAGING_SERVICE });
    const mailer = new RecordingMailer();
    const arriving = twilio.nextMessageTo(PHONE);
    await sendCode({ mailer, sms }, { channel: 'sms', purpose: 'sign_in', to: PHONE, code: '042917', business: 'Acme', boundDomain: 'auth.acme.com' });
    const message = await arriving;
    assert.equal(message.body, codeSms('sign_in', '042917', 'Acme', 'auth.acme.com'));
    assert.equal(codeIn(message.body), '042917');
    assert.deepEqual(mailer.sent, []);
  });

  it('emails the code on the email channel', async () => {
    const mailer = new RecordingMailer();
    await sendCode({ mailer }, { channel: 'email', purpose: 'sign_up', to: 'ann@example.com', code: '111222', business: 'Acme' });
    assert.deepEqual(mailer.sent, [codeEmail('sign_up', 'ann@example.com', '111222', 'Acme')]);
  });

  it('refuses the sms channel when no SMS sender exists', async () => {
    await assert.rejects(
      sendCode({ mailer: new RecordingMailer() }, { channel: 'sms', purpose: 'sign_in', to: PHONE, code: '123456', business: 'Acme' }),
      /SMS is not configured/,
    );
  });
});

describe('SMS without Twilio', () => {
  it('lands in the dev mailbox, addressed to the number, with the subject "SMS"', async () => {
    const mailbox = new DevMailbox(pino({ level: 'silent' }));
    await new DevSmsOutbox(mailbox).send(PHONE, '123456 is your one-time code to sign in to <Acme & Co>');
    const [message] = mailbox.messages;
    assert.equal(message?.to, PHONE);
    assert.equal(message?.subject, 'SMS');
    assert.equal(message?.text, '123456 is your one-time code to sign in to <Acme & Co>');
    assert.equal(message?.html, '<p>123456 is your one-time code to sign in to &#60;Acme &#38; Co&#62;</p>');
  });

  it('is what smsSenderFor picks without Twilio settings, and sendCode reaches it', async () => {
    const mailbox = new DevMailbox(pino({ level: 'silent' }));
    const sms = smsSenderFor(loadConfig({}), mailbox);
    assert.ok(sms instanceof DevSmsOutbox);
    await sendCode({ mailer: mailbox, sms }, { channel: 'sms', purpose: 'sign_in', to: PHONE, code: '987654', business: 'Acme' });
    assert.equal(codeIn(mailbox.messages[0]?.text ?? ''), '987654');
  });

  it('is Twilio when configured, and nothing when neither Twilio nor a dev mailbox exists', () => {
    const configured = loadConfig({ TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`, TWILIO_AUTH_TOKEN: 'b'.repeat(32), TWILIO_FROM_NUMBER: FROM });
    assert.ok(smsSenderFor(configured, new DevMailbox(pino({ level: 'silent' }))) instanceof TwilioSms);
    assert.equal(smsSenderFor(loadConfig({ SMTP_URL: 'smtp://mail.example.com' })), undefined);
  });
});

describe('SMS configuration', () => {
  const SID = `AC${'0123456789abcdef'.repeat(2)}`;
  const TOKEN = 'c0ffee'.repeat(5) + 'ab';
  const cases: Array<[Record<string, string>, string]> = [
    [{ TWILIO_ACCOUNT_SID: 'AC123', TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM }, 'TWILIO_ACCOUNT_SID'],
    [{ TWILIO_ACCOUNT_SID: `SK${'0'.repeat(32)}`, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM }, 'TWILIO_ACCOUNT_SID'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: 'secret', TWILIO_FROM_NUMBER: FROM }, 'TWILIO_AUTH_TOKEN'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_FROM_NUMBER: FROM }, 'TWILIO_AUTH_TOKEN'],
    [{ TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM }, 'TWILIO_ACCOUNT_SID'],
    [{ TWILIO_FROM_NUMBER: FROM }, 'TWILIO_ACCOUNT_SID'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN }, 'TWILIO_MESSAGING_SERVICE_SID'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_MESSAGING_SERVICE_SID: MESSAGING_SERVICE, TWILIO_FROM_NUMBER: FROM }, 'TWILIO_FROM_NUMBER'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_MESSAGING_SERVICE_SID: 'MG42' }, 'TWILIO_MESSAGING_SERVICE_SID'],
    [{ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: '0466 043 123' }, 'TWILIO_FROM_NUMBER'],
    [{ TWILIO_API_BASE_URL: 'api.twilio.com' }, 'TWILIO_API_BASE_URL'],
    [{ TWILIO_API_BASE_URL: 'ftp://api.twilio.com' }, 'TWILIO_API_BASE_URL'],
    [{ DEFAULT_PHONE_COUNTRY: 'Australia' }, 'DEFAULT_PHONE_COUNTRY'],
    [{ DEFAULT_PHONE_COUNTRY: 'ZZ' }, 'DEFAULT_PHONE_COUNTRY'],
  ];
  for (const [env, variable] of cases) {
    it(`names ${variable} when ${Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ')}`, () => {
      assert.throws(() => loadConfig(env), (error: unknown) => error instanceof ConfigError && error.variable === variable);
    });
  }

  it('never repeats the auth token in its error', () => {
    const token = 'not-a-real-token-but-secret';
    assert.throws(() => loadConfig({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: token, TWILIO_FROM_NUMBER: FROM }), (error: unknown) => {
      return error instanceof ConfigError && !error.message.includes(token);
    });
  });

  it('has no Twilio and reads numbers as US by default', () => {
    const config = loadConfig({});
    assert.equal(config.twilio, undefined);
    assert.equal(config.defaultPhoneCountry, 'US');
  });

  it('reads a Messaging Service configuration', () => {
    const config = loadConfig({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_MESSAGING_SERVICE_SID: MESSAGING_SERVICE, DEFAULT_PHONE_COUNTRY: 'au' });
    assert.deepEqual(config.twilio, { accountSid: SID, authToken: TOKEN, messagingServiceSid: MESSAGING_SERVICE, baseUrl: 'https://api.twilio.com' });
    assert.equal(config.defaultPhoneCountry, 'AU');
  });

  it('reads a from-number configuration against another API base URL', () => {
    const config = loadConfig({ TWILIO_ACCOUNT_SID: SID, TWILIO_AUTH_TOKEN: TOKEN, TWILIO_FROM_NUMBER: FROM, TWILIO_API_BASE_URL: 'http://127.0.0.1:4010/' });
    assert.deepEqual(config.twilio, { accountSid: SID, authToken: TOKEN, fromNumber: FROM, baseUrl: 'http://127.0.0.1:4010' });
  });
});
