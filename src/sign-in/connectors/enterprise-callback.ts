import Router from '@koa/router';
import type { Context } from 'koa';
import { safeEqual } from '../../crypto/secrets.ts';
import { flowIdOfState } from '../../domain/social/upstream.ts';
import { readBodyWithin } from '../../http/bodies.ts';
import type { Services } from '../../services.ts';
import { loadFlow } from '../flow/state.ts';
import { showEnterpriseFailure } from './enterprise.ts';
import { handOnToBrowser } from './social-callback.ts';

/** Room for a 256 KiB SAMLResponse (the most completeSamlSignIn reads), base64 and url-encoded. */
const ACS_BODY_LIMIT = 512 * 1024;


/** The single-valued SAMLResponse and RelayState of the IdP's form post, when it is one. */
async function samlPost(ctx: Context): Promise<{ samlResponse: string | undefined; relayState: string | undefined } | undefined> {
  if (!ctx.is('application/x-www-form-urlencoded')) return undefined;
  const body = await readBodyWithin(ctx, ACS_BODY_LIMIT);
  if (!body) return undefined;
  const form = new URLSearchParams(body.toString('utf8'));
  const one = (name: string) => (form.getAll(name).length === 1 ? form.get(name)! : undefined);
  return { samlResponse: one('SAMLResponse'), relayState: one('RelayState') };
}

/**
 * `POST <issuer>/saml/callback`, the assertion consumer service of every SAML connection (issue 12).
 * The IdP's form post is cross-site and carries no SameSite=Lax cookie, so the browser cannot be
 * checked here: the flow is found from `RelayState` (its id, then a secret that must match), the response kept in it unread, and
 * the browser sent on to `/enterprise/continue`, where the interaction cookie proves it is the browser
 * that began before anything is validated (the response then must answer that flow's AuthnRequest).
 * A post that matches no waiting sign-in (IdP-initiated, an old tab) is refused; only logged when it
 * names no flow at all, since anyone can send one.
 */
export function samlCallbackRoutes(services: Services): Router {
  const router = new Router();
  router.post('/saml/callback', async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    const posted = await samlPost(ctx);
    // Not a form, or larger than any IdP's answer for one person.
    if (!posted) return showEnterpriseFailure(ctx, services, { kind: 'malformed' }, { uid: undefined }, { audit: false });
    const { samlResponse, relayState } = posted;
    const uid = relayState ? flowIdOfState(relayState) : undefined;
    const flow = uid ? await loadFlow(services.db, uid) : undefined;
    const waiting = flow?.step === 'enterprise_redirect' && flow.trip.protocol === 'saml' ? flow : undefined;
    if (!samlResponse || !uid || !waiting || waiting.trip.protocol !== 'saml' || !safeEqual(waiting.trip.relayState, relayState!)) {
      const kind = !relayState ? 'unsolicited' : samlResponse ? 'bad_in_response_to' : 'malformed';
      const where = { uid: flow ? uid : undefined, connectionId: waiting?.trip.connectionId };
      return showEnterpriseFailure(ctx, services, { kind }, where, { audit: flow !== undefined });
    }
    return handOnToBrowser(ctx, services, uid, { ...waiting, trip: { ...waiting.trip, callback: { SAMLResponse: samlResponse } } }, 'enterprise/continue');
  });
  return router;
}
