import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser, findUser } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

for (const database of testDatabases()) {
  describe(`attack protection under concurrency (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;
    let passwordApp: { id: string };
    let codeApp: { id: string };

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url } });
      passwordApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(passwordApp.id, ['email:password']);
      codeApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
    });

    after(async () => {
      clock.reset();
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    async function begin(clientId: string): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      const params = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email', state: 'attack' });
      assert.equal(await driver.go(`/oauth2/auth?${params}`), undefined, 'a sign-in page is shown');
      return driver;
    }

    it('checks at most 5 of 40 passwords posted at once, so the right one sent last does not slip through', async () => {
      const user = await createUser(server.services.db, { identities: [{ type: 'email', value: 'parallel@example.test', isVerified: true }] });
      await setPassword(server.services.db, user.id, 'the right password');
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'parallel@example.test' });
      const guesses = [...Array.from({ length: 39 }, (_, i) => `wrong password ${i}`), 'the right password'];
      const tabs = guesses.map(() => driver.fork());
      const answers = await Promise.all(tabs.map((tab, i) => tab.submit({ password: guesses[i]! }).then((callback) => (callback ? 'signed in' : tab.lastPage))));

      const signedIn = answers.filter((answer) => answer === 'signed in').length;
      const wrong = answers.filter((answer) => /That password is not right/.test(answer)).length;
      const locked = answers.filter((answer) => /locked until/.test(answer)).length;
      assert.equal(signedIn + wrong + locked, 40, 'every post got an answer a person understands');
      const checkedWrong = (await findUser(server.services.db, user.id))!.failedSignIns;
      assert.ok(checkedWrong + signedIn <= 5, `at most 5 passwords were checked: ${checkedWrong} wrong, ${signedIn} right`);
      assert.equal(signedIn, 0, 'the right password, sent last, found the account locked');
    });
  });
}
