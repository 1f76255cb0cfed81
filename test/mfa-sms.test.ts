import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { codeIn as smsCodeIn, FakeTwilio } from './support/fake-twilio.ts';
import { FormDriver } from './support/form-driver.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

for (const database of testDatabases()) {
  describe(`an SMS second step through Twilio (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let twilio: FakeTwilio;
    let drop: () => Promise<void>;

    before(async () => {
      [smtp, twilio] = await Promise.all([new TestSmtp().start(), new FakeTwilio().start()]);
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({
        databaseUrl: db.url,
        env: { SMTP_URL: smtp.url, TWILIO_ACCOUNT_SID: twilio.accountSid, TWILIO_AUTH_TOKEN: twilio.authToken, TWILIO_FROM_NUMBER: '+15005550006', TWILIO_API_BASE_URL: twilio.baseUrl },
      });
    });

    after(async () => {
      await server?.close();
      await smtp?.stop();
      await twilio?.stop();
      await drop?.();
    });

    it('enrols the phone as a second step after a password, then remembers it for the SSO session', async () => {
      const db = server.services.db;
      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(app.id, ['email:password']);
      const user = await createUser(db, {
        identities: [
          { type: 'email', value: 'sms.factor@example.test', isVerified: true },
          { type: 'phone', value: '+61466043124', isVerified: true },
        ],
      });
      await setPassword(db, user.id, 'password before the sms');
      await updateEnvironmentPolicy(db, { mfa: { mode: 'required', factors: ['sms'] } });
      try {
        const driver = new FormDriver(server.url);
        const authorize = `/oauth2/auth?${new URLSearchParams({ client_id: app.id, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'sms' })}`;
        await driver.go(authorize);
        await driver.submit({ identifier: 'sms.factor@example.test' });
        await driver.submit({ password: 'password before the sms' });
        assert.match(driver.lastPage, /Text message code/);
        const sms = twilio.nextMessageTo('+61466043124');
        await driver.submit({ factor: 'sms' });
        assert.match(driver.lastPage, /Two-step verification/);
        await driver.submit({ code: smsCodeIn((await sms).body) });
        assert.match(driver.lastPage, /Save your recovery codes/);
        const landed = await driver.submit({});
        assert.ok(landed?.searchParams.get('code'), 'signed in');

        const again = await driver.go(authorize);
        assert.ok(again?.searchParams.get('code'), 'the SSO session remembers the second step: no page');
      } finally {
        await updateEnvironmentPolicy(db, { mfa: { mode: 'off' } });
      }
    });
  });
}
