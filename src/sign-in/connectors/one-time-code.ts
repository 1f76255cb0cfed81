import type Router from '@koa/router';
import { clock } from '../../clock.ts';
import { clearFailedAttempts, withinAttempts } from '../../domain/attack-protection.ts';
import { recordAudit } from '../../domain/audit.ts';
import type { CodeCheck } from '../../domain/one-time-codes.ts';
import { DomainError } from '../../domain/errors.ts';
import { userData } from '../../domain/events/payloads.ts';
import { createUser, findUser, markIdentityVerified, type NewIdentity, type User } from '../../domain/users.ts';
import { inTransaction } from '../../store/db.ts';
import type { Interaction } from '../flow/interaction.ts';
import type { SignInState, Typed } from '../flow/state.ts';
import type { IdentityConnector } from './connector.ts';
import { field } from '../../http/forms.ts';
import { amrFor } from './registry.ts';
import * as next from '../flow/machine.ts';
import { finishSocialLink } from './social.ts';
import { finishEnterpriseLink } from './enterprise.ts';
import { fileAccessRequestAfterCode } from '../flow/access-request.ts';
import { CODES_LOCKED_MESSAGE, codeSubject, identityMatching, RESEND_COOL_DOWN_MS, type SignInKit } from '../flow/kit.ts';

const isGuessThatFailed = (check: CodeCheck) => check === 'wrong' || check === 'too_many_attempts';

/** One-time codes by email or SMS: checking one, and sending another (sections 013–016). */
export function oneTimeCodeConnector(kit: SignInKit): IdentityConnector {
  const { postedStep, services, db, goTo, afterFirstFactor, sendCodeStep, sendCodeToPerson } = kit;

  /** A code to the person's email, else their phone (a username has an email). */
  async function begin(interaction: Interaction, user: User, typed: Typed): Promise<SignInState> {
    return sendCodeToPerson(interaction, user, typed, 'sign_in', 'This account has no email or phone to send a code to.');
  }

  return { kind: 'identity', begin, routes: (router) => routes(router) };

  function routes(router: Router): void {
    router.post('/resend', async (ctx) => {
      const posted = await postedStep(ctx);
      if (!posted) return;
      const { interaction, state } = posted;
      if (state?.step !== 'code') return goTo(ctx, interaction, next.identify());
      const waitMs = state.sentAt + RESEND_COOL_DOWN_MS - clock.now();
      if (waitMs > 0) return goTo(ctx, interaction, next.withError(state, `Wait ${Math.ceil(waitMs / 1000)} seconds before asking for another code.`));
      const resent = await sendCodeStep(interaction, state, state.purpose, { channel: state.channel, to: state.destination }, state);
      return goTo(ctx, interaction, resent.error ? resent : next.withNotice(resent, 'We sent a new code. Use the newest one.'));
    });

    router.post('/code', async (ctx) => {
      const posted = await postedStep(ctx);
      if (!posted) return;
      const { interaction, form, state } = posted;
      if (state?.step !== 'code') return goTo(ctx, interaction, next.identify());
      // Wrong codes count against the account (or the identity being verified) across flows, not just
      // this code's own 5 tries: fresh flows would otherwise give a guesser fresh tries without end.
      const subject = codeSubject(state.userId, { channel: state.channel, to: state.destination });
      const attempt = await withinAttempts(db, subject, interaction.policy.attackProtection, () => services.codes.check(state.challengeId, state.purpose, field(form, 'code') ?? ''), isGuessThatFailed);
      if (!attempt.checked) return goTo(ctx, interaction, next.withError(state, CODES_LOCKED_MESSAGE(attempt.until)));
      const { result: outcome, lock } = attempt;
      if (isGuessThatFailed(outcome)) await services.networkFailures.count(interaction.network);
      if (lock.locked) return goTo(ctx, interaction, next.withError(state, CODES_LOCKED_MESSAGE(lock.until)));
      if (outcome === 'accepted' && !state.userId) await clearFailedAttempts(db, subject);
      if (outcome === 'wrong') return goTo(ctx, interaction, next.withError(state, 'That code is not right. Check the message and try again.'));
      if (outcome !== 'accepted') {
        const error = outcome === 'expired' ? 'That code has expired. Start again to get a new one.' : 'Too many wrong codes. Start again to get a new one.';
        return goTo(ctx, interaction, next.identify(state, error));
      }
      // The code proved the email a social sign-in links to or creates an account with.
      if (state.socialProfile) return finishSocialLink(kit, ctx, interaction, { ...state, socialProfile: state.socialProfile });
      // The code proved the email an access request is filed for.
      if (state.accessRequest) return fileAccessRequestAfterCode(kit, ctx, interaction, { ...state, accessRequest: state.accessRequest });
      // The code proved the email an untrusted enterprise IdP's identity links by.
      if (state.enterpriseProfile && state.userId) return finishEnterpriseLink(kit, ctx, interaction, { ...state, userId: state.userId, enterpriseProfile: state.enterpriseProfile });
      const amr = [amrFor('code', state.channel)];
      const connectionId = interaction.methods[state.identifierType]?.connectionId;

      // Only a sign-up's code may create a person; a reset's or a sign-in's always has one.
      if (state.purpose !== 'sign_up' && !state.userId) return goTo(ctx, interaction, next.identify(state));
      if (state.purpose === 'reset_password') return goTo(ctx, interaction, next.newPassword({ ...state, userId: state.userId! }, 'reset'));

      if (state.userId) {
        // The code proved the identity it was sent to.
        const user = await findUser(db, state.userId);
        const identity = user && (identityMatching(user, state.channel === 'sms' ? 'phone' : 'email', state.destination) ?? identityMatching(user, state.identifierType, state.identifier));
        if (identity && !identity.isVerified) await markIdentityVerified(db, identity.id);
        return afterFirstFactor(ctx, interaction, { userId: state.userId, connectionId, amr: state.verifiedPassword ? ['pwd', ...amr] : amr }, identity?.id);
      }

      // The gate before the account is written (the organization or the settings may have changed
      // since the identify page): a refusal now leaves nothing half made. The code proved the email.
      const provenEmail = state.email ?? (state.identifierType === 'email' ? state.identifier : undefined);
      const newcomer = { email: provenEmail, emailProven: provenEmail !== undefined, firstName: state.firstName, lastName: state.lastName };
      if (await kit.refuseNewcomer(ctx, interaction, newcomer, provenEmail)) return;
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
        return goTo(ctx, interaction, next.identify({ registering: true }, taken));
      }
      return afterFirstFactor(ctx, interaction, { userId: user.id, connectionId, amr: state.pendingPasswordHash ? ['pwd', ...amr] : amr }, user.identities[0]?.id);
    });
  }
}
