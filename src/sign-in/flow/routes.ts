import Router from '@koa/router';
import { throttleSignInPosts } from '../../http/throttling.ts';
import type { Services } from '../../services.ts';
import { oneTimeCodeConnector } from '../connectors/one-time-code.ts';
import { identifySteps } from './identify.ts';
import { accessRequestSteps } from './access-request.ts';
import { organizationAndConsentSteps } from '../after/organization-and-consent.ts';
import { passwordConnector } from '../connectors/password.ts';
import { signInKit } from './kit.ts';
import { socialConnector } from '../connectors/social.ts';
import { enterpriseConnector } from '../connectors/enterprise.ts';

/** The hosted sign-in pages at `/interaction/:uid/…`: every step of the state machine (DESIGN.md §4). */
export function signInRoutes(services: Services): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const kit = signInKit(services);
  router.use(throttleSignInPosts(services.networkFailures));
  const connectors = { password: passwordConnector(kit), code: oneTimeCodeConnector(kit) };
  identifySteps(router, kit, connectors);
  for (const connector of Object.values(connectors)) connector.routes(router);
  organizationAndConsentSteps(router, kit);
  accessRequestSteps(router, kit);
  socialConnector(kit).routes(router);
  enterpriseConnector(kit).routes(router);
  kit.mfa.register(router);
  return router;
}
