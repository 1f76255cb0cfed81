import type Router from '@koa/router';
import { z } from 'zod';
import {
  createFeatureFlag,
  deleteFeatureFlag,
  deleteOrganizationFeatureFlag,
  deleteOrganizationFeatureFlags,
  deleteUserFeatureFlag,
  type FlagValue,
  flagType,
  kindeFlagType,
  listFeatureFlags,
  organizationFeatureFlags,
  setOrganizationFeatureFlag,
  setUserFeatureFlag,
  updateFeatureFlag,
} from '../domain/feature-flags.ts';
import type { Services } from '../services.ts';
import { OK } from './input.ts';
import { okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

/** Flag keys become JSON member names in tokens and path segments in this API. */
const key = z.string().trim().regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be 1-128 letters, digits, "_", "." or "-"');
const name = z.string().trim().min(1).max(255);
const type = z.enum(['bool', 'int', 'str', 'b', 'i', 's'], { error: 'must be one of bool, int, str' }).transform(flagType);
/**
 * Kinde's override levels are not modelled: every flag may be overridden by organizations and users.
 * The field is accepted so that Kinde's calls (the SDK's `updateFeatureFlag` requires it) work.
 */
const overrideLevel = z.enum(['env', 'org', 'usr']).optional();

/** Kinde sends values as strings; JSON booleans and numbers are accepted too. */
const createBody = z.object({
  key,
  name,
  description: z.string().max(1024).optional(),
  type,
  allow_override_level: overrideLevel,
  default_value: z.union([z.string().max(1024), z.boolean(), z.number()]),
});
/** Kinde's `PUT /feature_flags/{key}` takes the whole flag in the query string. */
const replaceQuery = z.object({
  name,
  description: z.string().max(1024).optional(),
  type,
  allow_override_level: overrideLevel,
  default_value: z.string().max(1024),
});
const valueQuery = z.object({ value: z.string().max(1024) });

/** The management API's string form of a value (`get_organization_feature_flags_response`). */
const asString = (value: FlagValue) => String(value);

/** Kinde's flag values by key, as strings: `{ "theme": { "type": "str", "value": "dark" } }`. */
const flagValues = okWith({ feature_flags: z.record(z.string(), z.object({ type: z.enum(['bool', 'int', 'str']), value: z.string() })) });

export function featureFlagRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(router, { method: 'POST', path: '/feature_flags', scope: 'update:feature_flags', summary: 'Create a feature flag', body: createBody, status: 201, response: okResponse }, async ({ body }) => {
    await createFeatureFlag(db, { key: body.key, name: body.name, description: body.description || null, type: body.type, defaultValue: body.default_value });
    return OK;
  });

  route(
    router,
    { method: 'PUT', path: '/feature_flags/:feature_flag_key', scope: 'update:feature_flags', summary: 'Replace a feature flag', query: replaceQuery, response: okResponse },
    async ({ params, query }) => {
      await updateFeatureFlag(db, params.feature_flag_key, {
        name: query.name,
        description: query.description || null,
        type: query.type,
        defaultValue: query.default_value,
      });
      return OK;
    },
  );

  route(router, { method: 'DELETE', path: '/feature_flags/:feature_flag_key', scope: 'update:feature_flags', summary: 'Delete a feature flag', response: okResponse }, async ({ params }) => {
    await deleteFeatureFlag(db, params.feature_flag_key);
    return OK;
  });

  // Kinde's `get_environment_feature_flags_response`: every flag with its environment value.
  route(router, { method: 'GET', path: '/environment/feature_flags', scope: 'read:feature_flags', summary: "List the environment's feature flags", response: flagValues }, async () => {
    const flags = await listFeatureFlags(db);
    return { ...OK, feature_flags: Object.fromEntries(flags.map((f) => [f.key, { type: kindeFlagType(f.type), value: asString(f.defaultValue) }])) };
  });

  route(
    router,
    { method: 'GET', path: '/organizations/:org_code/feature_flags', scope: 'read:organizations', summary: "List an organization's feature flag values", response: flagValues },
    async ({ params }) => {
      const flags = await organizationFeatureFlags(db, params.org_code);
      return { ...OK, feature_flags: Object.fromEntries(flags.map((f) => [f.key, { type: kindeFlagType(f.type), value: asString(f.value) }])) };
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/feature_flags', scope: 'update:organizations', summary: "Delete an organization's feature flag overrides", response: okResponse },
    async ({ params }) => {
      await deleteOrganizationFeatureFlags(db, params.org_code);
      return OK;
    },
  );

  route(
    router,
    {
      method: 'PATCH',
      path: '/organizations/:org_code/feature_flags/:feature_flag_key',
      scope: 'update:organizations',
      summary: "Override a feature flag's value for an organization",
      query: valueQuery,
      response: okResponse,
    },
    async ({ params, query }) => {
      await setOrganizationFeatureFlag(db, params.org_code, params.feature_flag_key, query.value);
      return OK;
    },
  );

  route(
    router,
    { method: 'DELETE', path: '/organizations/:org_code/feature_flags/:feature_flag_key', scope: 'update:organizations', summary: "Delete an organization's override of a feature flag", response: okResponse },
    async ({ params }) => {
      await deleteOrganizationFeatureFlag(db, params.org_code, params.feature_flag_key);
      return OK;
    },
  );

  route(
    router,
    { method: 'PATCH', path: '/users/:user_id/feature_flags/:feature_flag_key', scope: 'update:users', summary: "Override a feature flag's value for a user", query: valueQuery, response: okResponse },
    async ({ params, query }) => {
      await setUserFeatureFlag(db, params.user_id, params.feature_flag_key, query.value);
      return OK;
    },
  );

  // Gatehouse extension: Kinde has no way to take a user's override back.
  route(
    router,
    { method: 'DELETE', path: '/users/:user_id/feature_flags/:feature_flag_key', scope: 'update:users', summary: "Delete a user's override of a feature flag", response: okResponse },
    async ({ params }) => {
      await deleteUserFeatureFlag(db, params.user_id, params.feature_flag_key);
      return OK;
    },
  );
}
