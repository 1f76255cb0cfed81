import type Router from '@koa/router';
import { z } from 'zod';
import {
  type Api,
  addScope,
  applicationScopes,
  authorizedApplicationIds,
  createApi,
  deleteApi,
  deleteScope,
  listApis,
  listScopes,
  requireApi,
  setApplicationScope,
  updateApiApplications,
} from '../domain/apis.ts';
import { type ApplicationType, findApplication } from '../domain/applications.ts';
import { DomainError } from '../domain/errors.ts';
import type { Services } from '../services.ts';
import { OK, pageOf, pageQuery, pageRequest } from './input.ts';
import { nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

/** Audiences travel space-joined in `audience=` (contract: "/oauth2/auth parameters"), so no whitespace. */
const noWhitespace = (what: string) => z.string().min(1).max(64).regex(/^\S+$/, `${what} must not contain whitespace`);

const listQuery = z.object({ ...pageQuery, expand: z.enum(['scopes']).optional() });
const createBody = z.object({ name: z.string().trim().min(1).max(64), audience: noWhitespace('audience') });
const scopeBody = z.object({ key: noWhitespace('key'), description: z.string().max(256).optional() });
const applicationsBody = z.object({
  applications: z.array(z.object({ id: z.string().min(1), operation: z.enum(['delete']).optional() })).min(1).max(100),
});

/** Kinde labels application types by audience rather than by code in API responses. */
const TYPE_LABELS: Record<ApplicationType, string> = {
  m2m: 'Machine to machine (M2M)',
  reg: 'Back-end web',
  spa: 'Front-end and mobile',
  device: 'Device and IoT',
};

const idAndKey = z.object({ id: z.string(), key: z.string() });
const apiSchema = z.object({ id: z.string(), name: z.string(), audience: z.string(), is_management_api: z.boolean() });
const scopeSchema = z.object({ id: z.string(), key: z.string(), description: z.string().optional() });

function apiJson(api: Api): z.input<typeof apiSchema> {
  return { id: api.id, name: api.name, audience: api.audience, is_management_api: api.isManagementApi };
}

const scopeJson = (scope: { id: string; key: string; description: string | null }): z.input<typeof scopeSchema> => ({
  id: scope.id,
  key: scope.key,
  description: scope.description ?? undefined,
});

export function apiRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(
    router,
    {
      method: 'GET',
      path: '/apis',
      scope: 'read:apis',
      summary: 'List APIs',
      query: listQuery,
      // `scopes` with `expand=scopes`.
      response: okWith({ apis: z.array(apiSchema.extend({ scopes: z.array(idAndKey).optional() })), next_token: nextToken }),
    },
    async ({ query }) => {
      const page = pageOf(await listApis(db, pageRequest(query)), query.page_size);
      const apis = await Promise.all(
        page.items.map(async (api) => (query.expand ? { ...apiJson(api), scopes: (await listScopes(db, api.id)).map(({ id, key }) => ({ id, key })) } : apiJson(api))),
      );
      return { ...OK, apis, next_token: page.nextToken };
    },
  );

  route(router, { method: 'POST', path: '/apis', scope: 'create:apis', summary: 'Create an API', body: createBody, response: okWith({ api: z.object({ id: z.string() }) }) }, async ({ body }) => {
    const api = await createApi(db, { name: body.name, audience: body.audience });
    return { ...OK, api: { id: api.id } };
  });

  route(
    router,
    {
      method: 'GET',
      path: '/apis/:api_id',
      scope: 'read:apis',
      summary: 'Get an API',
      response: okWith({
        api: apiSchema.extend({
          scopes: z.array(idAndKey),
          // `scopes` on each application is a Gatehouse extension: what its client-credentials tokens may carry.
          applications: z.array(z.object({ id: z.string(), name: z.string(), type: z.string(), is_active: z.boolean(), scopes: z.array(idAndKey) })),
        }),
      }),
    },
    async ({ params }) => {
      const api = await requireApi(db, params.api_id);
      const scopes = await listScopes(db, api.id);
      const applications = await Promise.all((await authorizedApplicationIds(db, api.id)).map((id) => findApplication(db, id)));
      const held = await applicationScopes(db, api.id);
      return {
        ...OK,
        api: {
          ...apiJson(api),
          scopes: scopes.map(({ id, key }) => ({ id, key })),
          applications: applications.flatMap((app) =>
            app ? [{ id: app.id, name: app.name, type: TYPE_LABELS[app.type], is_active: true, scopes: (held.get(app.id) ?? []).map(({ id, key }) => ({ id, key })) }] : [],
          ),
        },
      };
    },
  );

  route(router, { method: 'DELETE', path: '/apis/:api_id', scope: 'delete:apis', summary: 'Delete an API', response: okResponse }, async ({ params }) => {
    await deleteApi(db, params.api_id);
    return { code: 'API_DELETED', message: 'API successfully deleted' };
  });

  route(router, { method: 'GET', path: '/apis/:api_id/scopes', scope: 'read:apis', summary: "List an API's scopes", response: okWith({ scopes: z.array(scopeSchema) }) }, async ({ params }) => {
    const api = await requireApi(db, params.api_id);
    return { ...OK, scopes: (await listScopes(db, api.id)).map(scopeJson) };
  });

  route(
    router,
    { method: 'POST', path: '/apis/:api_id/scopes', scope: 'update:apis', summary: 'Add a scope to an API', body: scopeBody, response: okWith({ scope: z.object({ id: z.string() }) }) },
    async ({ params, body }) => {
      const scope = await addScope(db, params.api_id, body.key, body.description ?? null);
      return { ...OK, scope: { id: scope.id } };
    },
  );

  route(router, { method: 'GET', path: '/apis/:api_id/scopes/:scope_id', scope: 'read:apis', summary: "Get one of an API's scopes", response: okWith({ scope: scopeSchema }) }, async ({ params }) => {
    const api = await requireApi(db, params.api_id);
    const scope = (await listScopes(db, api.id)).find((s) => s.id === params.scope_id);
    if (!scope) throw new DomainError('SCOPE_NOT_FOUND', 'Scope not found', 404);
    return { ...OK, scope: scopeJson(scope) };
  });

  route(router, { method: 'DELETE', path: '/apis/:api_id/scopes/:scope_id', scope: 'update:apis', summary: 'Delete a scope of an API', response: okResponse }, async ({ params }) => {
    await deleteScope(db, params.api_id, params.scope_id);
    return OK;
  });

  // Application ids are client ids in Gatehouse, as the SDK documents for this body.
  route(
    router,
    {
      method: 'PATCH',
      path: '/apis/:api_id/applications',
      scope: 'update:apis',
      summary: 'Authorize applications for an API, or take the authorization back',
      body: applicationsBody,
      response: okWith({ applications_connected: z.array(z.string()), applications_disconnected: z.array(z.string()) }),
    },
    async ({ params, body }) => {
      const changes = body.applications.map((app) => ({ applicationId: app.id, authorized: app.operation !== 'delete' }));
      await updateApiApplications(db, params.api_id, changes);
      return {
        code: 'API_APPLICATIONS_UPDATED',
        message: 'API applications updated',
        applications_connected: changes.filter((c) => c.authorized).map((c) => c.applicationId),
        applications_disconnected: changes.filter((c) => !c.authorized).map((c) => c.applicationId),
      };
    },
  );

  // Kinde's "add scope to API application" / "delete API application scope": what a machine-to-machine
  // application's client-credentials tokens may carry. A new authorization holds no scope.
  route(
    router,
    { method: 'POST', path: '/apis/:api_id/applications/:application_id/scopes/:scope_id', scope: 'update:apis', summary: 'Give an application one of an API\'s scopes', response: okResponse },
    async ({ params }) => {
      await setApplicationScope(db, params.api_id, params.application_id, params.scope_id, true);
      return OK;
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/apis/:api_id/applications/:application_id/scopes/:scope_id', scope: 'update:apis', summary: 'Take one of an API\'s scopes from an application', response: okResponse },
    async ({ params }) => {
      await setApplicationScope(db, params.api_id, params.application_id, params.scope_id, false);
      return OK;
    },
  );
}
