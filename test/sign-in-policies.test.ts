import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import bcrypt from 'bcryptjs';
import { decodeJwt } from 'jose';
import { clock } from '../src/clock.ts';
import { updateApplication } from '../src/domain/applications.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { importPasswordHash, setPassword, verifyPassword } from '../src/domain/passwords.ts';
import { createUser, findUserByIdentity, updateUser } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver } from './support/form-driver.ts';
import { startTestServer, type TestServer } from './support/server.ts';
import { codeIn, TestSmtp } from './support/smtp.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

for (const database of testDatabases()) {
  describe(`sign-in policies on the hosted pages (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let drop: () => Promise<void>;
    let passwordApp: { id: string; secret?: string };
    let codeApp: { id: string; secret?: string };

    before(async () => {
      smtp = await new TestSmtp().start();
      const db = await database.create();
      drop = db.drop;
      server = await startTestServer({ databaseUrl: db.url, env: { SMTP_URL: smtp.url, MAIL_FROM: 'Gatehouse <auth@example.test>' } });
      passwordApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await server.useSignInMethods(passwordApp.id, ['email:password', 'username:password']);
      codeApp = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
    });

    after(async () => {
      clock.reset();
      await server?.close();
      await smtp?.stop();
      await drop?.();
    });

    const db = () => server.services.db;

    async function begin(clientId: string, extra: Record<string, string> = {}): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      const params = new URLSearchParams({ client_id: clientId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email', state: 'policy', ...extra });
      const callback = await driver.go(`/oauth2/auth?${params}`);
      assert.equal(callback, undefined, 'a sign-in page is shown');
      return driver;
    }

    async function userWithPassword(email: string, password: string) {
      const user = await createUser(db(), { identities: [{ type: 'email', value: email, isVerified: true }] });
      await setPassword(db(), user.id, password);
      return user;
    }

    const signedIn = (callback: URL | undefined) => {
      assert.ok(callback?.toString().startsWith(CALLBACK), 'sign-in ended at the application');
      assert.ok(callback!.searchParams.get('code'));
    };

    it('locks the account for 5 minutes after 5 wrong passwords, on every attempt, then lets the right one in', async () => {
      await userWithPassword('lock@example.test', 'the right password');
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'lock@example.test' });
      for (let attempt = 1; attempt <= 4; attempt++) {
        await driver.submit({ password: 'a wrong password' });
        assert.match(driver.lastPage, /That password is not right/);
      }
      await driver.submit({ password: 'a wrong password' });
      assert.match(driver.lastPage, /locked until \d\d:\d\d UTC/);
      await driver.submit({ password: 'the right password' });
      assert.match(driver.lastPage, /locked until/, 'even the right password waits for the lock');

      clock.advance(5 * 60 * 1000 + 1000);
      signedIn(await driver.submit({ password: 'the right password' }));
      clock.reset();
    });

    it('verifies an unverified email by code after the right password', async () => {
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'unverified@example.test', isVerified: false }] });
      await setPassword(db(), user.id, 'right password here');
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'unverified@example.test' });
      const mail = smtp.nextMessageTo('unverified@example.test');
      await driver.submit({ password: 'right password here' });
      assert.match(driver.lastPage, /Check your email/);
      signedIn(await driver.submit({ code: codeIn(await mail) }));
      const identity = (await findUserByIdentity(db(), 'email', 'unverified@example.test'))!.identities[0]!;
      assert.equal(identity.isVerified, true);
    });

    it('records which connection proved the person, for every step after the first factor', async () => {
      const user = await userWithPassword('which@example.test', 'right password here');
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'which@example.test' });
      signedIn(await driver.submit({ password: 'right password here' }));
      const { listConnections } = await import('../src/domain/connections.ts');
      const emailPassword = (await listConnections(db())).find((connection) => connection.strategy === 'email:password')!;
      const event = await db().selectFrom('audit_events').select(['data', 'detail']).where('type', '=', 'user.authenticated').where('subject', '=', user.id).executeTakeFirstOrThrow();
      assert.deepEqual(JSON.parse(event.data), { user: { id: user.id } }, 'what Kinde sends');
      assert.deepEqual(JSON.parse(event.detail!), { application_id: passwordApp.id, amr: ['pwd'], connection_id: emailPassword.id });
    });

    it('makes a person with a temporary password choose a new one', async () => {
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'temp@example.test', isVerified: true }] });
      await setPassword(db(), user.id, 'temporary password 1', { temporary: true });
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'temp@example.test' });
      await driver.submit({ password: 'temporary password 1' });
      assert.match(driver.lastPage, /Choose a new password/);
      assert.match(driver.lastPage, /autocomplete="new-password"/);
      await driver.submit({ password: 'qwertyuiop' });
      assert.match(driver.lastPage, /too common/, 'common passwords are refused with a helpful message');
      signedIn(await driver.submit({ password: 'my very own passphrase' }));
      assert.equal(await verifyPassword(db(), user.id, 'temporary password 1'), false);
      assert.equal(await verifyPassword(db(), user.id, 'my very own passphrase'), true);
    });

    it('signs in with an imported bcrypt hash and upgrades it to argon2id', async () => {
      const user = await createUser(db(), { identities: [{ type: 'email', value: 'imported@example.test', isVerified: true }] });
      await importPasswordHash(db(), user.id, { method: 'bcrypt', hash: await bcrypt.hash('from the old system', 10) });
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'imported@example.test' });
      signedIn(await driver.submit({ password: 'from the old system' }));
      const stored = await db().selectFrom('credentials').select(['hashing_method', 'password_hash']).where('user_id', '=', user.id).executeTakeFirstOrThrow();
      assert.equal(stored.hashing_method, 'argon2id');
      assert.match(stored.password_hash, /^\$argon2id\$/);
    });

    it('resets a forgotten password with an emailed code', async () => {
      const user = await userWithPassword('forgot@example.test', 'the old password');
      const driver = await begin(passwordApp.id);
      await driver.submit({ identifier: 'forgot@example.test' });
      const mail = smtp.nextMessageTo('forgot@example.test');
      await driver.submit({}, '/forgot');
      const message = await mail;
      assert.match(message.raw, /Reset your Gatehouse password/);
      await driver.submit({ code: codeIn(message) });
      signedIn(await driver.submit({ password: 'the new password' }));
      assert.equal(await verifyPassword(db(), user.id, 'the new password'), true);
    });

    it('asks for an emailed code and a new password when an administrator requested a reset', async () => {
      const user = await userWithPassword('reset@example.test', 'the old password');
      await updateUser(db(), user.id, { isPasswordResetRequested: true });
      const driver = await begin(passwordApp.id);
      const mail = smtp.nextMessageTo('reset@example.test');
      await driver.submit({ identifier: 'reset@example.test' });
      assert.match(driver.lastPage, /Check your email/);
      await driver.submit({ code: codeIn(await mail) });
      signedIn(await driver.submit({ password: 'a fresh password' }));
      assert.equal((await findUserByIdentity(db(), 'email', 'reset@example.test'))!.isPasswordResetRequested, false);
    });

    it('goes straight to the password step from a custom sign-in screen (connection_id + login_hint)', async () => {
      await userWithPassword('custom@example.test', 'custom screen pass');
      const connections = await server.api<{ connections: Array<{ id: string; strategy: string }> }>('GET', '/connections');
      const emailPassword = connections.body.connections.find((c) => c.strategy === 'email:password')!;
      const driver = await begin(passwordApp.id, { connection_id: emailPassword.id, login_hint: 'custom@example.test' });
      assert.match(driver.lastPage, /Enter your password/);
      signedIn(await driver.submit({ password: 'custom screen pass' }));
    });

    it('waits before sending another code, then sends one', async () => {
      const driver = await begin(codeApp.id);
      const first = smtp.nextMessageTo('resend@example.test');
      await driver.submit({ identifier: 'resend@example.test' });
      await first;
      await driver.submit({}, '/resend');
      assert.match(driver.lastPage, /Wait \d+ seconds before asking for another code/);
      clock.advance(31_000);
      const second = smtp.nextMessageTo('resend@example.test');
      await driver.submit({}, '/resend');
      assert.match(driver.lastPage, /We sent a new code/);
      signedIn(await driver.submit({ code: codeIn(await second) }));
      clock.reset();
    });

    it('tells unknown people to ask their administrator when self sign-up is off; known people still sign in', async () => {
      await updateEnvironmentPolicy(db(), { allowSelfSignUp: false });
      try {
        const stranger = await begin(codeApp.id);
        assert.doesNotMatch(stranger.lastPage, /Create one/, 'no sign-up link');
        await assert.rejects(stranger.submit({ identifier: 'stranger@example.test' }), /Ask your administrator/);
        assert.equal(await findUserByIdentity(db(), 'email', 'stranger@example.test'), undefined);

        await createUser(db(), { identities: [{ type: 'email', value: 'invited@example.test', isVerified: true }] });
        const invited = await begin(codeApp.id);
        const mail = smtp.nextMessageTo('invited@example.test');
        await invited.submit({ identifier: 'invited@example.test' });
        signedIn(await invited.submit({ code: codeIn(await mail) }));
      } finally {
        await updateEnvironmentPolicy(db(), { allowSelfSignUp: true });
      }
    });

    it('signs existing people in from the registration page (unified sign-up) and hides the sign-in link when asked', async () => {
      await userWithPassword('unified@example.test', 'unified password');
      const withLink = await begin(passwordApp.id, { prompt: 'create' });
      assert.match(withLink.lastPage, /Already have an account\?/);

      await updateApplication(db(), passwordApp.id, { showSignInLink: false });
      try {
        const unified = await begin(passwordApp.id, { prompt: 'create' });
        assert.doesNotMatch(unified.lastPage, /Already have an account\?/);
        await unified.submit({ identifier: 'unified@example.test' });
        assert.match(unified.lastPage, /Enter your password/, 'an existing account authenticates');
        signedIn(await unified.submit({ password: 'unified password' }));
      } finally {
        await updateApplication(db(), passwordApp.id, { showSignInLink: true });
      }
    });

    it('lets one of two racing sign-ups for Bob and bob win, and tells the other', async () => {
      const register = async (username: string, email: string) => {
        const driver = await begin(passwordApp.id, { prompt: 'create' });
        await driver.submit({ identifier: username });
        const mail = smtp.nextMessageTo(email);
        await driver.submit({ email, password: `${username} password` });
        return { driver, code: codeIn(await mail) };
      };
      const [upper, lower] = await Promise.all([register('Bob', 'bob.upper@example.test'), register('bob', 'bob.lower@example.test')]);
      const outcomes = await Promise.all([upper.driver.submit({ code: upper.code }), lower.driver.submit({ code: lower.code })]);
      assert.equal(outcomes.filter((callback) => callback?.toString().startsWith(CALLBACK)).length, 1, 'exactly one wins');
      const loser = outcomes[0] ? lower.driver : upper.driver;
      assert.match(loser.lastPage, /That username was just taken/);
      const bobs = await db().selectFrom('identities').select('value').where('type', '=', 'username').where('normalized_value', '=', 'bob').execute();
      assert.equal(bobs.length, 1);
      const loserEmail = outcomes[0] ? 'bob.lower@example.test' : 'bob.upper@example.test';
      assert.equal(await findUserByIdentity(db(), 'email', loserEmail), undefined, 'nothing of the loser was written');
    });

    it('stores the marketing consent a person gives at sign-up', async () => {
      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      await updateApplication(db(), app.id, { askMarketingConsent: true });
      const driver = await begin(app.id);
      await driver.submit({ identifier: 'news@example.test' });
      assert.match(driver.lastPage, /name="accepts_marketing"/);
      const mail = smtp.nextMessageTo('news@example.test');
      await driver.submit({ accepts_marketing: 'yes' });
      signedIn(await driver.submit({ code: codeIn(await mail) }));
      assert.equal((await findUserByIdentity(db(), 'email', 'news@example.test'))!.acceptsMarketing, true);
    });

    it('leaves the picture out when the application turns the Gravatar fallback off', async () => {
      const app = await server.createApplication({ type: 'reg', redirectUrls: [CALLBACK] });
      const pictureFor = async (email: string) => {
        const driver = await begin(app.id, { scope: 'openid profile email' });
        const mail = smtp.nextMessageTo(email);
        await driver.submit({ identifier: email });
        const callback = await driver.submit({ code: codeIn(await mail) });
        const tokens = (await (
          await fetch(`${server.url}/oauth2/token`, {
            method: 'POST',
            body: new URLSearchParams({ grant_type: 'authorization_code', code: callback!.searchParams.get('code')!, redirect_uri: CALLBACK, client_id: app.id, client_secret: app.secret! }),
          })
        ).json()) as { id_token: string; access_token: string };
        const profile = (await (await fetch(`${server.url}/oauth2/v2/user_profile`, { headers: { authorization: `Bearer ${tokens.access_token}` } })).json()) as { picture: string | null };
        return { idToken: decodeJwt(tokens.id_token).picture, profile: profile.picture };
      };
      const withGravatar = await pictureFor('gravatar.on@example.test');
      assert.match(String(withGravatar.idToken), /gravatar\.com/);
      assert.equal(withGravatar.profile, withGravatar.idToken);
      await updateApplication(db(), app.id, { useGravatarFallback: false });
      assert.deepEqual(await pictureFor('gravatar.off@example.test'), { idToken: undefined, profile: null });
    });

    it("sends from the environment's own SMTP server with its sender and business names", async () => {
      const own = await new TestSmtp().start();
      try {
        const changed = await server.api('PATCH', '/environment/settings', { email: { smtp_url: own.url, sender_name: 'Acme Support' }, business_name: 'Acme' });
        assert.equal(changed.status, 200, JSON.stringify(changed.body));
        const driver = await begin(codeApp.id);
        const mail = own.nextMessageTo('own.smtp@example.test');
        await driver.submit({ identifier: 'own.smtp@example.test' });
        const message = await mail;
        assert.match(message.raw, /^From: "?Acme Support"? <auth@example\.test>/m);
        assert.match(message.raw, /^Subject: Confirm your email for Acme/m);
        assert.match(message.raw, /Use this code to confirm your email address at Acme/);
        assert.equal(smtp.messages.filter((m) => m.to.includes('own.smtp@example.test')).length, 0, 'nothing went through SMTP_URL');
        signedIn(await driver.submit({ code: codeIn(message) }));
      } finally {
        await server.api('PATCH', '/environment/settings', { email: { smtp_url: null, sender_name: null }, business_name: null });
        await own.stop();
      }
    });

    it('refuses malformed sign-up details clearly and writes nothing', async () => {
      const counts = async () => Number((await db().selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
      const before = await counts();
      const driver = await begin(passwordApp.id, { prompt: 'create' });
      await driver.submit({ identifier: 'x' });
      assert.match(driver.lastPage, /Usernames are 2 to 64 letters/);
      await driver.submit({ identifier: 'has spaces in it' });
      assert.match(driver.lastPage, /Usernames are 2 to 64 letters/);
      await driver.submit({ identifier: 'fine_name' });
      await driver.submit({ email: 'not-an-email', password: 'long enough password' });
      assert.match(driver.lastPage, /Enter a valid email address/);
      await driver.submit({ email: 'fine@example.test', password: 'short' });
      assert.match(driver.lastPage, /Use at least 8 characters/);
      await driver.submit({ email: 'fine@example.test', password: 'x'.repeat(300) });
      assert.match(driver.lastPage, /Use at most 256 characters/);
      assert.equal(await counts(), before);
    });
  });
}
