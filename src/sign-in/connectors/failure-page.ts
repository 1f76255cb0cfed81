import type { Context } from 'koa';
import { recordAudit } from '../../domain/audit.ts';
import type { SocialSignInFailure } from '../../domain/social/upstream.ts';
import type { Services } from '../../services.ts';
import { MessagePage } from '../../ui/pages/message.tsx';
import { renderPage } from '../../ui/render.ts';
import { interactionUrl } from '../flow/interaction.ts';

/** What a person sees when someone else's sign-in (a social provider, an enterprise IdP) failed. */
export interface FailurePage {
  status: number;
  title: string;
  message: (provider: string) => string;
}

/** The OAuth 2.0 / OpenID Connect round trip's failures: social providers, Entra ID and custom OIDC alike. */
export const UPSTREAM_FAILURE_PAGES: Record<SocialSignInFailure, FailurePage> = {
  access_denied: { status: 400, title: 'Sign-in was cancelled', message: (p) => `You did not allow ${p} to sign you in. You can try again, or choose another way to sign in.` },
  bad_state: {
    status: 400,
    title: 'This sign-in could not be finished',
    message: (p) => `The answer from ${p} does not belong to this sign-in: it may be old, or from another tab. Start signing in again.`,
  },
  provider_error: { status: 502, title: 'We could not reach your provider', message: (p) => `${p} did not answer as expected. Try again in a moment, or choose another way to sign in.` },
  invalid_id_token: { status: 400, title: 'We could not verify this sign-in', message: (p) => `The proof of sign-in from ${p} did not pass our checks. Start signing in again.` },
  misconfigured: { status: 503, title: 'This sign-in option is not set up correctly', message: (p) => `Signing in with ${p} cannot work yet. Ask the application's administrator, or choose another way to sign in.` },
  wrong_tenant: {
    status: 403,
    title: 'This organization cannot sign in here',
    message: (p) => `Your ${p} account belongs to an organization this sign-in does not accept. Sign in with your work account for this application, or ask its administrator.`,
  },
};

const sentence = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

export interface FailureWhere {
  uid: string | undefined;
  applicationId?: string | undefined;
  connectionId?: string | undefined;
}

/**
 * A friendly page with a way back to the start of sign-in, and an audit event naming the failure
 * (its kind and, for OAuth, openid-client's code: never the provider's answer, which may hold tokens
 * or a person's attributes). A callback that matches no sign-in at all is only logged (`audit:
 * false`): anyone can send one, and the audit log is for what happened to real sign-ins.
 */
export async function showFailurePage(
  ctx: Context,
  services: Services,
  failure: { auditType: string; kind: string; upstreamCode?: string | undefined; page: FailurePage; providerName: string },
  where: FailureWhere,
  options: { audit: boolean } = { audit: true },
): Promise<void> {
  if (options.audit) {
    await recordAudit(services.db, {
      type: failure.auditType,
      data: { failure: failure.kind, upstream_code: failure.upstreamCode ?? null, connection_id: where.connectionId ?? null, application_id: where.applicationId ?? null },
    });
  }
  services.logger.warn({ failure: failure.kind, upstreamCode: failure.upstreamCode, connectionId: where.connectionId }, `${failure.auditType.replace(/^user\./, '').replace(/_/g, ' ')}`);
  ctx.status = failure.page.status;
  renderPage(
    ctx,
    MessagePage({
      title: failure.page.title,
      message: sentence(failure.page.message(failure.providerName)),
      backUrl: where.uid ? interactionUrl(where.uid, 'sign-in') : null,
      backLabel: 'Back to sign-in',
    }),
  );
}
