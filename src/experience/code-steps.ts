import type Router from '@koa/router';
import { clock } from '../clock.ts';
import { clearFailedAttempts, withinAttempts } from '../domain/attack-protection.ts';
import { recordAudit } from '../domain/audit.ts';
import type { CodeCheck } from '../domain/one-time-codes.ts';
import { DomainError } from '../domain/errors.ts';
import { userData } from '../domain/events/payloads.ts';
import { createUser, findUser, markIdentityVerified, type NewIdentity, type User } from '../domain/users.ts';
import { field } from '../http/forms.ts';
import { inTransaction } from '../store/db.ts';
import { amrFor } from './methods.ts';
import { CODES_LOCKED_MESSAGE, codeSubject, identityMatching, RESEND_COOL_DOWN_MS, type SignInKit } from './sign-in-kit.ts';

const isGuessThatFailed = (check: CodeCheck) => check === 'wrong' || check === 'too_many_attempts';

/** One-time codes by email or SMS: checking one, and sending another (sections 013–016). */
export function codeSteps(router: Router, kit: SignInKit): void {
  const { postedStep, services, db, goTo, afterFirstFactor, sendCodeStep } = kit;

  router.post('/resend', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, state } = posted;
    if (state?.step !== 'code' || !state.codePurpose || !state.codeDestination || !state.codeChannel) return goTo(ctx, interaction, { step: 'identify' });
    const waitMs = (state.codeSentAt ?? 0) + RESEND_COOL_DOWN_MS - clock.now();
    if (waitMs > 0) return goTo(ctx, interaction, { ...state, error: `Wait ${Math.ceil(waitMs / 1000)} seconds before asking for another code.`, notice: undefined });
    const next = await sendCodeStep(interaction, state, state.codePurpose, { channel: state.codeChannel, to: state.codeDestination });
    return goTo(ctx, interaction, next.error ? next : { ...next, notice: 'We sent a new code. Use the newest one.' });
  });

  router.post('/code', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'code' || !state.challengeId || !state.codePurpose || !state.identifierType || !state.identifier) {
      return goTo(ctx, interaction, { step: 'identify' });
    }
    // Wrong codes count against the account (or the identity being verified) across flows, not just
    // this code's own 5 tries: fresh flows would otherwise give a guesser fresh tries without end.
    const subject = codeSubject(state, { channel: state.codeChannel ?? 'email', to: state.codeDestination ?? state.identifier });
    const attempt = await withinAttempts(db, subject, interaction.policy.attackProtection, () => services.codes.check(state.challengeId!, state.codePurpose!, field(form, 'code') ?? ''), isGuessThatFailed);
    if (!attempt.checked) return goTo(ctx, interaction, { ...state, error: CODES_LOCKED_MESSAGE(attempt.until), notice: undefined });
    const { result: outcome, lock } = attempt;
    if (isGuessThatFailed(outcome)) await services.networkFailures.count(interaction.network);
    if (lock.locked) return goTo(ctx, interaction, { ...state, error: CODES_LOCKED_MESSAGE(lock.until), notice: undefined });
    if (outcome === 'accepted' && !state.userId) await clearFailedAttempts(db, subject);
    if (outcome === 'wrong') return goTo(ctx, interaction, { ...state, error: 'That code is not right. Check the message and try again.', notice: undefined });
    if (outcome !== 'accepted') {
      const error = outcome === 'expired' ? 'That code has expired. Start again to get a new one.' : 'Too many wrong codes. Start again to get a new one.';
      return goTo(ctx, interaction, { step: 'identify', registering: state.registering, identifier: state.identifier, error });
    }
    const amr = [amrFor('code', state.codeChannel ?? 'email')];
    const connectionId = interaction.methods[state.identifierType]?.connectionId;

    if (state.codePurpose === 'reset_password') return goTo(ctx, interaction, { ...state, step: 'new_password', newPasswordReason: 'reset', error: undefined, notice: undefined });

    if (state.codePurpose === 'sign_in' && state.userId) {
      // The code proved the identity it was sent to.
      const user = await findUser(db, state.userId);
      const identity = user && (identityMatching(user, state.codeChannel === 'sms' ? 'phone' : 'email', state.codeDestination) ?? identityMatching(user, state.identifierType, state.identifier));
      if (identity && !identity.isVerified) await markIdentityVerified(db, identity.id);
      return afterFirstFactor(ctx, interaction, { userId: state.userId, connectionId, amr: state.verifiedPassword ? ['pwd', ...amr] : amr }, identity?.id);
    }

    const identities: NewIdentity[] = [{ type: state.identifierType, value: state.identifier, isVerified: true, connectionId: interaction.methods[state.identifierType]?.connectionId ?? null }];
    if (state.email) identities.push({ type: 'email', value: state.email, isVerified: true, connectionId: null });
    let user: User;
    try {
      // The account and its user.created event commit together (DESIGN.md §5b).
      user = await inTransaction(db, async (tx) => {
        const created = await createUser(tx, {
          firstName: state.firstName ?? null,
          lastName: state.lastName ?? null,
          identities,
          passwordHash: state.pendingPasswordHash,
          acceptsMarketing: state.acceptsMarketing,
        });
        await recordAudit(tx, { type: 'user.created', actor: created.id, subject: created.id, data: await userData(tx, created), detail: { application_id: interaction.app.id } });
        return created;
      });
    } catch (error) {
      // Two sign-ups raced for the same identifier (e.g. `Bob` and `bob`): the unique index let one win.
      if (!(error instanceof DomainError && error.code === 'USER_IDENTITY_EXISTS')) throw error;
      const taken = state.identifierType === 'username' ? 'That username was just taken. Choose another.' : 'An account with these details was just created. Sign in instead.';
      return goTo(ctx, interaction, { step: 'identify', registering: true, error: taken });
    }
    return afterFirstFactor(ctx, interaction, { userId: user.id, connectionId, amr: state.pendingPasswordHash ? ['pwd', ...amr] : amr }, user.identities[0]?.id);
  });
}
