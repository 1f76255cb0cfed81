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
import { connectionJson, connectionsResponse } from './connections.ts';
import { callbackUrl, OK, pageOf, pageQuery, pageRequest } from './input.ts';
import { nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

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

const applicationSchema = z.object({
  id: z.string(),
  name: z.string(),
  type: z.enum(APPLICATION_TYPES),
  client_id: z.string(),
  login_uri: z.string().nullable(),
  homepage_uri: z.string().nullable(),
  has_cancel_button: z.boolean(),
  is_ask_for_names: z.boolean(),
  is_show_sign_in_link: z.boolean(),
  is_gravatar_fallback_enabled: z.boolean(),
  is_ask_marketing_consent: z.boolean(),
  is_org_name_in_token: z.boolean(),
  is_organizations_in_id_token: z.boolean(),
  is_hasura_mapping_enabled: z.boolean(),
  /** Device applications only. */
  is_default_device_app: z.boolean().optional(),
});

function applicationJson(app: Application, defaultDeviceApplicationId: string | undefined): z.input<typeof applicationSchema> {
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

/** One of an application's URL lists: its path segment, its field, its name and how Kinde answers it. */
interface UrlList<R extends z.ZodType> {
  segment: 'auth_redirect_urls' | 'auth_logout_urls';
  list: 'redirectUrls' | 'logoutUrls';
  what: string;
  response: R;
  json: (urls: string[]) => z.input<R>;
}

/** `/auth_redirect_urls` and `/auth_logout_urls` differ only in which list they edit. */
function urlListRoutes<R extends z.ZodType>(router: Router, services: Services, { segment, list, what, response, json }: UrlList<R>): void {
  const { db } = services;
  const path = `/applications/:app_id/${segment}` as const;
  route(router, { method: 'GET', path, scope: 'read:applications', summary: `List an application's ${what}`, response }, async ({ params }) => {
    return json((await requireApplication(db, params.app_id))[list]);
  });
  route(router, { method: 'POST', path, scope: 'update:applications', summary: `Add ${what} to an application`, body: urlsBody, response: okResponse }, async ({ params, body }) => {
    await editApplicationUrls(db, params.app_id, list, (current) => [...current, ...body.urls]);
    return OK;
  });
  route(router, { method: 'PUT', path, scope: 'update:applications', summary: `Replace an application's ${what}`, body: urlsBody, response: okResponse }, async ({ params, body }) => {
    await editApplicationUrls(db, params.app_id, list, () => body.urls);
    return OK;
  });
  route(router, { method: 'DELETE', path, scope: 'update:applications', summary: `Remove ${what} from an application`, query: urlsQuery, response: okResponse }, async ({ params, query }) => {
    // Kinde's SDK sends one comma-separated, URL-encoded `urls` parameter.
    const removed = new Set(query.urls.split(',').map((url) => url.trim()));
    await editApplicationUrls(db, params.app_id, list, (current) => current.filter((url) => !removed.has(url)));
    return OK;
  });
}

export function applicationRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(
    router,
    {
      method: 'GET',
      path: '/applications',
      scope: 'read:applications',
      summary: 'List applications',
      query: listQuery,
      response: okWith({ applications: z.array(applicationSchema.pick({ id: true, name: true, type: true })), next_token: nextToken }),
    },
    async ({ query }) => {
      const page = pageOf(await listApplications(db, pageRequest(query)), query.page_size);
      return { ...OK, applications: page.items.map(({ id, name, type }) => ({ id, name, type })), next_token: page.nextToken };
    },
  );

  route(
    router,
    {
      method: 'POST',
      path: '/applications',
      scope: 'create:applications',
      summary: 'Create an application',
      body: createBody,
      status: 201,
      response: okWith({ application: z.object({ id: z.string(), client_id: z.string(), client_secret: z.string().optional() }) }),
    },
    async ({ body }) => {
      const { application, clientSecret } = await createApplication(db, { name: body.name, type: body.type });
      // The secret is stored hashed: this response is the only time it is ever shown.
      return { ...OK, application: { id: application.id, client_id: application.id, client_secret: clientSecret } };
    },
  );

  route(router, { method: 'GET', path: '/applications/:application_id', scope: 'read:applications', summary: 'Get an application', response: okWith({ application: applicationSchema }) }, async ({ params }) => {
    const app = await requireApplication(db, params.application_id);
    return { ...OK, application: applicationJson(app, (await environmentPolicy(db)).defaultDeviceApplicationId) };
  });

  route(
    router,
    { method: 'PATCH', path: '/applications/:application_id', scope: 'update:applications', summary: 'Update an application', body: updateBody, response: okResponse },
    async ({ params, body }) => {
      const app = await requireApplication(db, params.application_id);
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
      return OK;
    },
  );

  route(router, { method: 'DELETE', path: '/applications/:application_id', scope: 'delete:applications', summary: 'Delete an application', response: okResponse }, async ({ params }) => {
    await deleteApplication(db, params.application_id);
    await setDefaultDeviceApplication(db, { id: params.application_id, type: 'deleted' }, false);
    return OK;
  });

  route(
    router,
    { method: 'PATCH', path: '/applications/:application_id/tokens', scope: 'update:applications', summary: "Set an application's token lifetimes", body: tokensBody, response: okResponse },
    async ({ params, body }) => {
      await updateApplication(db, params.application_id, {
        accessTokenLifetime: body.access_token_lifetime,
        refreshTokenLifetime: body.refresh_token_lifetime,
        idTokenLifetime: body.id_token_lifetime,
        authenticatedSessionLifetime: body.authenticated_session_lifetime,
        isHasuraMappingEnabled: body.is_hasura_mapping_enabled,
      });
      return OK;
    },
  );

  urlListRoutes(router, services, {
    segment: 'auth_redirect_urls',
    list: 'redirectUrls',
    what: 'redirect URLs',
    response: z.object({ redirect_urls: z.array(z.string()) }),
    json: (urls) => ({ redirect_urls: urls }),
  });
  urlListRoutes(router, services, { segment: 'auth_logout_urls', list: 'logoutUrls', what: 'logout URLs', response: okWith({ logout_urls: z.array(z.string()) }), json: (urls) => ({ ...OK, logout_urls: urls }) });

  route(
    router,
    { method: 'GET', path: '/applications/:application_id/connections', scope: 'read:applications', summary: "List an application's connections", response: connectionsResponse },
    async ({ params }) => {
      const app = await requireApplication(db, params.application_id);
      return { ...OK, connections: (await applicationConnections(db, app.id)).map(connectionJson), has_more: false };
    },
  );

  // The application is looked up first: the domain would otherwise hit a foreign key and answer 500.
  route(
    router,
    { method: 'POST', path: '/applications/:application_id/connections/:connection_id', scope: 'update:applications', summary: 'Enable a connection for an application', response: okResponse },
    async ({ params }) => {
      const app = await requireApplication(db, params.application_id);
      await enableConnection(db, app.id, params.connection_id);
      return OK;
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/applications/:application_id/connections/:connection_id', scope: 'update:applications', summary: 'Disable a connection for an application', response: okResponse },
    async ({ params }) => {
      const app = await requireApplication(db, params.application_id);
      await disableConnection(db, app.id, params.connection_id);
      return OK;
    },
  );
}
