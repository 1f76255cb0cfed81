import Router from '@koa/router';
import type { Context } from 'koa';
import { safeEqual } from '../../crypto/secrets.ts';
import { flowIdOfState } from '../../domain/social/upstream.ts';
import { readForm } from '../../http/forms.ts';
import type { Services } from '../../services.ts';
import { interactionUrl } from '../flow/interaction.ts';
import { loadFlow, saveFlow, type SignInState, type SocialRoundTrip } from '../flow/state.ts';
import { showSocialFailure } from './social.ts';

/** The provider's answer is a handful of short fields; anything past this is not one. */
const MAX_FIELDS = 20;
const MAX_FIELD_LENGTH = 8192;

/** Single-valued text fields of the provider's answer (a repeated field is dropped, RFC 6749 §3.1). */
function answerFields(entries: Iterable<[string, string | string[] | undefined]>): Record<string, string> | undefined {
  const fields: Record<string, string> = {};
  let count = 0;
  for (const [name, value] of entries) {
    if (++count > MAX_FIELDS) return undefined;
    if (typeof value === 'string' && value.length <= MAX_FIELD_LENGTH) fields[name] = value;
  }
  return fields;
}

async function providerAnswer(ctx: Context): Promise<Record<string, string> | undefined> {
  if (ctx.method === 'GET') return answerFields(Object.entries(ctx.query));
  const form = await readForm(ctx);
  return typeof form === 'object' ? answerFields(Object.entries(form)) : undefined;
}

/**
 * `<issuer>/login/callback`, the one callback of every social connection (issue 11). A GET with the
 * answer in the query, or Apple's `response_mode=form_post`: a cross-site POST, which carries no
 * SameSite=Lax cookie, so the browser cannot be checked here. The flow is found from `state` (its id
 * is the state's prefix, upstream.ts), the answer kept in it, and the browser sent on with a 303 to
 * a GET on our own origin, where the interaction cookie is sent again and checked before anything is
 * completed (social.ts, `/social/continue`). The code never travels in our own URLs.
 */
export function socialCallbackRoutes(services: Services): Router {
  const router = new Router();
  const callback = async (ctx: Context) => {
    ctx.set('Cache-Control', 'no-store');
    const answer = await providerAnswer(ctx);
    const state = answer?.state ?? '';
    const uid = flowIdOfState(state);
    const flow = uid ? await loadFlow(services.db, uid) : undefined;
    // Entra ID and custom OIDC enterprise connections come back here too (connectors/enterprise.ts).
    const waiting = flow?.step === 'social_redirect' || (flow?.step === 'enterprise_redirect' && flow.trip.protocol === 'oidc') ? flow : undefined;
    const trip = waiting?.trip as SocialRoundTrip | undefined;
    if (!answer || !uid || !waiting || !trip || !safeEqual(trip.state, state)) {
      const where = { uid: flow ? uid : undefined, connectionId: trip?.connectionId, strategy: undefined };
      return showSocialFailure(ctx, services, { kind: 'bad_state' }, where, { audit: flow !== undefined });
    }
    const answered = { ...waiting, trip: { ...waiting.trip, callback: answer } } as SignInState;
    return handOnToBrowser(ctx, services, uid, answered, waiting.step === 'social_redirect' ? 'social/continue' : 'enterprise/continue');
  };
  router.get('/login/callback', callback);
  router.post('/login/callback', callback);
  return router;
}

/**
 * The same-site hop every callback ends with: the answer is kept in the flow, and the browser sent
 * with a 303 to a GET on the interaction's own path, where its SameSite=Lax interaction cookie comes
 * again and proves it is the browser that began (a cross-site POST or a link from elsewhere carries none).
 */
export async function handOnToBrowser(ctx: Context, services: Services, uid: string, answered: SignInState, action: string): Promise<void> {
  await saveFlow(services.db, uid, answered);
  ctx.redirect(interactionUrl(uid, action));
  ctx.status = 303;
}
