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
import { OK, pageOf, pageQuery, pageRequest, readBody, readQuery } from './input.ts';

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

function apiJson(api: Api) {
  return { id: api.id, name: api.name, audience: api.audience, is_management_api: api.isManagementApi };
}

const scopeJson = (scope: { id: string; key: string; description: string | null }) => ({
  id: scope.id,
  key: scope.key,
  description: scope.description ?? undefined,
});

export function apiRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/apis', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = pageOf(await listApis(db, pageRequest(query)), query.page_size);
    const apis = await Promise.all(
      page.items.map(async (api) => (query.expand ? { ...apiJson(api), scopes: (await listScopes(db, api.id)).map(({ id, key }) => ({ id, key })) } : apiJson(api))),
    );
    ctx.body = { ...OK, apis, next_token: page.nextToken };
  });

  router.post('/apis', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const api = await createApi(db, { name: body.name, audience: body.audience });
    ctx.body = { ...OK, api: { id: api.id } };
  });

  router.get('/apis/:api_id', async (ctx) => {
    const api = await requireApi(db, ctx.params.api_id!);
    const scopes = await listScopes(db, api.id);
    const applications = await Promise.all((await authorizedApplicationIds(db, api.id)).map((id) => findApplication(db, id)));
    const held = await applicationScopes(db, api.id);
    ctx.body = {
      ...OK,
      api: {
        ...apiJson(api),
        scopes: scopes.map(({ id, key }) => ({ id, key })),
        // `scopes` on each application is a Gatehouse extension: what its client-credentials tokens may carry.
        applications: applications.flatMap((app) =>
          app ? [{ id: app.id, name: app.name, type: TYPE_LABELS[app.type], is_active: true, scopes: (held.get(app.id) ?? []).map(({ id, key }) => ({ id, key })) }] : [],
        ),
      },
    };
  });

  router.delete('/apis/:api_id', async (ctx) => {
    await deleteApi(db, ctx.params.api_id!);
    ctx.body = { code: 'API_DELETED', message: 'API successfully deleted' };
  });

  router.get('/apis/:api_id/scopes', async (ctx) => {
    const api = await requireApi(db, ctx.params.api_id!);
    ctx.body = { ...OK, scopes: (await listScopes(db, api.id)).map(scopeJson) };
  });

  router.post('/apis/:api_id/scopes', async (ctx) => {
    const body = await readBody(ctx, scopeBody);
    const scope = await addScope(db, ctx.params.api_id!, body.key, body.description ?? null);
    ctx.body = { ...OK, scope: { id: scope.id } };
  });

  router.get('/apis/:api_id/scopes/:scope_id', async (ctx) => {
    const api = await requireApi(db, ctx.params.api_id!);
    const scope = (await listScopes(db, api.id)).find((s) => s.id === ctx.params.scope_id);
    if (!scope) throw new DomainError('SCOPE_NOT_FOUND', 'Scope not found', 404);
    ctx.body = { ...OK, scope: scopeJson(scope) };
  });

  router.delete('/apis/:api_id/scopes/:scope_id', async (ctx) => {
    await deleteScope(db, ctx.params.api_id!, ctx.params.scope_id!);
    ctx.body = OK;
  });

  // Application ids are client ids in Gatehouse, as the SDK documents for this body.
  router.patch('/apis/:api_id/applications', async (ctx) => {
    const { applications } = await readBody(ctx, applicationsBody);
    const changes = applications.map((app) => ({ applicationId: app.id, authorized: app.operation !== 'delete' }));
    await updateApiApplications(db, ctx.params.api_id!, changes);
    ctx.body = {
      code: 'API_APPLICATIONS_UPDATED',
      message: 'API applications updated',
      applications_connected: changes.filter((c) => c.authorized).map((c) => c.applicationId),
      applications_disconnected: changes.filter((c) => !c.authorized).map((c) => c.applicationId),
    };
  });

  // Kinde's "add scope to API application" / "delete API application scope": what a machine-to-machine
  // application's client-credentials tokens may carry. A new authorization holds no scope.
  router.post('/apis/:api_id/applications/:application_id/scopes/:scope_id', async (ctx) => {
    await setApplicationScope(db, ctx.params.api_id!, ctx.params.application_id!, ctx.params.scope_id!, true);
    ctx.body = OK;
  });

  router.delete('/apis/:api_id/applications/:application_id/scopes/:scope_id', async (ctx) => {
    await setApplicationScope(db, ctx.params.api_id!, ctx.params.application_id!, ctx.params.scope_id!, false);
    ctx.body = OK;
  });
}
