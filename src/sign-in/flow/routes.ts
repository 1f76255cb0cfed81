import Router from '@koa/router';
import { throttleSignInPosts } from '../../http/throttling.ts';
import type { Services } from '../../services.ts';
import { codeSteps } from '../connectors/one-time-code.ts';
import { identifySteps } from './identify.ts';
import { organizationAndConsentSteps } from '../after/organization-and-consent.ts';
import { passwordSteps } from '../connectors/password.ts';
import { signInKit } from './kit.ts';
import { socialSteps } from '../connectors/social.ts';

/** The hosted sign-in pages at `/interaction/:uid/…`: every step of the state machine (DESIGN.md §4). */
export function signInRoutes(services: Services): Router {
  const router = new Router({ prefix: '/interaction/:uid' });
  const kit = signInKit(services);
  router.use(throttleSignInPosts(services.networkFailures));
  identifySteps(router, kit);
  passwordSteps(router, kit);
  codeSteps(router, kit);
  organizationAndConsentSteps(router, kit);
  socialSteps(router, kit);
  kit.mfa.register(router);
  return router;
}
