import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { clock } from '../src/clock.ts';
import { DEFAULT_ATTACK_PROTECTION, withinAttemptsHeld } from '../src/domain/attack-protection.ts';
import { setPassword } from '../src/domain/passwords.ts';
import { createUser, findUser } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

for (const database of testDatabases()) {
  describe(`attack protection under concurrency (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let passwordApp: { id: string };
    let codeApp: { id: string };
    serverWithMailForSuite(database, (started, mail) => {
      server = started;
      smtp = mail;
    });
    before(async () => {
      passwordApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(passwordApp.id, ['email:password']);
      codeApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
    });
    after(() => clock.reset());

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
    it("holds a right password's attempt until the sign-in settles it: given back when the sign-in goes on, cleared when it completes", async () => {
      const { db } = server.services;
      const user = await createUser(db, { identities: [{ type: 'email', value: 'settles@example.test', isVerified: true }] });
      await setPassword(db, user.id, 'the right password');
      const failures = async () => (await db.selectFrom('attempt_counters').select('failures').where('subject', '=', user.id).executeTakeFirst())?.failures;
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'settles@example.test' });
      for (const guess of ['wrong once', 'wrong twice']) {
        assert.equal(await driver.submit({ password: guess }), undefined);
        assert.match(driver.lastPage, /That password is not right/);
      }
      assert.equal(await failures(), 2);

      const held = await withinAttemptsHeld(db, user.id, DEFAULT_ATTACK_PROTECTION, async () => 'right', (answer) => answer === 'wrong');
      assert.ok(held.checked && held.giveBack, 'a right answer comes back with its attempt held');
      assert.equal(await failures(), 3, 'while held, the account has one attempt fewer');
      await held.giveBack();
      assert.equal(await failures(), 2, 'given back, the count is what the wrong answers left');

      assert.ok(await driver.submit({ password: 'the right password' }), 'the right password completes the sign-in');
      assert.equal(await failures(), undefined, 'a completed sign-in clears the count');
    });

    /** A fresh flow up to the code page for `email`; the code emailed, or undefined when none was sent. */
    async function codeFlow(email: string): Promise<{ driver: FormDriver; code: string | undefined }> {
      const driver = await begin(codeApp.id);
      const before = smtp.messages.length;
      await driver.submit({ identifier: email });
      const sent = smtp.messages.slice(before).find((message) => message.to.includes(email));
      return { driver, code: sent ? codeIn(sent) : undefined };
    }

    const wrongCodeFor = (code: string) => (code === '000000' ? '111111' : '000000');

    it('counts wrong codes against the account across fresh flows, locks code sign-in and says until when', async () => {
      await createUser(server.services.db, { identities: [{ type: 'email', value: 'victim@example.test', isVerified: true }] });
      const guesses: string[] = [];
      for (let flow = 1; flow <= 3; flow++) {
        const { driver, code } = await codeFlow('victim@example.test');
        assert.ok(code, `flow ${flow} sent a code`);
        for (let guess = 1; guess <= 2 && guesses.length < 5; guess++) {
          await driver.submit({ code: wrongCodeFor(code) });
          guesses.push(driver.lastPage);
        }
        if (flow === 3) {
          assert.match(guesses[4]!, /Too many wrong codes: sign-in with a code is locked until \d\d:\d\d UTC/, 'the fifth wrong code, in the third flow, locks');
          await driver.submit({ code });
          assert.match(driver.lastPage, /locked until/, 'even the right code waits for the lock');
        }
      }
      const sentBefore = smtp.messages.length;
      const { driver, code } = await codeFlow('victim@example.test');
      assert.equal(code, undefined, 'no code is sent while code sign-in is locked');
      assert.equal(smtp.messages.length, sentBefore);
      assert.match(driver.lastPage, /locked until/);
    });

    it('sends one person at most 5 codes in 15 minutes, then says when to ask again', async () => {
      for (let flow = 1; flow <= 5; flow++) assert.ok((await codeFlow('flooded@example.test')).code, `code ${flow} is sent`);
      const refused = await codeFlow('flooded@example.test');
      assert.equal(refused.code, undefined, 'the sixth is not sent');
      assert.match(refused.driver.lastPage, /Too many codes were requested\. Try again at \d\d:\d\d UTC\./);
      clock.advance(15 * 60_000);
      try {
        assert.ok((await codeFlow('flooded@example.test')).code, 'a new window, a new code');
      } finally {
        clock.reset();
      }
    });
  });
}

for (const database of testDatabases()) {
  describe(`limits per network, across accounts (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    serverWithMailForSuite(
      database,
      (started, mail) => {
        server = started;
        smtp = mail;
      },
      { env: { GATEHOUSE_CODES_PER_ADDRESS: '3', GATEHOUSE_FAILURES_PER_ADDRESS: '4' } },
    );

    async function identify(clientId: string, identifier: string): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      await driver.go(`/oauth2/auth?${new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid', state: 'network' })}`);
      await driver.submit({ identifier });
      return driver;
    }

    it('sends codes to at most GATEHOUSE_CODES_PER_ADDRESS people from one network in 15 minutes', async () => {
      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      for (const n of [1, 2, 3]) await identify(app.id, `person${n}@example.test`);
      assert.equal(smtp.messages.length, 3);
      const fourth = await identify(app.id, 'person4@example.test');
      assert.match(fourth.lastPage, /Too many codes were requested/);
      assert.equal(smtp.messages.length, 3, 'the fourth person gets no email');
    });

    it('refuses a network whose failures across accounts and clients pass GATEHOUSE_FAILURES_PER_ADDRESS: 429 JSON at the token endpoint, 429 page at sign-in', async () => {
      const machine = await server.createApplication({ type: 'm2m' });
      const badClientAuth = () =>
        fetch(`${server.url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: machine.id, client_secret: 'not-the-secret' }) });
      for (let failure = 1; failure <= 2; failure++) assert.equal((await badClientAuth()).status, 401);

      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(app.id, ['email:password']);
      for (const n of [1, 2]) {
        const user = await createUser(server.services.db, { identities: [{ type: 'email', value: `spread${n}@example.test`, isVerified: true }] });
        await setPassword(server.services.db, user.id, 'the right password');
        const driver = await identify(app.id, `spread${n}@example.test`);
        await driver.submit({ password: 'one guess per account' });
        assert.match(driver.lastPage, /That password is not right/, 'each account is far from its own lockout');
      }

      const refused = await badClientAuth();
      assert.equal(refused.status, 429);
      assert.ok(Number(refused.headers.get('retry-after')) > 0);
      assert.equal(((await refused.json()) as { error: string }).error, 'temporarily_unavailable');
      const rightSecret = await fetch(`${server.url}/oauth2/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'client_credentials', client_id: machine.id, client_secret: machine.secret! }) });
      assert.equal(rightSecret.status, 429, 'refused before the client is looked at');

      const driver = await identify(app.id, 'spread1@example.test').catch((error: PageError) => error);
      assert.ok(driver instanceof PageError, 'the sign-in post is refused');
      assert.equal(driver.status, 429);
      assert.match(driver.page, /Too many sign-in attempts failed from your network/);
    });
  });
}
