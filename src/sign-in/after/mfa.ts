import type Router from '@koa/router';
import type { Context } from 'koa';
import { recordAudit } from '../../domain/audit.ts';
import {
  codeFactorDestination,
  confirmCodeEnrolment,
  confirmTotpEnrolment,
  enrolCodeFactor,
  type MfaFactor,
  startTotpEnrolment,
  useRecoveryCode,
  verifyCodeFactor,
  verifyTotp,
} from '../../domain/mfa.ts';
import { lockStatus } from '../../domain/attack-protection.ts';
import type { CodePurpose } from '../../domain/one-time-codes.ts';
import { findUser, primaryIdentity } from '../../domain/users.ts';
import { field } from '../../http/forms.ts';
import type { Services } from '../../services.ts';
import { csrfToken, type Interaction, interactionUrl, loadFormPost } from '../flow/interaction.ts';
import { RecoveryCodesPage } from '../../ui/pages/mfa.tsx';
import { renderPage } from '../../ui/render.ts';
import * as next from '../flow/machine.ts';
import { loadFlow, type MfaChallengeState, type OrganizationKnown, saveFlow, type SignInState, type Verified } from '../flow/state.ts';

/** What the two-step verification steps borrow from the rest of the sign-in state machine. */
export interface MfaKit {
  services: Services;
  goTo(ctx: Context, interaction: Interaction, state: SignInState): Promise<void>;
  afterSecondStep(ctx: Context, interaction: Interaction, verified: Verified, organizationCode: string): Promise<void>;
  deliverCode(interaction: Interaction, userId: string | undefined, purpose: CodePurpose, destination: { channel: 'email' | 'sms'; to: string }): Promise<{ challengeId: string } | { error: string }>;
  lockedMessage(until: number): string;
}

/**
 * Step 7 of the sign-in (DESIGN.md §4, sections 052–054): enrol a factor (or skip when optional), or
 * prove one with its code or a recovery code.
 */
export function mfaSteps(kit: MfaKit) {
  const { services } = kit;
  const { db } = services;

  /** A challenge with a proven factor: an authenticator code, or a code sent by email or SMS now. */
  async function startChallenge(interaction: Interaction, known: OrganizationKnown, factor: MfaFactor): Promise<MfaChallengeState> {
    const challenge = next.mfaChallenge(known, { using: factor.type, factorId: factor.id, enrolling: false });
    if (factor.type === 'totp') return challenge;
    return sendCode(interaction, challenge, codeFactorDestination(factor));
  }

  async function sendCode(interaction: Interaction, state: MfaChallengeState, destination: { channel: 'email' | 'sms'; to: string }): Promise<MfaChallengeState> {
    const sent = await kit.deliverCode(interaction, state.verified.userId, 'mfa', destination);
    return 'error' in sent ? next.withError(state, sent.error) : { ...state, challengeId: sent.challengeId, destination: destination.to };
  }

  /** The flow state of a two-step verification form post, or a way back to the start. */
  async function mfaState(ctx: Context) {
    const post = await loadFormPost(ctx, services);
    if (!post) return undefined;
    const state = await loadFlow(db, post.interaction.uid);
    if (!state || !('organizationCode' in state)) {
      await kit.goTo(ctx, post.interaction, next.identify());
      return undefined;
    }
    const { verified, organizationCode } = state;
    return { ...post, state: next.withoutMessages(state), verified, userId: verified.userId, organizationCode };
  }

  const mfaDone = (verified: Verified): Verified => ({ ...verified, amr: [...verified.amr.filter((value) => value !== 'mfa'), 'mfa'] });

  /** After the first factor is proven: the recovery codes, once, on this response only (never stored in the flow). */
  async function showRecoveryCodes(ctx: Context, interaction: Interaction, state: OrganizationKnown, codes: string[]): Promise<void> {
    await saveFlow(db, interaction.uid, next.mfaDone({ ...state, verified: mfaDone(state.verified) }));
    renderPage(ctx, RecoveryCodesPage({ csrf: csrfToken(services, interaction.uid), action: interactionUrl(interaction.uid, 'mfa/done'), codes }));
  }

  function routes(router: Router): void {
    router.post('/mfa/choose', async (ctx) => {
      const step = await mfaState(ctx);
      if (!step) return;
      const { interaction, form, state, userId } = step;
      const choice = field(form, 'factor');
      if (state.step !== 'mfa_choose') return kit.goTo(ctx, interaction, state);
      if (choice === 'skip' && state.skippable) return kit.afterSecondStep(ctx, interaction, step.verified, step.organizationCode);
      if ((choice !== 'totp' && choice !== 'email' && choice !== 'sms') || !state.factors.includes(choice)) return kit.goTo(ctx, interaction, next.withError(state, 'Choose one of the options.'));
      if (choice === 'totp') {
        const enrolment = await startTotpEnrolment(db, services.masterKey, userId, services.businessName(interaction.policy));
        return kit.goTo(ctx, interaction, next.mfaTotp(state, enrolment.factorId));
      }
      const user = await findUser(db, userId);
      const destination = user && primaryIdentity(user, choice === 'email' ? 'email' : 'phone');
      if (!destination) return kit.goTo(ctx, interaction, next.withError(state, choice === 'email' ? 'This account has no email address for codes.' : 'This account has no phone number for codes.'));
      const factor = await enrolCodeFactor(db, userId, choice, destination.value);
      const challenge = next.mfaChallenge(state, { using: choice, factorId: factor.id, enrolling: true, choice: { factors: state.factors, skippable: state.skippable } });
      return kit.goTo(ctx, interaction, await sendCode(interaction, challenge, codeFactorDestination(factor)));
    });

    router.post('/mfa/totp', async (ctx) => {
      const step = await mfaState(ctx);
      if (!step) return;
      const { interaction, form, state } = step;
      if (state.step !== 'mfa_totp') return kit.goTo(ctx, interaction, state);
      const result = await confirmTotpEnrolment(db, services.masterKey, state.factorId, field(form, 'code') ?? '');
      if (!result.verified) return kit.goTo(ctx, interaction, next.withError(state, 'That code is not right. Check the time on your device and try the newest code.'));
      await recordAudit(db, { type: 'user.mfa_enrolled', actor: step.userId, subject: step.userId, data: { factor: 'totp' } });
      if (result.recoveryCodes) return showRecoveryCodes(ctx, interaction, state, result.recoveryCodes);
      return kit.afterSecondStep(ctx, interaction, mfaDone(step.verified), step.organizationCode);
    });

    router.post('/mfa/verify', async (ctx) => {
      const step = await mfaState(ctx);
      if (!step) return;
      const { interaction, form, state, userId } = step;
      if (state.step !== 'mfa_challenge') return kit.goTo(ctx, interaction, state);
      const code = (field(form, 'code') ?? '').trim();
      let outcome: 'accepted' | 'wrong' | 'replayed' | 'expired' | 'locked';
      let recoveryCodes: string[] | undefined;
      if (state.using === 'recovery') outcome = await useRecoveryCode(db, services.masterKey, userId, code);
      else if (state.using === 'totp') outcome = await verifyTotp(db, services.masterKey, userId, code);
      else if (state.enrolling && state.factorId && state.challengeId) {
        const result = await confirmCodeEnrolment(db, services.masterKey, services.codes, state.factorId, state.challengeId, code);
        outcome = result.verified ? 'accepted' : result.reason;
        recoveryCodes = result.verified ? result.recoveryCodes : undefined;
      } else if (state.factorId && state.challengeId) outcome = await verifyCodeFactor(db, services.codes, state.factorId, state.challengeId, code);
      else outcome = 'expired';

      if (outcome === 'wrong' || outcome === 'locked') await services.networkFailures.count(interaction.network);
      if (outcome === 'locked') {
        const lock = await lockStatus(db, userId);
        return kit.goTo(ctx, interaction, next.withError(state, lock.locked ? kit.lockedMessage(lock.until) : 'Too many wrong attempts. Try again later.'));
      }
      if (outcome === 'expired') return kit.goTo(ctx, interaction, next.withError(state, 'That code has expired. Start again to get a new one.'));
      if (outcome !== 'accepted') return kit.goTo(ctx, interaction, next.withError(state, outcome === 'replayed' ? 'That code was already used. Wait for the next one.' : 'That code is not right. Try again.'));
      if (state.enrolling) await recordAudit(db, { type: 'user.mfa_enrolled', actor: userId, subject: userId, data: { factor: state.using } });
      if (recoveryCodes) return showRecoveryCodes(ctx, interaction, state, recoveryCodes);
      return kit.afterSecondStep(ctx, interaction, mfaDone(step.verified), step.organizationCode);
    });

    router.post('/mfa/switch', async (ctx) => {
      const step = await mfaState(ctx);
      if (!step) return;
      const { interaction, form, state } = step;
      if (field(form, 'use') === 'recovery' && state.step === 'mfa_challenge' && !state.enrolling) {
        return kit.goTo(ctx, interaction, next.mfaChallenge(state, { using: 'recovery', enrolling: false }));
      }
      return kit.goTo(ctx, interaction, state);
    });

    router.post('/mfa/done', async (ctx) => {
      const step = await mfaState(ctx);
      if (!step) return;
      if (step.state.step !== 'mfa_done') return kit.goTo(ctx, step.interaction, step.state);
      return kit.afterSecondStep(ctx, step.interaction, step.verified, step.organizationCode);
    });

  }

  return {
    startChallenge,
    register: routes,
  };
}
