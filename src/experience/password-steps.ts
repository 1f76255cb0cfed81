import type Router from '@koa/router';
import { clearFailedAttempts, withinAttempts } from '../domain/attack-protection.ts';
import { recordAudit } from '../domain/audit.ts';
import { checkPassword, passwordProblem, setPassword } from '../domain/passwords.ts';
import { findUser, updateUser } from '../domain/users.ts';
import { field } from '../http/forms.ts';
import { amrFor } from './methods.ts';
import type { Interaction } from './interaction.ts';
import type { SignInState } from './sign-in-flow.ts';
import { identityMatching, LOCKED_MESSAGE, type SignInKit } from './sign-in-kit.ts';

/** The connection the person is signing in with: the application's method for the kind of identity they typed. */
const connectionOf = (interaction: Interaction, state: SignInState) => (state.identifierType ? interaction.methods[state.identifierType]?.connectionId : undefined);

/** Passwords: the password page, forgot password, and choosing a new one (sections 010–012). */
export function passwordSteps(router: Router, kit: SignInKit): void {
  const { postedStep, db, goTo, afterFirstFactor, codeDestinationOf, sendCodeStep } = kit;

  router.post('/password', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'password' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const attempt = await withinAttempts(db, state.userId, interaction.policy.attackProtection, () => checkPassword(db, state.userId!, field(form, 'password') ?? ''), (check) => check === 'wrong');
    if (!attempt.checked) return goTo(ctx, interaction, { ...state, error: LOCKED_MESSAGE(attempt.until), notice: undefined });
    const { result: check, lock } = attempt;
    if (check !== 'wrong') {
      if (check === 'right_but_temporary') {
        await clearFailedAttempts(db, state.userId);
        return goTo(ctx, interaction, { ...state, step: 'new_password', newPasswordReason: 'temporary', error: undefined });
      }
      const user = await findUser(db, state.userId);
      const identity = user && identityMatching(user, state.identifierType, state.identifier);
      // Section 004: an email is verified once; a password alone does not prove the person owns it.
      if (identity?.type === 'email' && !identity.isVerified) {
        await clearFailedAttempts(db, state.userId);
        return goTo(ctx, interaction, await sendCodeStep(interaction, { ...state, verifiedPassword: true }, 'sign_in', { channel: 'email', to: identity.value }));
      }
      return afterFirstFactor(ctx, interaction, { userId: state.userId, connectionId: connectionOf(interaction, state), amr: ['pwd'] }, identity?.id, user);
    }
    await kit.services.networkFailures.count(interaction.network);
    return goTo(ctx, interaction, { ...state, error: lock.locked ? LOCKED_MESSAGE(lock.until) : 'That password is not right. Try again.', notice: undefined });
  });

  /** Forgot password (section 012): a code to the person's email, then a new password. */
  router.post('/forgot', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, state } = posted;
    const user = state?.userId ? await findUser(db, state.userId) : undefined;
    if (!state || !user) return goTo(ctx, interaction, { step: 'identify' });
    const destination = codeDestinationOf(user, state.identifierType ?? 'email');
    if (!destination) return goTo(ctx, interaction, { ...state, error: 'This account has no email or phone to send a reset code to.' });
    return goTo(ctx, interaction, await sendCodeStep(interaction, { ...state, error: undefined }, 'reset_password', destination));
  });

  router.post('/new-password', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'new_password' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const password = field(form, 'password') ?? '';
    const problem = passwordProblem(password);
    if (problem) return goTo(ctx, interaction, { ...state, error: problem });
    await setPassword(db, state.userId, password);
    await updateUser(db, state.userId, { isPasswordResetRequested: false });
    await recordAudit(db, { type: 'user.password_changed', actor: state.userId, subject: state.userId, data: { application_id: interaction.app.id, reason: state.newPasswordReason } });
    const amr = state.newPasswordReason === 'temporary' ? ['pwd'] : [amrFor('code', state.codeChannel ?? 'email')];
    return afterFirstFactor(ctx, interaction, { userId: state.userId, connectionId: connectionOf(interaction, state), amr });
  });
}
