import type { Context, Next } from 'koa';
import { qrCodeDataUrl } from '../domain/qr-codes.ts';
import { DEVICE_PAGE_STATE } from './device-pages.ts';
import { MessagePage } from '../ui/pages/message.tsx';
import { renderPage } from '../ui/render.ts';
import { POLLING_INTERVAL_SECONDS } from './device-flow.ts';
import { ROUTES } from './provider-routes.ts';

/**
 * Kinde's device authorization response (section 027) is the engine's plus `interval` and `qr_code`,
 * a PNG data URL of `verification_uri_complete` for the device to show.
 */
export async function kindeDeviceAuthorizationResponse(ctx: Context, next: Next): Promise<void> {
  await next();
  if (ctx.method !== 'POST' || ctx.path !== ROUTES.device_authorization || ctx.status !== 200) return;
  const body = ctx.body as { verification_uri_complete?: unknown } | undefined;
  if (typeof body?.verification_uri_complete !== 'string') return;
  ctx.body = { ...body, interval: POLLING_INTERVAL_SECONDS, qr_code: await qrCodeDataUrl(body.verification_uri_complete, { errorCorrectionLevel: 'M' }) };
}

/**
 * `verification_uri_complete` puts the code in the field; the person still presses Continue (RFC 8628
 * §3.3.1, §5.4: a link alone must not start approving a device). The engine would post the code for
 * them, so it never sees the parameter.
 */
export async function prefillUserCode(ctx: Context, next: Next): Promise<void> {
  if (ctx.method === 'GET' && ctx.path === ROUTES.code_verification && ctx.query.user_code !== undefined) {
    const code = ctx.query.user_code;
    if (typeof code === 'string' && code.length <= 32) ctx.state[DEVICE_PAGE_STATE.prefilledUserCode] = code;
    ctx.querystring = '';
  }
  await next();
}

/**
 * The code form is bound to the browser's session (the engine's `xsrf` lives there). A post without
 * that session cookie — sent from elsewhere, or after the cookie was cleared — cannot be checked, so it
 * is refused here with a page that leads back to the form, instead of reaching the engine, which
 * cannot render its error without a session.
 */
export function refuseDeviceFormWithoutSession(sessionCookie: string) {
  return async (ctx: Context, next: Next): Promise<void> => {
    if (ctx.method !== 'POST' || ctx.path !== ROUTES.code_verification || ctx.cookies.get(sessionCookie)) return next();
    ctx.status = 403;
    renderPage(
      ctx,
      MessagePage({
        title: 'Please try again',
        message: 'This form was not sent from the device page in this browser, so we did not act on it. Enter the code shown on your device again.',
        backUrl: ROUTES.code_verification,
        backLabel: 'Enter a code',
      }),
    );
  };
}
