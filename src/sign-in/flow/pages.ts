import type { Context } from 'koa';
import type { Services } from '../../services.ts';
import { deviceConsentFor } from '../after/device-consent.ts';
import { pendingTotpEnrolment } from '../../domain/mfa.ts';
import { csrfToken, escapeHatch, identifyTypes, type Interaction, interactionUrl } from './interaction.ts';
import { findOrganization } from '../../domain/organizations.ts';
import { DeviceConsentPage } from '../../ui/pages/device.tsx';
import { MfaChallengePage, MfaChoosePage, RecoveryCodesPage, TotpEnrolPage } from '../../ui/pages/mfa.tsx';
import { OrganizationSwitcherPage } from '../../ui/pages/organizations.tsx';
import { CodePage, IdentifyPage, NewPasswordPage, PasswordPage, RegisterPage, RequestAccessPage } from '../../ui/pages/sign-in.tsx';
import { renderPage } from '../../ui/render.ts';
import * as next from './machine.ts';
import type { SignInState } from './state.ts';
import { enterpriseButtonsOf, socialButtonsOf, socialEmailPage } from '../connectors/social-pages.ts';

/** The page for where a person is in the sign-in (DESIGN.md §4): one state, one page. */
export async function renderStep(services: Services, ctx: Context, interaction: Interaction, state: SignInState): Promise<void> {
  const { uid, app } = interaction;
  const common = { csrf: csrfToken(services, uid), appName: app.name, error: state.error, notice: state.notice };
  const types = identifyTypes(interaction);
  switch (state.step) {
    case 'identify': {
      const registering = state.registering === true;
      return renderPage(
        ctx,
        IdentifyPage({
          ...common,
          action: interactionUrl(uid, 'identify'),
          registering,
          types,
          value: state.identifier,
          switchUrl: interactionUrl(uid, registering ? 'sign-in' : 'register'),
          showSwitch: registering ? app.showSignInLink : interaction.policy.allowSelfSignUp,
          social: socialButtonsOf(interaction),
          enterprise: enterpriseButtonsOf(interaction),
        }),
      );
    }
    case 'register': {
      const type = state.identifierType;
      return renderPage(
        ctx,
        RegisterPage({
          ...common,
          action: interactionUrl(uid, 'register'),
          identifierType: type,
          identifier: state.identifier,
          askForNames: app.askForNames,
          askForEmail: type === 'username',
          askForPassword: interaction.methods[type]?.verification === 'password',
          askMarketingConsent: app.askMarketingConsent,
          firstName: state.firstName,
          lastName: state.lastName,
          email: state.email,
          changeUrl: interactionUrl(uid, 'register'),
          signInUrl: app.showSignInLink ? interactionUrl(uid, 'sign-in') : undefined,
        }),
      );
    }
    case 'password':
      return renderPage(
        ctx,
        PasswordPage({
          ...common,
          action: interactionUrl(uid, 'password'),
          identifier: state.identifier ?? '',
          identifierType: state.identifierType,
          forgotUrl: interactionUrl(uid, 'forgot'),
          changeUrl: interactionUrl(uid, 'sign-in'),
        }),
      );
    case 'code':
      return renderPage(
        ctx,
        CodePage({
          ...common,
          action: interactionUrl(uid, 'code'),
          channel: state.channel,
          destination: state.destination,
          resendUrl: interactionUrl(uid, 'resend'),
          changeUrl: interactionUrl(uid, state.registering ? 'register' : 'sign-in'),
        }),
      );
    case 'mfa_choose':
      return renderPage(ctx, MfaChoosePage({ ...common, action: interactionUrl(uid, 'mfa/choose'), factors: state.factors, skippable: state.skippable }));
    case 'mfa_totp': {
      const enrolment = await pendingTotpEnrolment(services.db, services.masterKey, state.factorId, services.businessName(interaction.policy));
      if (!enrolment) return renderStep(services, ctx, interaction, next.withError(next.mfaChoose(state, state), 'Start setting up the authenticator app again.'));
      return renderPage(ctx, TotpEnrolPage({ ...common, action: interactionUrl(uid, 'mfa/totp'), qrCodeDataUrl: enrolment.qrCodeDataUrl, secret: enrolment.secret }));
    }
    case 'mfa_challenge':
      return renderPage(
        ctx,
        MfaChallengePage({
          ...common,
          action: interactionUrl(uid, 'mfa/verify'),
          switchAction: interactionUrl(uid, 'mfa/switch'),
          factor: state.using,
          destination: state.destination,
          others: state.enrolling || state.using === 'recovery' ? [] : [{ value: 'recovery', label: 'Use a recovery code' }],
        }),
      );
    case 'mfa_done':
      return renderPage(ctx, RecoveryCodesPage({ ...common, action: interactionUrl(uid, 'mfa/done'), codes: [] }));
    case 'organization':
      return renderPage(ctx, OrganizationSwitcherPage({ csrf: common.csrf, appName: app.name, action: interactionUrl(uid, 'organization'), organizations: state.organizations ?? [] }));
    case 'new_password':
      return renderPage(ctx, NewPasswordPage({ ...common, action: interactionUrl(uid, 'new-password'), identifier: state.identifier, reason: state.reason }));
    case 'social_redirect':
    case 'enterprise_redirect':
      // Back from the provider without its answer (the back button): the first page again.
      return renderStep(services, ctx, interaction, next.identify(state));
    case 'social_email':
      return renderPage(ctx, socialEmailPage(interaction, common, state));
    case 'request_access': {
      const known = state.userId !== undefined;
      const organization = state.requestedOrganization ? await findOrganization(services.db, state.requestedOrganization) : undefined;
      return renderPage(
        ctx,
        RequestAccessPage({
          ...common,
          action: interactionUrl(uid, 'request-access'),
          known,
          organizationName: organization?.name,
          email: state.email,
          emailProven: state.emailProven === true,
          firstName: state.firstName,
          lastName: state.lastName,
          // Someone already signed in goes back to the application; a stranger may try another email.
          backUrl: known ? escapeHatch(app) : interactionUrl(uid, 'sign-in'),
          backLabel: known ? `Return to ${app.name}` : 'Back to sign-in',
        }),
      );
    }
    case 'consent': {
      const consent = await deviceConsentFor(services.db, interaction.params, app.id, state.verified.userId, state.organizationCode);
      return renderPage(
        ctx,
        DeviceConsentPage({
          csrf: common.csrf,
          action: interactionUrl(uid, 'consent'),
          appName: app.name,
          userCode: await userCodeOf(services, interaction),
          scopes: consent.openIdScopes,
          audiences: consent.audiences,
        }),
      );
    }
  }
}

/** The code the device shows, for the person to compare (RFC 8628 §5.4). */
async function userCodeOf(services: Services, interaction: Interaction): Promise<string> {
  const code = interaction.deviceCode ? await services.provider().DeviceCode.find(interaction.deviceCode, { ignoreExpiration: true }) : undefined;
  return code?.userCode ?? '';
}
