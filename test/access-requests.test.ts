import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decodeWebhook } from '@kinde/webhooks';
import { decodeJwt } from 'jose';
import { isMember } from '../src/domain/organizations.ts';
import { createUser, findUserByIdentity, primaryIdentity } from '../src/domain/users.ts';
import { testDatabases } from './support/databases.ts';
import { FormDriver, PageError } from './support/form-driver.ts';
import { assertKindeError, BOOTSTRAP, serverWithMailForSuite, type TestServer } from './support/server.ts';
import { codeIn, type TestSmtp } from './support/smtp.ts';
import { WebhookReceiver } from './support/webhook-receiver.ts';

const CALLBACK = 'http://127.0.0.1:5173/callback';

/**
 * Access requests (issue 14): a person who may not sign up asks for access from the hosted pages,
 * proving their email first; an administrator approves or denies through the management API; the
 * request reaches webhooks as Kinde's `access_request.created`.
 */
for (const database of testDatabases()) {
  describe(`access requests (${database.name})`, () => {
    let server: TestServer;
    let smtp: TestSmtp;
    let appId: string;
    const receiver = new WebhookReceiver();
    before(() => receiver.start());
    after(() => receiver.stop());

    serverWithMailForSuite(database, (started, mail) => {
      server = started;
      smtp = mail;
    });

    before(async () => {
      appId = (await server.createApplication({ type: 'reg', name: 'Closed Club', redirectUrls: [CALLBACK] })).id;
      await server.useSignInMethods(appId, ['email:otp']);
      const hook = await server.api('POST', '/webhooks', { endpoint: receiver.url, event_types: ['access_request.created'], name: 'Requests' });
      assert.equal(hook.status, 200, JSON.stringify(hook.body));
    });

    const db = () => server.services.db;
    const settings = async (patch: Record<string, boolean>) => assert.equal((await server.api('PATCH', '/environment/settings', patch)).status, 200);

    async function begin(extra: Record<string, string> = {}): Promise<FormDriver> {
      const driver = new FormDriver(server.url);
      const params = new URLSearchParams({ client_id: appId, response_type: 'code', redirect_uri: CALLBACK, scope: 'openid email', state: 'access', ...extra });
      assert.equal(await driver.go(`/oauth2/auth?${params}`), undefined, 'a sign-in page is shown');
      return driver;
    }

    /** The page a step answers with a refusal status (the driver throws on 4xx, keeping the page). */
    async function refused(step: Promise<unknown>, status = 403): Promise<void> {
      await assert.rejects(step, (error: unknown) => error instanceof PageError && error.status === status);
    }

    async function signIn(email: string, extra: Record<string, string> = {}): Promise<URL | undefined> {
      const driver = await begin(extra);
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ identifier: email });
      return driver.submit({ code: codeIn(await mail) });
    }

    /** A stranger's request, from the identify page to the confirmation: the email proven by a code. */
    async function askAsStranger(email: string, names = { given_name: 'Ada', family_name: 'Asker' }, extra: Record<string, string> = {}): Promise<string> {
      const driver = await begin(extra);
      await refused(driver.submit({ identifier: email }));
      assert.match(driver.lastPage, /Ask your administrator for access/);
      assert.match(driver.lastPage, new RegExp(`value="${email}"`), 'the email typed is kept');
      const mail = smtp.nextMessageTo(email);
      await driver.submit({ email, ...names }, '/request-access');
      assert.match(driver.lastPage, /Check your email/);
      await driver.submit({ code: codeIn(await mail) });
      return driver.lastPage;
    }

    const pending = async () => (await server.api('GET', '/access_requests?status=pending&page_size=100')).body.access_requests as any[];
    const eventsOf = async (type: string, subject: string) => (await server.api('GET', `/events?type=${type}&subject=${encodeURIComponent(subject)}`)).body.events as any[];

    it('lets a stranger ask when self sign-up is off: email proven first, nothing created, one request however often they ask', async () => {
      await settings({ is_self_sign_up_enabled: false });
      const driver = await begin();
      await refused(driver.submit({ identifier: 'ada@example.test' }));
      await driver.submit({ email: 'not an email', given_name: 'Ada', family_name: 'Asker' }, '/request-access');
      assert.match(driver.lastPage, /email/i);
      assert.match(driver.lastPage, /role="alert"|class="error"/, 'the form says what is wrong');
      await driver.submit({ email: 'ada@example.test', given_name: '', family_name: 'Asker' }, '/request-access');
      assert.match(driver.lastPage, /Enter your first and last name/);

      const sent = await askAsStranger('ada@example.test');
      assert.match(sent, /Request sent/);
      assert.match(sent, /Once they approve it, sign in with ada@example.test/);
      assert.match(sent, /Return to Closed Club/);
      assert.equal(await findUserByIdentity(db(), 'email', 'ada@example.test'), undefined, 'no account before approval');

      const [request] = (await pending()).filter((r) => r.email === 'ada@example.test');
      assert.match(request.id, /^access_request_[0-9a-f]{32}$/);
      assert.deepEqual(
        { ...request, id: undefined, created_on: undefined },
        { id: undefined, email: 'ada@example.test', first_name: 'Ada', last_name: 'Asker', user_id: null, organization_code: null, application_id: appId, connection_id: null, status: 'pending', created_on: undefined, decided_on: null },
      );

      // Kinde's webhook, verified as a receiver would, with `user_id: ""` while no account exists.
      await receiver.until((requests) => requests.some((r) => (decodeJwt(r.body) as any).data.access_request?.email === 'ada@example.test'));
      const delivery = receiver.requests.find((r) => (decodeJwt(r.body) as any).data.access_request?.email === 'ada@example.test')!;
      const decoded = (await decodeWebhook(delivery.body, server.services.config.issuer)) as any;
      assert.equal(decoded.type, 'access_request.created');
      assert.equal(decoded.source, 'user');
      assert.deepEqual(decoded.data, { access_request: { email: 'ada@example.test', first_name: 'Ada', last_name: 'Asker', user_id: '' } });

      const again = await askAsStranger('ADA@example.test', { given_name: 'Ada', family_name: 'Again' });
      assert.match(again, /Your request is waiting/);
      assert.equal((await pending()).filter((r) => r.email.toLowerCase() === 'ada@example.test').length, 1, 'no duplicate while one waits');
      assert.equal((await eventsOf('access_request.created', request.id)).length, 1);
    });

    it('approves a stranger’s request: the account with the verified email, then a sign-in', async () => {
      const [request] = (await pending()).filter((r) => r.email === 'ada@example.test');
      const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.user_created, true);
      assert.equal(approved.body.access_request.status, 'approved');
      assert.ok(approved.body.access_request.decided_on);
      const user = (await findUserByIdentity(db(), 'email', 'ada@example.test'))!;
      assert.equal(approved.body.access_request.user_id, user.id);
      assert.deepEqual([user.firstName, user.lastName, primaryIdentity(user, 'email')?.isVerified], ['Ada', 'Asker', true]);
      assert.equal((await eventsOf('user.created', user.id)).length, 1);
      const decision = (await eventsOf('access_request.approved', request.id))[0];
      assert.deepEqual(decision.detail, { email: 'ada@example.test', user_id: user.id, organization_code: null, user_created: true });
      assert.equal(decision.actor, BOOTSTRAP.id);
      assertKindeError(await server.api('POST', `/access_requests/${request.id}/approve`), 409, 'ACCESS_REQUEST_DECIDED');

      const callback = await signIn('ada@example.test');
      assert.ok(callback?.toString().startsWith(CALLBACK) && callback.searchParams.get('code'), 'signed in');
    });

    it('sends someone who already has an account to sign in instead of filing a request', async () => {
      await createUser(db(), { identities: [{ type: 'email', value: 'has.account@example.test', isVerified: true }] });
      const driver = await begin();
      await refused(driver.submit({ identifier: 'typo@example.test' }));
      const mail = smtp.nextMessageTo('has.account@example.test');
      await driver.submit({ email: 'has.account@example.test', given_name: 'Has', family_name: 'Account' }, '/request-access');
      await driver.submit({ code: codeIn(await mail) });
      assert.match(driver.lastPage, /You already have an account with this email: sign in with it/);
      assert.equal((await pending()).filter((r) => r.email === 'has.account@example.test').length, 0);
    });

    it('lets a person ask to join an organization that takes no registrations; approval adds the membership', async () => {
      await settings({ is_self_sign_up_enabled: true });
      const org = (await server.api('POST', '/organization', { name: 'Members Only', is_allow_registrations: false })).body.organization.code as string;
      const user = await createUser(db(), { firstName: 'Olive', lastName: 'Outsider', identities: [{ type: 'email', value: 'olive@example.test', isVerified: true }] });

      const driver = await begin({ org_code: org });
      const mail = smtp.nextMessageTo('olive@example.test');
      await driver.submit({ identifier: 'olive@example.test' });
      await refused(driver.submit({ code: codeIn(await mail) }));
      assert.match(driver.lastPage, /We can.t find your account/);
      assert.match(driver.lastPage, /You are not a member of Members Only/);
      assert.match(driver.lastPage, /The request will be sent as olive@example.test/);
      await driver.submit({}, '/request-access');
      assert.match(driver.lastPage, /Request sent/);

      const [request] = (await pending()).filter((r) => r.organization_code === org);
      assert.deepEqual([request.email, request.user_id, request.first_name], ['olive@example.test', user.id, 'Olive']);
      await receiver.until((requests) => requests.some((r) => (decodeJwt(r.body) as any).data.access_request?.user_id === user.id));

      const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
      assert.equal(approved.status, 200, JSON.stringify(approved.body));
      assert.equal(approved.body.user_created, false);
      assert.equal(await isMember(db(), org, user.id), true);
      assert.deepEqual((await eventsOf('organization.user_added', user.id)).map((event) => event.data.organization.code), [org]);
      const callback = await signIn('olive@example.test', { org_code: org });
      assert.ok(callback?.toString().startsWith(CALLBACK), 'the member signs in to the organization');
    });

    it('denies a request, after which the person may ask again; refuses bad input and tokens without the scope', async () => {
      await settings({ is_self_sign_up_enabled: false });
      await askAsStranger('dan@example.test', { given_name: 'Dan', family_name: 'Denied' });
      const [request] = (await pending()).filter((r) => r.email === 'dan@example.test');
      const denied = await server.api('POST', `/access_requests/${request.id}/deny`);
      assert.equal(denied.status, 200, JSON.stringify(denied.body));
      assert.equal(denied.body.access_request.status, 'denied');
      assert.equal((await eventsOf('access_request.denied', request.id)).length, 1);
      assert.equal(await findUserByIdentity(db(), 'email', 'dan@example.test'), undefined);
      assertKindeError(await server.api('POST', `/access_requests/${request.id}/approve`), 409, 'ACCESS_REQUEST_DECIDED');
      const deniedOnes = (await server.api('GET', '/access_requests?status=denied')).body.access_requests;
      assert.deepEqual(deniedOnes.map((r: any) => r.id), [request.id]);

      assert.match(await askAsStranger('dan@example.test', { given_name: 'Dan', family_name: 'Again' }), /Request sent/);

      assertKindeError(await server.api('POST', `/access_requests/access_request_${'0'.repeat(32)}/approve`), 404, 'ACCESS_REQUEST_NOT_FOUND');
      assertKindeError(await server.api('GET', '/access_requests?status=maybe'), 400, 'INVALID_REQUEST');
      assertKindeError(await server.api('GET', '/access_requests?next_token=forged'), 400);

      const narrow = await fetch(`${server.url}/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: BOOTSTRAP.id, client_secret: BOOTSTRAP.secret, audience: `${server.services.config.issuer}/api`, scope: 'read:users' }),
      });
      const token = ((await narrow.json()) as { access_token: string }).access_token;
      const listing = await fetch(`${server.url}/api/v1/access_requests`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(listing.status, 403);
      assert.equal(((await listing.json()) as any).errors[0].code, 'INSUFFICIENT_SCOPE');
    });

    it('files a stranger’s request for the org_code organization (none when it names no organization); approval makes a member', async () => {
      await settings({ is_self_sign_up_enabled: false });
      const org = (await server.api('POST', '/organization', { name: 'Gated Guild' })).body.organization.code as string;
      assert.match(await askAsStranger('guild.asker@example.test', { given_name: 'Gil', family_name: 'Guild' }, { org_code: org }), /administrators of Gated Guild/);
      const [request] = (await pending()).filter((r) => r.email === 'guild.asker@example.test');
      assert.equal(request.organization_code, org);
      const approved = await server.api('POST', `/access_requests/${request.id}/approve`);
      assert.equal(approved.body.user_created, true);
      assert.equal(await isMember(db(), org, approved.body.access_request.user_id), true);
      const events = (await server.api('GET', `/events?subject=${approved.body.access_request.user_id}`)).body.events.map((event: any) => event.type);
      assert.deepEqual(events, ['user.created', 'organization.user_added'], 'the user first, then the membership');

      await askAsStranger('ghost.org@example.test', { given_name: 'Gus', family_name: 'Ghost' }, { org_code: 'org_00000000000' });
      assert.deepEqual((await pending()).filter((r) => r.email === 'ghost.org@example.test').map((r) => r.organization_code), [null]);
    });

    it('tells people to ask their administrator when access requests are off', async () => {
      await settings({ is_self_sign_up_enabled: false, is_access_request_enabled: false });
      const driver = await begin();
      await refused(driver.submit({ identifier: 'nobody@example.test' }));
      assert.match(driver.lastPage, /Ask your administrator for access/);
      assert.doesNotMatch(driver.lastPage, /request-access/, 'no form to ask with');
      await settings({ is_access_request_enabled: true });
    });
  });
}
