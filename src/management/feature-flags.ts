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
import { OK, readBody, readQuery } from './input.ts';

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

export function featureFlagRoutes(router: Router, services: Services): void {
  const { db } = services;

  router.post('/feature_flags', async (ctx) => {
    const body = await readBody(ctx, createBody);
    await createFeatureFlag(db, { key: body.key, name: body.name, description: body.description || null, type: body.type, defaultValue: body.default_value });
    ctx.status = 201;
    ctx.body = OK;
  });

  router.put('/feature_flags/:feature_flag_key', async (ctx) => {
    const query = readQuery(ctx, replaceQuery);
    await updateFeatureFlag(db, ctx.params.feature_flag_key!, {
      name: query.name,
      description: query.description || null,
      type: query.type,
      defaultValue: query.default_value,
    });
    ctx.body = OK;
  });

  router.delete('/feature_flags/:feature_flag_key', async (ctx) => {
    await deleteFeatureFlag(db, ctx.params.feature_flag_key!);
    ctx.body = OK;
  });

  // Kinde's `get_environment_feature_flags_response`: every flag with its environment value.
  router.get('/environment/feature_flags', async (ctx) => {
    const flags = await listFeatureFlags(db);
    ctx.body = { ...OK, feature_flags: Object.fromEntries(flags.map((f) => [f.key, { type: kindeFlagType(f.type), value: asString(f.defaultValue) }])) };
  });

  router.get('/organizations/:org_code/feature_flags', async (ctx) => {
    const flags = await organizationFeatureFlags(db, ctx.params.org_code!);
    ctx.body = { ...OK, feature_flags: Object.fromEntries(flags.map((f) => [f.key, { type: kindeFlagType(f.type), value: asString(f.value) }])) };
  });

  router.delete('/organizations/:org_code/feature_flags', async (ctx) => {
    await deleteOrganizationFeatureFlags(db, ctx.params.org_code!);
    ctx.body = OK;
  });

  router.patch('/organizations/:org_code/feature_flags/:feature_flag_key', async (ctx) => {
    const { value } = readQuery(ctx, valueQuery);
    await setOrganizationFeatureFlag(db, ctx.params.org_code!, ctx.params.feature_flag_key!, value);
    ctx.body = OK;
  });

  router.delete('/organizations/:org_code/feature_flags/:feature_flag_key', async (ctx) => {
    await deleteOrganizationFeatureFlag(db, ctx.params.org_code!, ctx.params.feature_flag_key!);
    ctx.body = OK;
  });

  router.patch('/users/:user_id/feature_flags/:feature_flag_key', async (ctx) => {
    const { value } = readQuery(ctx, valueQuery);
    await setUserFeatureFlag(db, ctx.params.user_id!, ctx.params.feature_flag_key!, value);
    ctx.body = OK;
  });

  // Gatehouse extension: Kinde has no way to take a user's override back.
  router.delete('/users/:user_id/feature_flags/:feature_flag_key', async (ctx) => {
    await deleteUserFeatureFlag(db, ctx.params.user_id!, ctx.params.feature_flag_key!);
    ctx.body = OK;
  });
}
