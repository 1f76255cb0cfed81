import type Router from '@koa/router';
import type { InteractionResults } from 'oidc-provider';
import { recordAudit } from '../../domain/audit.ts';
import { field } from '../../http/forms.ts';
import { organizationsOf } from '../../domain/organizations.ts';
import * as next from '../flow/machine.ts';
import { endFlow } from '../flow/state.ts';
import { deviceConsentFor } from './device-consent.ts';
import { type SignInKit } from '../flow/kit.ts';
import { finishInteraction } from '../flow/interaction.ts';

/** After the first factor: choosing among one's organizations, and a device's consent. */
export function organizationAndConsentSteps(router: Router, kit: SignInKit): void {
  const { postedStep, db, goTo, organizationDecided, complete } = kit;

  router.post('/organization', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'organization') return goTo(ctx, interaction, next.identify());
    const chosen = field(form, 'org_code');
    const mine = await organizationsOf(db, state.verified.userId);
    if (!chosen || !mine.some((org) => org.code === chosen)) return goTo(ctx, interaction, next.withError(state, 'Choose one of your organizations.'));
    return organizationDecided(ctx, interaction, state.verified, chosen);
  });

  /**
   * The device's consent (sections 027–028). Allow: the grant holds the OpenID scopes asked for and
   * the audience scopes the person's roles give. Deny: the device's next poll gets `access_denied`.
   */
  router.post('/consent', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'consent' || !interaction.deviceCode) return goTo(ctx, interaction, next.identify());
    const { verified } = state;
    const decision = field(form, 'decision');
    const audit = { actor: verified.userId, subject: verified.userId };
    if (decision === 'allow') {
      const consent = await deviceConsentFor(db, interaction.params, interaction.app.id, verified.userId, state.organizationCode);
      const scopes = [...consent.openIdScopes, ...consent.audiences.flatMap((audience) => audience.scopes)];
      await recordAudit(db, { type: 'device.authorized', ...audit, data: { application_id: interaction.app.id, organization_code: state.organizationCode, scopes } });
      return complete(ctx, interaction, verified, state.organizationCode, consent);
    }
    if (decision !== 'deny') return goTo(ctx, interaction, state);
    await recordAudit(db, { type: 'device.denied', ...audit, data: { application_id: interaction.app.id } });
    await endFlow(db, interaction.uid);
    const result: InteractionResults = { error: 'access_denied', error_description: 'the person did not allow the device' };
    const redirectTo = await finishInteraction(interaction, result);
    ctx.redirect(redirectTo);
    ctx.status = 303;
  });
}
