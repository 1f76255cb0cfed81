import Router from '@koa/router';
import { throttleSignInPosts } from '../http/throttling.ts';
import type { Services } from '../services.ts';
import { codeSteps } from './code-steps.ts';
import { identifySteps } from './identify-steps.ts';
import { organizationAndConsentSteps } from './organization-and-consent-steps.ts';
import { passwordSteps } from './password-steps.ts';
import { signInKit } from './sign-in-kit.ts';
import { socialSteps } from './social-steps.ts';

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
