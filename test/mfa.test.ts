import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { afterEach, describe, it } from 'node:test';
import jsqr from 'jsqr';
import { Secret, TOTP } from 'otpauth';
import { PNG } from 'pngjs';
import { clock } from '../src/clock.ts';
import { MasterKey } from '../src/crypto/master-key.ts';
import { clearFailedAttempts, lockStatus } from '../src/domain/attack-protection.ts';
import { ensureBuiltInConnections } from '../src/domain/connections.ts';
import { updateEnvironmentPolicy } from '../src/domain/environment.ts';
import { DomainError } from '../src/domain/errors.ts';
import { codeEmail } from '../src/domain/messaging/codes.ts';
import {
  codeFactorDestination,
  confirmCodeEnrolment,
  confirmTotpEnrolment,
  enrolCodeFactor,
  listFactors,
  mfaForSignIn,
  regenerateRecoveryCodes,
  remainingRecoveryCodes,
  resetMfa,
  startTotpEnrolment,
  useRecoveryCode,
  verifyCodeFactor,
  verifyTotp,
} from '../src/domain/mfa.ts';
import { OneTimeCodes } from '../src/domain/one-time-codes.ts';
import { addMember, createOrganization, updateOrganizationMfaPolicy } from '../src/domain/organizations.ts';
import { createRole } from '../src/domain/roles.ts';
import { createUser } from '../src/domain/users.ts';
import type { Store } from '../src/store/db.ts';
import { testDatabases } from './support/databases.ts';
import { storeForSuite } from './support/store-suite.ts';

const STEP_MS = 30_000;

/** What the person's authenticator app shows at `offsetSteps` steps from now (by the server's clock). */
function appCode(secret: string, offsetSteps = 0): string {
  return TOTP.generate({ secret: Secret.fromBase32(secret), algorithm: 'SHA1', digits: 6, period: 30, timestamp: clock.now() + offsetSteps * STEP_MS });
}

/** Moves the clock to one second into a fresh 30-second step, so that no test straddles a step boundary. */
function startOfNextStep(): void {
  clock.advance(STEP_MS - (clock.now() % STEP_MS) + 1_000);
}

function qrContent(dataUrl: string): string | undefined {
  const png = PNG.sync.read(Buffer.from(dataUrl.replace(/^data:image\/png;base64,/, ''), 'base64'));
  // jsqr is CommonJS: its function is the module's `default`.
  return jsqr.default(new Uint8ClampedArray(png.data), png.width, png.height)?.data;
}

const isDomainError = (code: string, status: number) => (error: unknown) => error instanceof DomainError && error.code === code && error.status === status;

for (const database of testDatabases()) {
  describe(`multi-factor authentication (${database.name})`, () => {
    let store: Store;
    const master = new MasterKey(randomBytes(32));
    let codes: OneTimeCodes;
    const db = () => store.db;

    storeForSuite(database, async (opened) => {
      store = opened;
      await ensureBuiltInConnections(store.db);
      codes = new OneTimeCodes(store.db, randomBytes(32));
    });

    afterEach(() => clock.reset());

    let people = 0;
    const newUser = async () => (await createUser(db(), { identities: [{ type: 'email', value: `person${++people}@acme.test`, isVerified: true }] })).id;

    /** A person with a proven authenticator app; returns its secret and their recovery codes. */
    async function withAuthenticator(): Promise<{ userId: string; factorId: string; secret: string; recoveryCodes: string[] }> {
      const userId = await newUser();
      const enrolment = await startTotpEnrolment(db(), master, userId, 'Acme');
      startOfNextStep();
      const confirmed = await confirmTotpEnrolment(db(), master, enrolment.factorId, appCode(enrolment.secret));
      assert.ok(confirmed.verified && confirmed.recoveryCodes);
      startOfNextStep();
      return { userId, factorId: enrolment.factorId, secret: enrolment.secret, recoveryCodes: confirmed.recoveryCodes };
    }

    describe('authenticator apps (RFC 6238)', () => {
      it('starts enrolment with a base32 secret, an otpauth URI and a QR code of that URI', async () => {
        const userId = await newUser();
        const enrolment = await startTotpEnrolment(db(), master, userId, 'Acme Corp');
        assert.match(enrolment.secret, /^[A-Z2-7]{32}$/, '160 bits in base32');
        const uri = new URL(enrolment.otpauthUri);
        assert.equal(uri.protocol, 'otpauth:');
        assert.equal(uri.host, 'totp');
        assert.equal(decodeURIComponent(uri.pathname), `/Acme Corp:person${people}@acme.test`);
        assert.equal(uri.searchParams.get('secret'), enrolment.secret);
        assert.equal(uri.searchParams.get('issuer'), 'Acme Corp');
        assert.equal(uri.searchParams.get('algorithm'), 'SHA1');
        assert.equal(uri.searchParams.get('digits'), '6');
        assert.equal(uri.searchParams.get('period'), '30');
        assert.equal(qrContent(enrolment.qrCodeDataUrl), enrolment.otpauthUri);

        const [factor] = await listFactors(db(), userId);
        assert.equal(factor?.id, enrolment.factorId);
        assert.equal(factor?.type, 'totp');
        assert.equal(factor?.isVerified, false, 'not a factor until a code from the app confirms it');
      });

      it('keeps the secret sealed at rest, bound to its factor', async () => {
        const userId = await newUser();
        const enrolment = await startTotpEnrolment(db(), master, userId, 'Acme');
        const row = await db().selectFrom('mfa_factors').selectAll().where('id', '=', enrolment.factorId).executeTakeFirstOrThrow();
        assert.ok(row.secret_sealed && !row.secret_sealed.includes(enrolment.secret));
        assert.equal(master.open(row.secret_sealed, `totp:${enrolment.factorId}`), enrolment.secret);
        assert.throws(() => master.open(row.secret_sealed!, 'totp:mfa_another'));
      });

      it('confirms enrolment with a code from the app and gives ten recovery codes, once', async () => {
        const userId = await newUser();
        const enrolment = await startTotpEnrolment(db(), master, userId, 'Acme');
        startOfNextStep();
        assert.deepEqual(await confirmTotpEnrolment(db(), master, enrolment.factorId, '000000' === appCode(enrolment.secret) ? '111111' : '000000'), { verified: false, reason: 'wrong' });
        const confirmed = await confirmTotpEnrolment(db(), master, enrolment.factorId, appCode(enrolment.secret));
        assert.ok(confirmed.verified);
        assert.equal(confirmed.factor.isVerified, true);
        assert.equal(confirmed.recoveryCodes?.length, 10);
        assert.equal(new Set(confirmed.recoveryCodes).size, 10);
        for (const code of confirmed.recoveryCodes ?? []) assert.match(code, /^[A-HJKMNP-TW-Z2-9]{5}-[A-HJKMNP-TW-Z2-9]{5}$/);
        assert.equal(await remainingRecoveryCodes(db(), userId), 10);

        const stored = await db().selectFrom('recovery_codes').select('code_hash').where('user_id', '=', userId).execute();
        assert.equal(stored.length, 10);
        for (const { code_hash } of stored) assert.ok(!confirmed.recoveryCodes?.some((code) => code_hash.includes(code) || code_hash.includes(code.replace('-', ''))), 'stored hashed');

        await assert.rejects(confirmTotpEnrolment(db(), master, enrolment.factorId, appCode(enrolment.secret)), isDomainError('MFA_FACTOR_VERIFIED', 409));
        assert.equal(await verifyTotp(db(), master, userId, appCode(enrolment.secret)), 'replayed', 'the code that confirmed enrolment is spent');
      });

      it('refuses a second authenticator app while one is set up', async () => {
        const { userId } = await withAuthenticator();
        await assert.rejects(startTotpEnrolment(db(), master, userId, 'Acme'), isDomainError('MFA_FACTOR_EXISTS', 409));
      });

      it('replaces an unfinished enrolment when enrolment starts again', async () => {
        const userId = await newUser();
        const first = await startTotpEnrolment(db(), master, userId, 'Acme');
        const second = await startTotpEnrolment(db(), master, userId, 'Acme');
        assert.deepEqual((await listFactors(db(), userId)).map((factor) => factor.id), [second.factorId]);
        await assert.rejects(confirmTotpEnrolment(db(), master, first.factorId, appCode(first.secret)), isDomainError('MFA_FACTOR_NOT_FOUND', 404));
      });

      it('accepts the current code and those one step either side, not two steps away', async () => {
        const { userId, secret } = await withAuthenticator();
        clock.advance(STEP_MS); // clear of the step whose code confirmed the enrolment
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret, -2)), 'wrong');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret, +2)), 'wrong');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret, -1)), 'accepted', 'the previous step (a slow typist)');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret)), 'accepted');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret, +1)), 'accepted', 'the next step (a fast clock)');
        const [factor] = await listFactors(db(), userId);
        assert.equal(factor?.usageCount, 3);
        assert.ok(factor?.lastUsedAt);
        await clearFailedAttempts(db(), userId);
      });

      it('accepts a code once: the same code again, or an earlier one, is refused as replayed', async () => {
        const { userId, secret } = await withAuthenticator();
        const code = appCode(secret);
        assert.equal(await verifyTotp(db(), master, userId, code), 'accepted');
        assert.equal(await verifyTotp(db(), master, userId, code), 'replayed');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret, -1)), 'replayed', 'an older step after a newer one');
        clock.advance(STEP_MS);
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret)), 'accepted', 'the next step’s code works');
        assert.equal((await lockStatus(db(), userId)).locked, false, 'replays are not guesses');
      });

      it('accepts a code submitted twice at once only once', async () => {
        const { userId, secret } = await withAuthenticator();
        const code = appCode(secret);
        const results = await Promise.all([verifyTotp(db(), master, userId, code), verifyTotp(db(), master, userId, code), verifyTotp(db(), master, userId, code)]);
        assert.deepEqual(results.sort(), ['accepted', 'replayed', 'replayed']);
      });

      it('follows the clock: a code from a minute ago no longer works', async () => {
        const { userId, secret } = await withAuthenticator();
        const code = appCode(secret);
        clock.advance(2 * STEP_MS);
        assert.equal(await verifyTotp(db(), master, userId, code), 'wrong');
        await clearFailedAttempts(db(), userId);
      });

      it('refuses input that is not six digits without counting it as a guess', async () => {
        const { userId, secret } = await withAuthenticator();
        for (const code of ['', '12345', '1234567', 'abcdef', `${appCode(secret)}0`, '12 34 5']) assert.equal(await verifyTotp(db(), master, userId, code), 'wrong', code);
        assert.equal((await lockStatus(db(), userId)).locked, false);
        const failed = await db().selectFrom('users').select('failed_sign_ins').where('id', '=', userId).executeTakeFirstOrThrow();
        assert.equal(failed.failed_sign_ins, 0);
        assert.equal(await verifyTotp(db(), master, userId, ` ${appCode(secret).slice(0, 3)} ${appCode(secret).slice(3)} `), 'accepted', 'spaces as apps group the digits');
      });
    });

    describe('attack protection', () => {
      it('locks the account for 5 minutes after 5 wrong codes, as for passwords, and counts them with wrong passwords', async () => {
        const { userId, secret, recoveryCodes } = await withAuthenticator();
        const wrong = appCode(secret) === '000000' ? '111111' : '000000';
        for (let attempt = 1; attempt <= 4; attempt++) assert.equal(await verifyTotp(db(), master, userId, wrong), 'wrong', `attempt ${attempt}`);
        assert.equal(await verifyTotp(db(), master, userId, wrong), 'locked');
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret)), 'locked', 'not even the right code while locked');
        assert.equal(await useRecoveryCode(db(), master, userId, recoveryCodes[0]!), 'locked', 'nor a recovery code');
        assert.equal(await remainingRecoveryCodes(db(), userId), 10, 'and the refused recovery code is not spent');
        const failed = await db().selectFrom('users').select('failed_sign_ins').where('id', '=', userId).executeTakeFirstOrThrow();
        assert.equal(failed.failed_sign_ins, 5, 'the same counter as wrong passwords');

        clock.advance(5 * 60_000 + 1_000);
        startOfNextStep();
        assert.equal(await verifyTotp(db(), master, userId, appCode(secret)), 'accepted');
      });

      it('follows the environment’s attack-protection policy', async () => {
        await updateEnvironmentPolicy(db(), { attackProtection: { maxAttempts: 2 } });
        try {
          const { userId } = await withAuthenticator();
          assert.equal(await useRecoveryCode(db(), master, userId, 'AAAAA-AAAAA'), 'wrong');
          assert.equal(await useRecoveryCode(db(), master, userId, 'AAAAA-AAAAA'), 'locked');
        } finally {
          await updateEnvironmentPolicy(db(), { attackProtection: { maxAttempts: 5 } });
        }
      });
    });

    describe('recovery codes', () => {
      it('takes a recovery code once, in place of a factor', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        const [first, second] = recoveryCodes;
        assert.equal(await useRecoveryCode(db(), master, userId, first!), 'accepted');
        assert.equal(await useRecoveryCode(db(), master, userId, first!), 'wrong', 'a spent code fails the second time');
        assert.equal(await useRecoveryCode(db(), master, userId, ` ${second!.toLowerCase().replace('-', '')} `), 'accepted', 'case, spaces and the dash do not matter');
        assert.equal(await remainingRecoveryCodes(db(), userId), 8);
        await clearFailedAttempts(db(), userId);
      });

      it('stores codes keyed outside the database: a copy of the rows and another key get nowhere', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        const stored = (await db().selectFrom('recovery_codes').select('code_hash').where('user_id', '=', userId).execute()).map((row) => row.code_hash);
        const unkeyed = createHash('sha256').update(`${userId}:${recoveryCodes[0]!.replace('-', '')}`).digest('hex');
        assert.equal(stored.length, 10);
        assert.ok(!stored.includes(unkeyed), 'not a plain digest anyone with the rows could test guesses against');
        assert.equal(await useRecoveryCode(db(), new MasterKey(randomBytes(32)), userId, recoveryCodes[0]!), 'wrong', 'another installation’s key');
        assert.equal(await useRecoveryCode(db(), master, userId, recoveryCodes[0]!), 'accepted');
        await clearFailedAttempts(db(), userId);
      });

      it('still takes a code stored the earlier way (plain SHA-256), once', async () => {
        const { userId } = await withAuthenticator();
        const legacy = 'ABCDE-FGHJK';
        await db()
          .insertInto('recovery_codes')
          .values({ id: `rc_legacy_${userId}`, user_id: userId, code_hash: createHash('sha256').update(`${userId}:ABCDEFGHJK`).digest('hex'), used_at: null, created_at: clock.now() })
          .execute();
        assert.equal(await useRecoveryCode(db(), master, userId, legacy), 'accepted');
        assert.equal(await useRecoveryCode(db(), master, userId, legacy), 'wrong');
        await clearFailedAttempts(db(), userId);
      });

      it('spends a code submitted twice at once only once', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        const results = await Promise.all([useRecoveryCode(db(), master, userId, recoveryCodes[0]!), useRecoveryCode(db(), master, userId, recoveryCodes[0]!)]);
        assert.deepEqual(results.sort(), ['accepted', 'wrong']);
        await clearFailedAttempts(db(), userId);
      });

      it('takes only the person’s own codes', async () => {
        const ann = await withAuthenticator();
        const bob = await withAuthenticator();
        assert.equal(await useRecoveryCode(db(), master, bob.userId, ann.recoveryCodes[0]!), 'wrong');
        assert.equal(await remainingRecoveryCodes(db(), ann.userId), 10);
        await clearFailedAttempts(db(), bob.userId);
      });

      it('regenerating gives ten new codes and the old ones stop working', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        await useRecoveryCode(db(), master, userId, recoveryCodes[0]!);
        const fresh = await regenerateRecoveryCodes(db(), master, userId);
        assert.equal(fresh.length, 10);
        assert.equal(fresh.filter((code) => recoveryCodes.includes(code)).length, 0);
        assert.equal(await remainingRecoveryCodes(db(), userId), 10);
        assert.equal(await useRecoveryCode(db(), master, userId, recoveryCodes[1]!), 'wrong', 'an old, unused code');
        assert.equal(await useRecoveryCode(db(), master, userId, fresh[0]!), 'accepted');
        await clearFailedAttempts(db(), userId);
      });

      it('gives recovery codes only to people who have set up MFA', async () => {
        const userId = await newUser();
        await assert.rejects(regenerateRecoveryCodes(db(), master, userId), isDomainError('MFA_NOT_ENROLLED', 409));
      });
    });

    describe('email and SMS factors', () => {
      it('proves an email factor with a code sent to it, then signs in with another', async () => {
        const userId = await newUser();
        const factor = await enrolCodeFactor(db(), userId, 'email', ` Person${people}@ACME.test `);
        assert.equal(factor.destination, `person${people}@acme.test`);
        assert.equal(factor.isVerified, false);
        assert.equal((await enrolCodeFactor(db(), userId, 'email', `person${people}@acme.test`)).id, factor.id, 'the same destination is the same factor');

        const destination = codeFactorDestination(factor);
        assert.deepEqual(destination, { channel: 'email', to: `person${people}@acme.test` });
        const sent = await codes.issue('mfa', destination.to);
        assert.deepEqual(await confirmCodeEnrolment(db(), master, codes, factor.id, sent.challengeId, sent.code === '000000' ? '111111' : '000000'), { verified: false, reason: 'wrong' });
        const confirmed = await confirmCodeEnrolment(db(), master, codes, factor.id, sent.challengeId, sent.code);
        assert.ok(confirmed.verified);
        assert.equal(confirmed.recoveryCodes?.length, 10, 'the first factor brings recovery codes');

        const next = await codes.issue('mfa', destination.to);
        assert.equal(await verifyCodeFactor(db(), codes, factor.id, next.challengeId, next.code), 'accepted');
        assert.equal(await verifyCodeFactor(db(), codes, factor.id, next.challengeId, next.code), 'expired', 'a code works once');
        const [stored] = await listFactors(db(), userId);
        assert.equal(stored?.usageCount, 1);
        assert.ok(stored?.lastUsedAt);
      });

      it('counts wrong email codes against the account lockout', async () => {
        const userId = await newUser();
        const factor = await enrolCodeFactor(db(), userId, 'email', `person${people}@acme.test`);
        const first = await codes.issue('mfa', factor.destination!);
        await confirmCodeEnrolment(db(), master, codes, factor.id, first.challengeId, first.code);
        for (let round = 0; round < 2; round++) {
          const sent = await codes.issue('mfa', factor.destination!);
          const wrong = sent.code === '000000' ? '111111' : '000000';
          assert.equal(await verifyCodeFactor(db(), codes, factor.id, sent.challengeId, wrong), 'wrong');
          assert.equal(await verifyCodeFactor(db(), codes, factor.id, sent.challengeId, wrong), 'wrong');
        }
        const sent = await codes.issue('mfa', factor.destination!);
        assert.equal(await verifyCodeFactor(db(), codes, factor.id, sent.challengeId, sent.code === '000000' ? '111111' : '000000'), 'locked', 'five wrong codes over three sent codes');
        assert.equal(await verifyCodeFactor(db(), codes, factor.id, sent.challengeId, sent.code), 'locked');
        await clearFailedAttempts(db(), userId);
      });

      it('a second factor does not bring new recovery codes', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        const factor = await enrolCodeFactor(db(), userId, 'sms', '+61466043123');
        assert.deepEqual(codeFactorDestination(factor), { channel: 'sms', to: '+61466043123' });
        const sent = await codes.issue('mfa', factor.destination!);
        const confirmed = await confirmCodeEnrolment(db(), master, codes, factor.id, sent.challengeId, sent.code);
        assert.ok(confirmed.verified);
        assert.equal(confirmed.recoveryCodes, undefined);
        assert.equal(await useRecoveryCode(db(), master, userId, recoveryCodes[0]!), 'accepted', 'the first set still works');
      });

      it('refuses destinations that are not an email address or an E.164 number', async () => {
        const userId = await newUser();
        await assert.rejects(enrolCodeFactor(db(), userId, 'email', 'not-an-email'), isDomainError('INVALID_MFA_DESTINATION', 400));
        await assert.rejects(enrolCodeFactor(db(), userId, 'sms', '0466 043 123'), isDomainError('INVALID_MFA_DESTINATION', 400));
        await assert.rejects(enrolCodeFactor(db(), 'kp_00000000000000000000000000000000', 'email', 'ghost@acme.test'), isDomainError('USER_INVALID', 404));
        assert.deepEqual(await listFactors(db(), userId), []);
      });

      it('sends MFA codes with their own wording', () => {
        const email = codeEmail('mfa', 'ann@acme.test', '123456', 'Acme');
        assert.equal(email.subject, 'Your Acme verification code');
        assert.match(email.text, /finish signing in at Acme:\n\n123456/);
      });
    });

    describe('reset', () => {
      it('resets one factor, keeping the recovery codes while another proven factor remains', async () => {
        const { userId, factorId } = await withAuthenticator();
        const email = await enrolCodeFactor(db(), userId, 'email', `person${people}@acme.test`);
        const sent = await codes.issue('mfa', email.destination!);
        await confirmCodeEnrolment(db(), master, codes, email.id, sent.challengeId, sent.code);

        await resetMfa(db(), userId, factorId);
        assert.deepEqual((await listFactors(db(), userId)).map((factor) => factor.id), [email.id]);
        assert.equal(await remainingRecoveryCodes(db(), userId), 10);

        await resetMfa(db(), userId, email.id);
        assert.deepEqual(await listFactors(db(), userId), []);
        assert.equal(await remainingRecoveryCodes(db(), userId), 0, 'nothing left to recover');
      });

      it('resets everything, so that the person enrols again and gets new recovery codes', async () => {
        const { userId, recoveryCodes } = await withAuthenticator();
        await enrolCodeFactor(db(), userId, 'sms', '+61466043123');
        await resetMfa(db(), userId);
        assert.deepEqual(await listFactors(db(), userId), []);
        assert.equal(await remainingRecoveryCodes(db(), userId), 0);
        assert.equal(await useRecoveryCode(db(), master, userId, recoveryCodes[0]!), 'wrong');
        await clearFailedAttempts(db(), userId);

        const again = await startTotpEnrolment(db(), master, userId, 'Acme');
        startOfNextStep();
        const confirmed = await confirmTotpEnrolment(db(), master, again.factorId, appCode(again.secret));
        assert.ok(confirmed.verified);
        assert.equal(confirmed.recoveryCodes?.length, 10);
      });

      it('refuses to reset a factor that is not the person’s, changing nothing', async () => {
        const ann = await withAuthenticator();
        const bob = await withAuthenticator();
        await assert.rejects(resetMfa(db(), bob.userId, ann.factorId), isDomainError('MFA_FACTOR_NOT_FOUND', 404));
        await assert.rejects(resetMfa(db(), ann.userId, 'mfa_00000000000000000000000000000000'), isDomainError('MFA_FACTOR_NOT_FOUND', 404));
        assert.equal((await listFactors(db(), ann.userId)).length, 1);
        assert.equal(await remainingRecoveryCodes(db(), ann.userId), 10);
      });

      it('forgets a person’s factors and codes with the person', async () => {
        const { userId } = await withAuthenticator();
        await db().deleteFrom('users').where('id', '=', userId).execute();
        assert.deepEqual(await listFactors(db(), userId), []);
        assert.equal(await remainingRecoveryCodes(db(), userId), 0);
      });
    });

    describe('the MFA step of a sign-in', () => {
      it('applies the organization’s policy with the person’s roles and connection, and lists their proven factors', async () => {
        const { userId } = await withAuthenticator();
        await createRole(db(), { key: `auditor${people}`, name: 'Auditor' });
        await createRole(db(), { key: `owner${people}`, name: 'Owner' });
        const organization = await createOrganization(db(), { name: 'Bank' });
        await addMember(db(), organization.code, userId, { roleKeys: [`auditor${people}`] });
        const okta = 'conn_0123456789abcdef0123456789abcdef';
        await db().insertInto('connections').values({ id: okta, strategy: 'saml:okta', name: `okta-${people}`, display_name: 'Okta', created_at: clock.now() }).execute();

        assert.deepEqual(await mfaForSignIn(db(), { userId, primaryChannel: 'password' }), { requirement: 'none', factors: [], enrolled: [], hasRecoveryCodes: false });

        await updateOrganizationMfaPolicy(db(), organization.code, { enforced: true, factors: ['totp', 'email'], exemptConnectionIds: [okta] });
        const step = await mfaForSignIn(db(), { userId, organizationCode: organization.code, primaryChannel: 'email' });
        assert.equal(step.requirement, 'required');
        assert.deepEqual(step.factors, ['totp']);
        assert.deepEqual(step.enrolled.map((factor) => factor.type), ['totp']);
        assert.equal(step.hasRecoveryCodes, true);

        assert.equal((await mfaForSignIn(db(), { userId, organizationCode: organization.code, connectionId: okta, primaryChannel: 'other' })).requirement, 'none');

        await updateOrganizationMfaPolicy(db(), organization.code, { exemptRoleKeys: [`auditor${people}`] });
        assert.equal((await mfaForSignIn(db(), { userId, organizationCode: organization.code, primaryChannel: 'password' })).requirement, 'none');
        await addMember(db(), organization.code, userId, { roleKeys: [`owner${people}`] });
        assert.equal((await mfaForSignIn(db(), { userId, organizationCode: organization.code, primaryChannel: 'password' })).requirement, 'required', 'a mix of roles');
      });

      it('keeps a role’s exemption when its key changes, and ends it when the role goes', async () => {
        const role = await createRole(db(), { key: 'contractor', name: 'Contractor' });
        const organization = await createOrganization(db(), { name: 'Renamed roles' });
        await updateOrganizationMfaPolicy(db(), organization.code, { enforced: true, exemptRoleKeys: ['contractor'] });
        const { updateRole, deleteRole } = await import('../src/domain/roles.ts');
        await updateRole(db(), role.id, { key: 'external' });
        const { organizationMfaPolicy } = await import('../src/domain/organizations.ts');
        assert.deepEqual((await organizationMfaPolicy(db(), organization.code)).exemptRoleKeys, ['external']);
        await deleteRole(db(), role.id);
        assert.deepEqual((await organizationMfaPolicy(db(), organization.code)).exemptRoleKeys, []);
      });
    });
  });
}
