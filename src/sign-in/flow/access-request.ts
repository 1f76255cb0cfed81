import type Router from '@koa/router';
import type { Context } from 'koa';
import { utcClockTime } from '../../clock.ts';
import { type AccessRequest, fileAccessRequest } from '../../domain/access-requests.ts';
import { findOrganization, isMember } from '../../domain/organizations.ts';
import { findUserByIdentity } from '../../domain/users.ts';
import { field } from '../../http/forms.ts';
import { MessagePage } from '../../ui/pages/message.tsx';
import { renderPage } from '../../ui/render.ts';
import { emailProblem } from './identifiers.ts';
import { escapeHatch, type Interaction, interactionUrl } from './interaction.ts';
import type { SignInKit } from './kit.ts';
import * as next from './machine.ts';
import { type AccessRequestAsked, type CodeState, endFlow } from './state.ts';

/**
 * The request-access step (domain/access-requests.ts): a stranger's email is proven by a code before
 * anything is filed; a person this sign-in already proved, or an email a trusted provider vouched
 * for, files at once.
 */
export function accessRequestSteps(router: Router, kit: SignInKit): void {
  const { postedStep, goTo, sendCodeStep } = kit;

  router.post('/request-access', async (ctx) => {
    const posted = await postedStep(ctx);
    if (!posted) return;
    const { interaction, form, state } = posted;
    if (state?.step !== 'request_access') return goTo(ctx, interaction, next.identify());
    const { requestedOrganization, providerIdentity } = state;
    if (state.userId !== undefined) {
      return fileAndConfirm(kit, ctx, interaction, { email: state.email ?? '', firstName: state.firstName, lastName: state.lastName, userId: state.userId, requestedOrganization });
    }
    // A proven email (a trusted provider's, or a code's) is kept as it is: only the names may change.
    const email = state.emailProven && state.email ? state.email : (field(form, 'email') ?? '').trim();
    const firstName = field(form, 'given_name')?.trim() || undefined;
    const lastName = field(form, 'family_name')?.trim() || undefined;
    const retry = (error: string) => goTo(ctx, interaction, next.withError({ ...state, email, firstName, lastName }, error));
    const problem = emailProblem(email) ?? namesProblem(firstName, lastName);
    if (problem) return retry(problem);
    if (state.emailProven) return fileForProvenEmail(kit, ctx, interaction, { email, firstName, lastName, requestedOrganization, providerIdentity });
    const details = next.withoutMessages({ ...state, email, firstName, lastName });
    const origin = { identifierType: 'email' as const, identifier: email, firstName, lastName, accessRequest: { requestedOrganization, providerIdentity } };
    return goTo(ctx, interaction, await sendCodeStep(interaction, origin, 'sign_up', { channel: 'email', to: email }, details));
  });
}

function namesProblem(firstName: string | undefined, lastName: string | undefined): string | undefined {
  if (!firstName || !lastName) return 'Enter your first and last name';
  if (firstName.length > 100 || lastName.length > 100) return 'Names can be at most 100 characters';
  return undefined;
}

/**
 * The code proved the email: the request is filed for it (with the account it belongs to, if any).
 * Someone who already has access needs no request: they are sent to sign in instead.
 */
export async function fileAccessRequestAfterCode(kit: SignInKit, ctx: Context, interaction: Interaction, state: CodeState & { accessRequest: AccessRequestAsked }): Promise<void> {
  return fileForProvenEmail(kit, ctx, interaction, { ...state.accessRequest, email: state.destination, firstName: state.firstName, lastName: state.lastName });
}

/** The email is the person's (a code or a trusted provider proved it): file for it, unless they can already sign in. */
async function fileForProvenEmail(kit: SignInKit, ctx: Context, interaction: Interaction, proven: Omit<ProvenRequest, 'userId'>): Promise<void> {
  const existing = await findUserByIdentity(kit.db, 'email', proven.email);
  if (existing && (!proven.requestedOrganization || (await isMember(kit.db, proven.requestedOrganization, existing.id)))) {
    return kit.goTo(ctx, interaction, next.withNotice(next.identify({ identifier: proven.email }), 'You already have an account with this email: sign in with it.'));
  }
  return fileAndConfirm(kit, ctx, interaction, { ...proven, userId: existing?.id });
}

interface ProvenRequest extends AccessRequestAsked {
  email: string;
  firstName: string | undefined;
  lastName: string | undefined;
  userId: string | undefined;
}

async function fileAndConfirm(kit: SignInKit, ctx: Context, interaction: Interaction, proven: ProvenRequest): Promise<void> {
  const { request, created } = await fileAccessRequest(kit.db, {
    email: proven.email,
    firstName: proven.firstName,
    lastName: proven.lastName,
    userId: proven.userId,
    organizationCode: proven.requestedOrganization,
    applicationId: interaction.app.id,
    providerIdentity: proven.providerIdentity,
  });
  await endFlow(kit.db, interaction.uid);
  const organization = request.organizationCode ? await findOrganization(kit.db, request.organizationCode) : undefined;
  renderPage(
    ctx,
    MessagePage({
      title: created ? 'Request sent' : 'Your request is waiting',
      message: confirmation(request, created, organization?.name ?? interaction.app.name),
      backUrl: escapeHatch(interaction.app) ?? interactionUrl(interaction.uid, 'sign-in'),
      backLabel: `Return to ${interaction.app.name}`,
    }),
  );
}

function confirmation(request: AccessRequest, created: boolean, where: string): string {
  const then = request.email ? `Once they approve it, sign in with ${request.email}.` : 'Once they approve it, sign in as usual.';
  if (created) return `We sent your request to the administrators of ${where}. ${then}`;
  return `You already asked for access to ${where} (at ${utcClockTime(request.createdAt)} UTC); an administrator has not decided yet. ${then}`;
}
