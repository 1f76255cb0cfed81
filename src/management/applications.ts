import type Router from '@koa/router';
import { z } from 'zod';
import {
  type Application,
  APPLICATION_TYPES,
  createApplication,
  deleteApplication,
  listApplications,
  editApplicationUrls,
  requireApplication,
  updateApplication,
} from '../domain/applications.ts';
import { applicationConnections, disableConnection, enableConnection } from '../domain/connections.ts';
import { environmentPolicy, setDefaultDeviceApplication } from '../domain/environment.ts';
import type { Services } from '../services.ts';
import { connectionJson } from './connections.ts';
import { callbackUrl, OK, pageOf, pageQuery, pageRequest, readBody, readQuery } from './input.ts';

const name = z.string().trim().min(1).max(128);
/** `""` or `null` clears an optional page URL, as Kinde's settings screen does. */
const pageUrl = z.union([z.literal(''), z.null(), z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' })]);
/** Seconds; Kinde's screens allow up to a year. */
const lifetime = z.number().int().min(60).max(31_536_000);

const listQuery = z.object({
  ...pageQuery,
  sort: z.undefined({ error: 'sort is not supported; applications are listed in creation order' }).optional(),
});
const createBody = z.object({
  name,
  type: z.enum(APPLICATION_TYPES),
  org_code: z.null({ error: 'organizations are not supported' }).optional(),
});
const updateBody = z.object({
  name: name.optional(),
  language_key: z.string().optional(),
  redirect_uris: z.array(callbackUrl).max(100).optional(),
  logout_uris: z.array(callbackUrl).max(100).optional(),
  login_uri: pageUrl.optional(),
  homepage_uri: pageUrl.optional(),
  /** Gatehouse extensions: the "Authentication experience" switches of Kinde's application screen (section 019). */
  is_ask_for_names: z.boolean().optional(),
  /** "Show 'Already have an account? Sign in' on registration page"; off = unified sign-up. */
  is_show_sign_in_link: z.boolean().optional(),
  is_gravatar_fallback_enabled: z.boolean().optional(),
  is_ask_marketing_consent: z.boolean().optional(),
  /** Gatehouse extensions: the token customization switches (section 045): `org_name` in access tokens, `organizations` in ID tokens. */
  is_org_name_in_token: z.boolean().optional(),
  is_organizations_in_id_token: z.boolean().optional(),
  /** Gatehouse extension: Kinde's "Set as default" for device applications (section 028); only `device` applications. */
  is_default_device_app: z.boolean().optional(),
});
const tokensBody = z.object({
  access_token_lifetime: lifetime.optional(),
  refresh_token_lifetime: lifetime.optional(),
  id_token_lifetime: lifetime.optional(),
  authenticated_session_lifetime: lifetime.optional(),
  is_hasura_mapping_enabled: z.boolean().optional(),
});
const urlsBody = z.object({ urls: z.array(callbackUrl).min(1).max(100) });
const urlsQuery = z.object({ urls: z.string().min(1) });

const orNull = (value: string | null) => (value === '' ? null : value);

function applicationJson(app: Application, defaultDeviceApplicationId: string | undefined) {
  return {
    id: app.id,
    name: app.name,
    type: app.type,
    client_id: app.id,
    login_uri: app.loginUri,
    homepage_uri: app.homepageUri,
    has_cancel_button: false,
    is_ask_for_names: app.askForNames,
    is_show_sign_in_link: app.showSignInLink,
    is_gravatar_fallback_enabled: app.useGravatarFallback,
    is_ask_marketing_consent: app.askMarketingConsent,
    is_org_name_in_token: app.isOrgNameInToken,
    is_organizations_in_id_token: app.isOrganizationsInIdToken,
    is_hasura_mapping_enabled: app.isHasuraMappingEnabled,
    // Only a device application can be the default for device authorization (section 028).
    ...(app.type === 'device' ? { is_default_device_app: app.id === defaultDeviceApplicationId } : {}),
  };
}

/** `/auth_redirect_urls` and `/auth_logout_urls` differ only in which list they edit. */
function urlListRoutes(router: Router, services: Services, path: string, list: 'redirectUrls' | 'logoutUrls', json: (urls: string[]) => object): void {
  const { db } = services;
  const route = `/applications/:app_id/${path}`;
  router.get(route, async (ctx) => {
    ctx.body = json((await requireApplication(db, ctx.params.app_id!))[list]);
  });
  router.post(route, async (ctx) => {
    const { urls } = await readBody(ctx, urlsBody);
    await editApplicationUrls(db, ctx.params.app_id!, list, (current) => [...current, ...urls]);
    ctx.body = OK;
  });
  router.put(route, async (ctx) => {
    const { urls } = await readBody(ctx, urlsBody);
    await editApplicationUrls(db, ctx.params.app_id!, list, () => urls);
    ctx.body = OK;
  });
  router.delete(route, async (ctx) => {
    // Kinde's SDK sends one comma-separated, URL-encoded `urls` parameter.
    const removed = new Set(readQuery(ctx, urlsQuery).urls.split(',').map((url) => url.trim()));
    await editApplicationUrls(db, ctx.params.app_id!, list, (current) => current.filter((url) => !removed.has(url)));
    ctx.body = OK;
  });
}

export function applicationRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.get('/applications', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = pageOf(await listApplications(db, pageRequest(query)), query.page_size);
    ctx.body = { ...OK, applications: page.items.map(({ id, name, type }) => ({ id, name, type })), next_token: page.nextToken };
  });

  router.post('/applications', async (ctx) => {
    const body = await readBody(ctx, createBody);
    const { application, clientSecret } = await createApplication(db, { name: body.name, type: body.type });
    // The secret is stored hashed: this response is the only time it is ever shown.
    ctx.status = 201;
    ctx.body = { ...OK, application: { id: application.id, client_id: application.id, client_secret: clientSecret } };
  });

  router.get('/applications/:application_id', async (ctx) => {
    const app = await requireApplication(db, ctx.params.application_id!);
    ctx.body = { ...OK, application: applicationJson(app, (await environmentPolicy(db)).defaultDeviceApplicationId) };
  });

  router.patch('/applications/:application_id', async (ctx) => {
    const body = await readBody(ctx, updateBody);
    const app = await requireApplication(db, ctx.params.application_id!);
    // Refused before anything is written: a non-device application cannot be the default.
    if (body.is_default_device_app !== undefined) await setDefaultDeviceApplication(db, app, body.is_default_device_app);
    await updateApplication(db, app.id, {
      name: body.name,
      redirectUrls: body.redirect_uris,
      logoutUrls: body.logout_uris,
      loginUri: body.login_uri === undefined ? undefined : orNull(body.login_uri),
      homepageUri: body.homepage_uri === undefined ? undefined : orNull(body.homepage_uri),
      askForNames: body.is_ask_for_names,
      showSignInLink: body.is_show_sign_in_link,
      useGravatarFallback: body.is_gravatar_fallback_enabled,
      askMarketingConsent: body.is_ask_marketing_consent,
      isOrgNameInToken: body.is_org_name_in_token,
      isOrganizationsInIdToken: body.is_organizations_in_id_token,
    });
    ctx.body = OK;
  });

  router.delete('/applications/:application_id', async (ctx) => {
    await deleteApplication(db, ctx.params.application_id!);
    await setDefaultDeviceApplication(db, { id: ctx.params.application_id!, type: 'deleted' }, false);
    ctx.body = OK;
  });

  router.patch('/applications/:application_id/tokens', async (ctx) => {
    const body = await readBody(ctx, tokensBody);
    await updateApplication(db, ctx.params.application_id!, {
      accessTokenLifetime: body.access_token_lifetime,
      refreshTokenLifetime: body.refresh_token_lifetime,
      idTokenLifetime: body.id_token_lifetime,
      authenticatedSessionLifetime: body.authenticated_session_lifetime,
      isHasuraMappingEnabled: body.is_hasura_mapping_enabled,
    });
    ctx.body = OK;
  });

  urlListRoutes(router, services, 'auth_redirect_urls', 'redirectUrls', (urls) => ({ redirect_urls: urls }));
  urlListRoutes(router, services, 'auth_logout_urls', 'logoutUrls', (urls) => ({ ...OK, logout_urls: urls }));

  router.get('/applications/:application_id/connections', async (ctx) => {
    const app = await requireApplication(db, ctx.params.application_id!);
    ctx.body = { ...OK, connections: (await applicationConnections(db, app.id)).map(connectionJson), has_more: false };
  });

  // The application is looked up first: the domain would otherwise hit a foreign key and answer 500.
  router.post('/applications/:application_id/connections/:connection_id', async (ctx) => {
    const app = await requireApplication(db, ctx.params.application_id!);
    await enableConnection(db, app.id, ctx.params.connection_id!);
    ctx.body = OK;
  });

  router.delete('/applications/:application_id/connections/:connection_id', async (ctx) => {
    const app = await requireApplication(db, ctx.params.application_id!);
    await disableConnection(db, app.id, ctx.params.connection_id!);
    ctx.body = OK;
  });
}
