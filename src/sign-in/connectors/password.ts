import type Router from '@koa/router';
import { withinAttemptsHeld } from '../../domain/attack-protection.ts';
import type { Context } from 'koa';
import { recordAudit } from '../../domain/audit.ts';
import { checkPassword, passwordProblem, passwordStatus, setPassword } from '../../domain/passwords.ts';
import { findUser, updateUser, type User } from '../../domain/users.ts';
import { field } from '../../http/forms.ts';
import { amrFor } from './registry.ts';
import type { Interaction } from '../flow/interaction.ts';
import * as next from '../flow/machine.ts';
import type { PasswordState, SignInState, Typed } from '../flow/state.ts';
import type { IdentityConnector } from './connector.ts';
import { identityMatching, LOCKED_MESSAGE, type SignInKit } from '../flow/kit.ts';

/** The connection the person is signing in with: the application's method for the kind of identity they typed. */
const connectionOf = (interaction: Interaction, typed: Typed) => interaction.methods[typed.identifierType]?.connectionId;

/** Passwords: the password page, forgot password, and choosing a new one (sections 010–012). */
export function passwordConnector(kit: SignInKit): IdentityConnector {
  const { postedStep, db, goTo, afterFirstFactor, clearAttempts, attemptsClearedIn, codeDestinationOf, sendCodeStep, sendCodeToPerson } = kit;

  /** The password page; a code to choose a new password first when the account has none or must reset it. */
  async function begin(interaction: Interaction, user: User, typed: Typed): Promise<SignInState> {
    if (!user.isPasswordResetRequested && (await passwordStatus(db, user.id)).hasPassword) return next.password(typed, user.id);
    return sendCodeToPerson(interaction, user, typed, 'reset_password', 'This account needs a new password, but has no email or phone to send a code to.');
  }

  return { kind: 'identity', begin, routes: (router) => routes(router) };

  function routes(router: Router): void {
    router.post('/password', async (ctx) => {
      const posted = await postedStep(ctx);
      if (!posted) return;
      const { interaction, form, state } = posted;
      if (state?.step !== 'password') return goTo(ctx, interaction, next.identify());
      const { userId } = state;
      const attempt = await withinAttemptsHeld(db, userId, interaction.policy.attackProtection, () => checkPassword(db, userId, field(form, 'password') ?? ''), (check) => check === 'wrong');
      if (!attempt.checked) return goTo(ctx, interaction, next.withError(state, LOCKED_MESSAGE(attempt.until)));
      const { result: check, lock, giveBack } = attempt;
      if (check !== 'wrong') {
        // The right password's attempt is still reserved: a sign-in that completes now clears the count
        // (kit.complete); any other next step (a second factor, the organization switcher, an error) gives it back.
        try {
          return await afterRightPassword(ctx, interaction, state, check);
        } finally {
          if (!attemptsClearedIn(ctx)) await giveBack?.();
        }
      }
      await kit.services.networkFailures.count(interaction.network);
      return goTo(ctx, interaction, next.withError(state, lock.locked ? LOCKED_MESSAGE(lock.until) : 'That password is not right. Try again.'));
    });

    /** A right password: a new one when it was temporary, the email's code when it is unverified, else the steps after the first factor. */
    async function afterRightPassword(ctx: Context, interaction: Interaction, state: PasswordState, check: 'right' | 'right_but_temporary'): Promise<void> {
      const { userId } = state;
      if (check === 'right_but_temporary') {
        await clearAttempts(ctx, userId);
        return goTo(ctx, interaction, next.newPassword(state, 'temporary'));
      }
      const user = await findUser(db, userId);
      const identity = user && identityMatching(user, state.identifierType, state.identifier);
      // Section 004: an email is verified once; a password alone does not prove the person owns it.
      if (identity?.type === 'email' && !identity.isVerified) {
        await clearAttempts(ctx, userId);
        return goTo(ctx, interaction, await sendCodeStep(interaction, { ...state, verifiedPassword: true }, 'sign_in', { channel: 'email', to: identity.value }, state));
      }
      return afterFirstFactor(ctx, interaction, { userId, connectionId: connectionOf(interaction, state), amr: ['pwd'] }, identity?.id, user);
    }

    /** Forgot password (section 012): a code to the person's email, then a new password. */
    router.post('/forgot', async (ctx) => {
      const posted = await postedStep(ctx);
      if (!posted) return;
      const { interaction, state } = posted;
      const user = state?.step === 'password' ? await findUser(db, state.userId) : undefined;
      if (state?.step !== 'password' || !user) return goTo(ctx, interaction, next.identify());
      const destination = codeDestinationOf(user, state.identifierType);
      if (!destination) return goTo(ctx, interaction, next.withError(state, 'This account has no email or phone to send a reset code to.'));
      return goTo(ctx, interaction, await sendCodeStep(interaction, state, 'reset_password', destination, state));
    });

    router.post('/new-password', async (ctx) => {
      const posted = await postedStep(ctx);
      if (!posted) return;
      const { interaction, form, state } = posted;
      if (state?.step !== 'new_password') return goTo(ctx, interaction, next.identify());
      const { userId } = state;
      const password = field(form, 'password') ?? '';
      const problem = passwordProblem(password);
      if (problem) return goTo(ctx, interaction, next.withError(state, problem));
      await setPassword(db, userId, password);
      await updateUser(db, userId, { isPasswordResetRequested: false });
      await recordAudit(db, { type: 'user.password_changed', actor: userId, subject: userId, data: { application_id: interaction.app.id, reason: state.reason } });
      const amr = state.reason === 'temporary' ? ['pwd'] : [amrFor('code', state.channel ?? 'email')];
      return afterFirstFactor(ctx, interaction, { userId, connectionId: connectionOf(interaction, state), amr });
    });
  }
}
