import type { Context } from 'koa';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { ROUTES } from './provider-routes.ts';
import { DeviceDonePage, EnterUserCodePage } from '../ui/pages/device.tsx';
import { renderPage } from '../ui/render.ts';

/**
 * The engine's device-flow page hooks (`features.deviceFlow.*Source`), rendered as Gatehouse pages.
 * The engine keeps what it is good at: the user-code lookup, its CSRF token (`xsrf`, bound to its
 * session) and the hand-over to the sign-in interaction.
 */

/** ctx.state keys shared with the steps around `/device` (protocol/user-code-attempts.ts). */
export const DEVICE_PAGE_STATE = {
  /** The code from `verification_uri_complete`, shown in the field rather than posted for the person. */
  prefilledUserCode: 'gatehousePrefilledUserCode',
  /** The code typed was not a live one: the attempt limiter counts it. */
  userCodeRejected: 'gatehouseUserCodeRejected',
} as const;

type PageError = (Error & { userCode?: string }) | undefined;

/**
 * A wrong code and a code already in use read the same, so the page tells nobody which codes exist;
 * an expired one says so, since the person must start again on the device.
 */
function problemWith(err: PageError): string | undefined {
  switch (err?.name) {
    case undefined:
      return undefined;
    case 'NoCodeError':
      return 'Enter the code shown on your device.';
    case 'NotFoundError':
    case 'AlreadyUsedError':
      return 'That code is not right. Check the code on your device and try again.';
    case 'ExpiredError':
      return 'That code has expired. Start again on your device to get a new one.';
    default:
      return 'We could not continue with that code. Start again on your device to get a new one.';
  }
}

async function applicationName(ctx: KoaContextWithOIDC): Promise<string | undefined> {
  if (ctx.oidc.client) return ctx.oidc.client.clientName;
  const clientId = ctx.oidc.entities.Interaction?.params?.client_id;
  const client = typeof clientId === 'string' ? await ctx.oidc.provider.Client.find(clientId) : undefined;
  return client?.clientName;
}

function renderEntry(ctx: KoaContextWithOIDC, value: string | undefined, error?: string): void {
  const secret = ctx.oidc.session?.state?.secret;
  renderPage(ctx as unknown as Context, EnterUserCodePage({ action: ROUTES.code_verification, xsrf: typeof secret === 'string' ? secret : '', value, error }));
}

export async function userCodeInputSource(ctx: KoaContextWithOIDC, _form: string, _out?: unknown, err?: Error): Promise<void> {
  const error = err as PageError;
  // Deny on the consent screen ends here (the engine re-raises access_denied as an aborted interaction).
  if (error?.name === 'AbortedError') return renderPage(ctx as unknown as Context, DeviceDonePage({ outcome: 'denied', appName: await applicationName(ctx) }));
  if (error && 'userCode' in error) ctx.state[DEVICE_PAGE_STATE.userCodeRejected] = true;
  const prefilled = ctx.state[DEVICE_PAGE_STATE.prefilledUserCode] as string | undefined;
  renderEntry(ctx, error?.userCode ?? prefilled, problemWith(error));
}

/** Only reached when a code is posted without `confirm` (our form always confirms): ask again, prefilled. */
export async function userCodeConfirmSource(ctx: KoaContextWithOIDC, _form: string, _client: unknown, _deviceInfo: unknown, userCode: string): Promise<void> {
  renderEntry(ctx, userCode);
}

export async function deviceSuccessSource(ctx: KoaContextWithOIDC): Promise<void> {
  renderPage(ctx as unknown as Context, DeviceDonePage({ outcome: 'allowed', appName: await applicationName(ctx) }));
}
