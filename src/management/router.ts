import Router from '@koa/router';
import type { Services } from '../services.ts';
import { unitOfWorkView } from '../store/db.ts';
import { accessRequestRoutes } from './access-requests.ts';
import { apiRoutes } from './apis.ts';
import { applicationRoutes } from './applications.ts';
import { connectionRoutes } from './connections.ts';
import { environmentRoutes } from './environment.ts';
import { eventRoutes } from './events.ts';
import { featureFlagRoutes } from './feature-flags.ts';
import { managementAuth, notFound } from './http.ts';
import { identityRoutes } from './identities.ts';
import { mfaRoutes } from './mfa.ts';
import { openApiDocument } from './openapi.ts';
import { organizationRoutes } from './organizations.ts';
import { passwordRoutes } from './passwords.ts';
import { roleRoutes } from './roles.ts';
import { assertEveryRouteDeclared, declarationsOf, markResponseChecks } from './route.ts';
import { sessionRoutes } from './sessions.ts';
import { userImportRoutes } from './user-import.ts';
import { userRoutes } from './users.ts';
import { webhookRoutes } from './webhooks.ts';

const PREFIX = '/api/v1';
const CATCH_ALL = '/{*rest}';
/**
 * The OpenAPI document, public as Kinde publishes its own: it describes routes, scopes and shapes and
 * holds nothing about this deployment but its URL. Beside the routes it describes, under `/api/v1`.
 */
export const OPENAPI_PATH = '/openapi.json';

/** The management API at `/api/v1`, in Kinde's shapes (contract doc, "Management API"). */
export function managementRoutes(services: Services): Router {
  const router = new Router({ prefix: PREFIX });
  // Registered before the token check, which @koa/router runs only for the routes after it.
  let document: object | undefined;
  router.get(OPENAPI_PATH, (ctx) => {
    ctx.body = document ??= openApiDocument(declarationsOf(router), `${services.config.issuer}${PREFIX}`, OPENAPI_PATH);
  });
  router.use(markResponseChecks(services.config.checkManagementResponses));
  router.use(managementAuth(services));
  // Handlers write through a unit-of-work view: a write commits with its audit event or not at all.
  const scoped: Services = { ...services, db: unitOfWorkView(services.db) };
  applicationRoutes(router, scoped);
  connectionRoutes(router, scoped);
  apiRoutes(router, scoped);
  userImportRoutes(router, scoped);
  userRoutes(router, scoped);
  passwordRoutes(router, scoped);
  identityRoutes(router, scoped);
  environmentRoutes(router, scoped);
  organizationRoutes(router, scoped);
  roleRoutes(router, scoped);
  featureFlagRoutes(router, scoped);
  sessionRoutes(router, scoped);
  mfaRoutes(router, scoped);
  eventRoutes(router, scoped);
  webhookRoutes(router, scoped);
  accessRequestRoutes(router, scoped);
  router.all(CATCH_ALL, notFound);
  assertEveryRouteDeclared(router, PREFIX, new Set([CATCH_ALL, OPENAPI_PATH]));
  return router;
}
