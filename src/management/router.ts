import Router from '@koa/router';
import type { Services } from '../services.ts';
import { apiRoutes } from './apis.ts';
import { applicationRoutes } from './applications.ts';
import { connectionRoutes } from './connections.ts';
import { environmentRoutes } from './environment.ts';
import { featureFlagRoutes } from './feature-flags.ts';
import { managementAuth, notFound } from './http.ts';
import { identityRoutes } from './identities.ts';
import { mfaRoutes } from './mfa.ts';
import { organizationRoutes } from './organizations.ts';
import { passwordRoutes } from './passwords.ts';
import { roleRoutes } from './roles.ts';
import { guardRoutesWithScopes } from './scopes.ts';
import { sessionRoutes } from './sessions.ts';
import { userRoutes } from './users.ts';

const PREFIX = '/api/v1';
const CATCH_ALL = '/{*rest}';

/** The management API at `/api/v1`, in Kinde's shapes (contract doc, "Management API"). */
export function managementRoutes(services: Services): Router {
  const router = new Router({ prefix: PREFIX });
  router.use(managementAuth(services));
  applicationRoutes(router, services);
  connectionRoutes(router, services);
  apiRoutes(router, services);
  userRoutes(router, services);
  passwordRoutes(router, services);
  identityRoutes(router, services);
  environmentRoutes(router, services);
  organizationRoutes(router, services);
  roleRoutes(router, services);
  featureFlagRoutes(router, services);
  sessionRoutes(router, services);
  mfaRoutes(router, services);
  router.all(CATCH_ALL, notFound);
  guardRoutesWithScopes(router, PREFIX, new Set([CATCH_ALL]));
  return router;
}
