import Router from '@koa/router';
import type { Services } from '../services.ts';
import { managementAuth, notFound } from './http.ts';

/** The management API at `/api/v1`, in Kinde's shapes (contract doc, "Management API"). */
export function managementRoutes(services: Services): Router {
  const router = new Router({ prefix: '/api/v1' });
  router.use(managementAuth(services));
  router.all('/{*rest}', notFound);
  return router;
}
