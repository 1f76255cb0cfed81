import Router from '@koa/router';
import type { Context } from 'koa';
import type { InteractionResults } from 'oidc-provider';
import { hmacHex, safeEqual } from '../crypto/secrets.ts';
import { recordAudit } from '../domain/audit.ts';
import { type Application, findApplication } from '../domain/applications.ts';
import { applicationConnections } from '../domain/connections.ts';
import { sendCode } from '../domain/messaging/codes.ts';
import { hashPassword, passwordProblem, verifyPassword } from '../domain/passwords.ts';
import { createUser, findUserByIdentity, markIdentityVerified, primaryIdentity, recordSignIn } from '../domain/users.ts';
import { field, type FormParams, readForm } from '../http/forms.ts';
import type { Services } from '../services.ts';
import { MessagePage } from './pages/message.tsx';
import { CodePage, IdentifyPage, PasswordPage, RegisterPage } from './pages/sign-in.tsx';
import { renderPage } from './render.ts';
import { endFlow, loadFlow, saveFlow, type SignInState } from './sign-in-flow.ts';

type EmailMethod = 'password' | 'code';

interface Interaction {
  uid: string;
  app: Application;
  method: EmailMethod | undefined;
  params: Record<string, unknown>;
}

const EMAIL_FORMAT = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

/** Which email method an application offers (section 015: one of the two, never both). */
async function emailMethodFor(services: Services, applicationId: string): Promise<EmailMethod | undefined> {
  const strategies = (await applicationConnections(services.db, applicationId)).map((c) => c.strategy);
  if (strategies.includes('email:password')) return 'password';
  if (strategies.includes('email:otp')) return 'code';
  return undefined;
}

export function signInRoutes(services: Services): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const { db } = services;

  const csrfToken = (uid: string) => hmacHex(services.csrfKey, `csrf:${uid}`).slice(0, 40);
  const url = (uid: string, action = '') => `/interaction/${uid}${action ? `/${action}` : ''}`;

  function expiredPage(ctx: Context): void {
    ctx.status = 400;
    renderPage(
      ctx,
      MessagePage({
        title: 'This sign-in has expired',
        message: 'Sign-in links last an hour and work in the browser that opened them. Go back to the application and start again.',
      }),
    );
  }

  async function loadInteraction(ctx: Context): Promise<Interaction | undefined> {
    let details;
    try {
      details = await services.provider().interactionDetails(ctx.req, ctx.res);
    } catch {
      expiredPage(ctx);
      return undefined;
    }
    if (details.uid !== ctx.params.uid) {
      expiredPage(ctx);
      return undefined;
    }
    const app = await findApplication(db, String(details.params.client_id));
    if (!app) {
      expiredPage(ctx);
      return undefined;
    }
    return { uid: details.uid, app, method: await emailMethodFor(services, app.id), params: details.params };
  }

  function initialState(interaction: Interaction): SignInState {
    const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint.trim() : undefined;
    const email = hint && EMAIL_FORMAT.test(hint) ? hint : undefined;
    return { step: interaction.params.start_page === 'registration' ? 'register' : 'identify', email };
  }

  function render(ctx: Context, interaction: Interaction, state: SignInState): void {
    const common = { csrf: csrfToken(interaction.uid), appName: interaction.app.name, error: state.error, notice: state.notice, restartUrl: url(interaction.uid, 'restart') };
    switch (state.step) {
      case 'identify':
        return renderPage(ctx, IdentifyPage({ ...common, action: url(interaction.uid, 'identify'), email: state.email, registerUrl: url(interaction.uid, 'register') }));
      case 'register':
        return renderPage(
          ctx,
          RegisterPage({
            ...common,
            action: url(interaction.uid, 'register'),
            email: state.email,
            firstName: state.firstName,
            lastName: state.lastName,
            askForNames: interaction.app.askForNames,
            askForPassword: interaction.method === 'password',
            signInUrl: url(interaction.uid, 'restart'),
          }),
        );
      case 'password':
        return renderPage(ctx, PasswordPage({ ...common, action: url(interaction.uid, 'password'), email: state.email ?? '' }));
      case 'code':
        return renderPage(ctx, CodePage({ ...common, action: url(interaction.uid, 'code'), email: state.email ?? '' }));
    }
  }

  /** Saves the next state and answers with a redirect to the page (POST → 303 → GET). */
  async function goTo(ctx: Context, interaction: Interaction, state: SignInState): Promise<void> {
    await saveFlow(db, interaction.uid, state);
    ctx.redirect(url(interaction.uid));
    ctx.status = 303;
  }

  async function finish(ctx: Context, interaction: Interaction, userId: string, amr: string[]): Promise<void> {
    await recordSignIn(db, userId, undefined);
    await recordAudit(db, { type: 'user.authenticated', actor: userId, subject: userId, data: { application_id: interaction.app.id, amr } });
    await endFlow(db, interaction.uid);
    const result: InteractionResults = { login: { accountId: userId, amr, remember: true } };
    const redirectTo = await services.provider().interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(redirectTo);
    ctx.status = 303;
  }

  /** Sends a code; a failed send is said plainly on the page and audited, never dropped silently. */
  async function issueCode(interaction: Interaction, state: SignInState, purpose: 'sign_in' | 'sign_up'): Promise<SignInState> {
    const email = state.email!;
    const { challengeId, code } = await services.codes.issue(purpose, email);
    try {
      await sendCode(services.mailer, purpose, email, code, services.businessName);
    } catch (error) {
      services.logger.error({ err: error, purpose }, 'sending a one-time code failed');
      await recordAudit(db, { type: 'email.send_failed', subject: state.userId ?? null, data: { application_id: interaction.app.id, purpose } });
      return { ...state, error: 'We could not send the email just now. Please try again in a moment.' };
    }
    return { ...state, step: 'code', challengeId, codePurpose: purpose, error: undefined, notice: undefined };
  }

  /** Parses the form, checks the CSRF token, and loads the interaction and its state. */
  async function formStep(ctx: Context): Promise<{ interaction: Interaction; state: SignInState; form: FormParams } | undefined> {
    const form = await readForm(ctx);
    const interaction = await loadInteraction(ctx);
    if (!interaction) return undefined;
    const csrf = typeof form === 'object' ? field(form, 'csrf') : undefined;
    if (typeof form !== 'object' || !csrf || !safeEqual(csrf, csrfToken(interaction.uid))) {
      ctx.status = 403;
      renderPage(ctx, MessagePage({ title: 'Please try again', message: 'This form was not sent from the sign-in page, so we did not act on it.', backUrl: url(interaction.uid), backLabel: 'Back to sign-in' }));
      return undefined;
    }
    if (!interaction.method) {
      ctx.status = 400;
      renderPage(ctx, MessagePage({ title: 'Sign-in is not set up', message: 'This application has no sign-in method turned on. Ask its administrator.', backUrl: interaction.app.homepageUri }));
      return undefined;
    }
    const state = (await loadFlow(db, interaction.uid)) ?? initialState(interaction);
    return { interaction, state: { ...state, error: undefined, notice: undefined }, form };
  }

  router.get('/', async (ctx) => {
    const interaction = await loadInteraction(ctx);
    if (!interaction) return;
    if (!interaction.method) {
      ctx.status = 400;
      renderPage(ctx, MessagePage({ title: 'Sign-in is not set up', message: 'This application has no sign-in method turned on. Ask its administrator.', backUrl: interaction.app.homepageUri }));
      return;
    }
    render(ctx, interaction, (await loadFlow(db, interaction.uid)) ?? initialState(interaction));
  });

  router.get('/restart', async (ctx) => {
    const interaction = await loadInteraction(ctx);
    if (!interaction) return;
    const previous = await loadFlow(db, interaction.uid);
    await goTo(ctx, interaction, { step: 'identify', email: previous?.email });
  });

  router.get('/register', async (ctx) => {
    const interaction = await loadInteraction(ctx);
    if (!interaction) return;
    const previous = await loadFlow(db, interaction.uid);
    await goTo(ctx, interaction, { step: 'register', email: previous?.email });
  });

  router.post('/identify', async (ctx) => {
    const step = await formStep(ctx);
    if (!step) return;
    const { interaction, form } = step;
    const email = (field(form, 'email') ?? '').trim();
    if (!EMAIL_FORMAT.test(email) || email.length > 254) {
      return goTo(ctx, interaction, { step: 'identify', email, error: 'Enter a valid email address' });
    }
    const user = await findUserByIdentity(db, 'email', email);
    if (!user) {
      if (interaction.method === 'code' && !interaction.app.askForNames) {
        return goTo(ctx, interaction, await issueCode(interaction, { step: 'identify', email }, 'sign_up'));
      }
      return goTo(ctx, interaction, { step: 'register', email });
    }
    const known: SignInState = { step: 'identify', email: primaryIdentity(user, 'email')?.value ?? email, userId: user.id };
    if (interaction.method === 'password') return goTo(ctx, interaction, { ...known, step: 'password' });
    return goTo(ctx, interaction, await issueCode(interaction, known, 'sign_in'));
  });

  router.post('/register', async (ctx) => {
    const step = await formStep(ctx);
    if (!step) return;
    const { interaction, form } = step;
    const email = (field(form, 'email') ?? '').trim();
    const firstName = field(form, 'given_name')?.trim();
    const lastName = field(form, 'family_name')?.trim();
    const password = field(form, 'password') ?? '';
    const retry = (error: string) => goTo(ctx, interaction, { step: 'register', email, firstName, lastName, error });
    if (!EMAIL_FORMAT.test(email) || email.length > 254) return retry('Enter a valid email address');
    if (interaction.app.askForNames && (!firstName || !lastName)) return retry('Enter your first and last name');
    if ((firstName?.length ?? 0) > 100 || (lastName?.length ?? 0) > 100) return retry('Names can be at most 100 characters');
    if (await findUserByIdentity(db, 'email', email)) return retry('An account with this email already exists. Sign in instead.');
    let pendingPasswordHash: string | undefined;
    if (interaction.method === 'password') {
      const problem = passwordProblem(password);
      if (problem) return retry(problem);
      pendingPasswordHash = await hashPassword(password);
    }
    const state: SignInState = { step: 'register', email, firstName, lastName, pendingPasswordHash };
    return goTo(ctx, interaction, await issueCode(interaction, state, 'sign_up'));
  });

  router.post('/password', async (ctx) => {
    const step = await formStep(ctx);
    if (!step) return;
    const { interaction, state, form } = step;
    if (state.step !== 'password' || !state.userId) return goTo(ctx, interaction, { step: 'identify' });
    const password = field(form, 'password') ?? '';
    if (await verifyPassword(db, state.userId, password)) return finish(ctx, interaction, state.userId, ['pwd']);
    await db
      .updateTable('users')
      .set((eb) => ({ failed_sign_ins: eb('failed_sign_ins', '+', 1) }))
      .where('id', '=', state.userId)
      .execute();
    await recordAudit(db, { type: 'user.authentication_failed', subject: state.userId, data: { application_id: interaction.app.id, reason: 'wrong_password' } });
    return goTo(ctx, interaction, { ...state, error: 'That password is not right. Try again.' });
  });

  router.post('/code', async (ctx) => {
    const step = await formStep(ctx);
    if (!step) return;
    const { interaction, state, form } = step;
    if (state.step !== 'code' || !state.challengeId || !state.codePurpose || !state.email) return goTo(ctx, interaction, { step: 'identify' });
    const outcome = await services.codes.check(state.challengeId, state.codePurpose, field(form, 'code') ?? '');
    if (outcome === 'wrong') return goTo(ctx, interaction, { ...state, error: 'That code is not right. Check the email and try again.' });
    if (outcome !== 'accepted') {
      const error = outcome === 'expired' ? 'That code has expired. Enter your email to get a new one.' : 'Too many wrong codes. Enter your email to get a new one.';
      return goTo(ctx, interaction, { step: 'identify', email: state.email, error });
    }
    if (state.codePurpose === 'sign_in' && state.userId) {
      const user = await findUserByIdentity(db, 'email', state.email);
      const identity = user && primaryIdentity(user, 'email');
      if (identity && !identity.isVerified) await markIdentityVerified(db, identity.id);
      return finish(ctx, interaction, state.userId, ['otp']);
    }
    const user = await createUser(db, {
      firstName: state.firstName ?? null,
      lastName: state.lastName ?? null,
      identities: [{ type: 'email', value: state.email, isVerified: true, connectionId: null }],
      passwordHash: state.pendingPasswordHash,
    });
    await recordAudit(db, { type: 'user.created', actor: user.id, subject: user.id, data: { application_id: interaction.app.id } });
    return finish(ctx, interaction, user.id, state.pendingPasswordHash ? ['pwd', 'otp'] : ['otp']);
  });

  return router;
}
