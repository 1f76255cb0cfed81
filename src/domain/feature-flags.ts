import { clock } from '../clock.ts';
import type { Expression } from 'kysely';
import { type Db, inTransaction, isForeignKeyViolation, isUniqueViolation } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import type { FeatureFlagsTable } from '../store/schema.ts';
import { DomainError } from './errors.ts';
import { recordEvent } from './events/outbox.ts';
import { requireOrganization } from './organizations.ts';
import { requireUser } from './users.ts';

/**
 * Feature flags as Kinde's tokens carry them (contract doc: `feature_flags: {"<key>": {t, v}}`, `t`
 * one of b(oolean), i(nteger), s(tring)). A flag has an environment default; an organization may
 * override it, and a user may override that.
 */
export type FlagType = 'b' | 'i' | 's';
export type FlagValue = boolean | number | string;

export interface FeatureFlag {
  key: string;
  name: string;
  description: string | null;
  type: FlagType;
  defaultValue: FlagValue;
  createdAt: number;
}

export interface FlagClaim {
  t: FlagType;
  v: FlagValue;
}

/** Kinde's management API names the types `bool`, `int` and `str`. */
const KINDE_TYPE_NAMES = { b: 'bool', i: 'int', s: 'str' } as const satisfies Record<FlagType, string>;
export type KindeFlagType = (typeof KINDE_TYPE_NAMES)[FlagType];

export function kindeFlagType(type: FlagType): KindeFlagType {
  return KINDE_TYPE_NAMES[type];
}

/** Either spelling: the token's `b`/`i`/`s` or the management API's `bool`/`int`/`str`. */
export function flagType(name: string): FlagType {
  const type = (Object.keys(KINDE_TYPE_NAMES) as FlagType[]).find((t) => t === name || KINDE_TYPE_NAMES[t] === name);
  if (!type) throw new DomainError('INVALID_REQUEST', `type: must be one of bool, int, str`, 400);
  return type;
}

const MAX_STRING_VALUE = 1024;

/**
 * A value of the flag's type. Strings are parsed the way Kinde's API sends them (`?value=true`,
 * `default_value: "42"`); anything else must already have the type.
 */
export function parseFlagValue(type: FlagType, value: FlagValue): FlagValue {
  const refuse = (expected: string) => new DomainError('INVALID_FLAG_VALUE', `The value must be ${expected}`, 400);
  if (type === 'b') {
    if (typeof value === 'boolean') return value;
    if (value === 'true' || value === 'false') return value === 'true';
    throw refuse('true or false');
  }
  if (type === 'i') {
    const number = typeof value === 'string' && /^-?\d{1,16}$/.test(value.trim()) ? Number(value.trim()) : value;
    if (typeof number === 'number' && Number.isSafeInteger(number)) return number;
    throw refuse('a whole number');
  }
  if (typeof value !== 'string') throw refuse('a string');
  if (value.length > MAX_STRING_VALUE) throw refuse(`at most ${MAX_STRING_VALUE} characters`);
  return value;
}

/** A stored (JSON) value, or undefined when it no longer fits the flag's type. */
function storedValue(type: FlagType, json: string | null | undefined): FlagValue | undefined {
  if (json === null || json === undefined) return undefined;
  const value = JSON.parse(json) as unknown;
  const fits = type === 'b' ? typeof value === 'boolean' : type === 'i' ? Number.isSafeInteger(value) : typeof value === 'string';
  return fits ? (value as FlagValue) : undefined;
}

/**
 * The flags that apply to a person (issue: "environment default, organization override, user
 * override"): each flag's default, replaced by the organization's value, replaced by the user's.
 */
export function resolveFeatureFlags(
  flags: ReadonlyArray<{ key: string; type: FlagType; defaultValue: FlagValue }>,
  organizationValues: Readonly<Record<string, FlagValue>>,
  userValues: Readonly<Record<string, FlagValue>>,
): Record<string, FlagClaim> {
  // Keys are data: `constructor` or `__proto__` must not reach Object.prototype (own properties only).
  const own = (values: Readonly<Record<string, FlagValue>>, key: string) => (Object.hasOwn(values, key) ? values[key] : undefined);
  return Object.fromEntries(
    flags.map((flag) => [flag.key, { t: flag.type, v: own(userValues, flag.key) ?? own(organizationValues, flag.key) ?? flag.defaultValue }]),
  );
}

const toFeatureFlag = (row: FeatureFlagsTable): FeatureFlag => ({
  key: row.key,
  name: row.name,
  description: row.description,
  type: row.type,
  defaultValue: storedValue(row.type, row.default_value) ?? '',
  createdAt: row.created_at,
});

const flagNotFound = () => new DomainError('FEATURE_FLAG_INVALID', 'Feature flag not found', 404);

export interface NewFeatureFlag {
  key: string;
  name: string;
  description?: string | null;
  type: FlagType;
  defaultValue: FlagValue;
}

export async function createFeatureFlag(db: Db, input: NewFeatureFlag): Promise<FeatureFlag> {
  const row: FeatureFlagsTable = {
    key: input.key,
    name: input.name,
    description: input.description ?? null,
    type: input.type,
    default_value: JSON.stringify(parseFlagValue(input.type, input.defaultValue)),
    created_at: clock.now(),
  };
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('feature_flags').values(row).execute();
      await recordEvent(tx, { type: 'feature_flag.created', subject: row.key, detail: { key: row.key, type: row.type, default_value: JSON.parse(row.default_value) } });
    });
  } catch (error) {
    if (isUniqueViolation(error)) throw new DomainError('FEATURE_FLAG_EXISTS', `A feature flag with the key "${input.key}" already exists`, 409);
    throw error;
  }
  return toFeatureFlag(row);
}

export async function findFeatureFlag(db: Db, key: string): Promise<FeatureFlag | undefined> {
  const row = await db.selectFrom('feature_flags').selectAll().where('key', '=', key).executeTakeFirst();
  return row && toFeatureFlag(row);
}

export async function requireFeatureFlag(db: Db, key: string): Promise<FeatureFlag> {
  const flag = await findFeatureFlag(db, key);
  if (!flag) throw flagNotFound();
  return flag;
}

export async function listFeatureFlags(db: Db): Promise<FeatureFlag[]> {
  const rows = await db.selectFrom('feature_flags').selectAll().orderBy('created_at').orderBy('key').execute();
  return rows.map(toFeatureFlag);
}

/**
 * Kinde's `PUT /feature_flags/{key}` replaces the flag. Its type may only change while nobody
 * overrides it: the overrides' values would stop making sense.
 */
export async function updateFeatureFlag(db: Db, key: string, input: Omit<NewFeatureFlag, 'key'>): Promise<FeatureFlag> {
  const defaultValue = JSON.stringify(parseFlagValue(input.type, input.defaultValue));
  return inTransaction(db, async (tx) => {
    // A no-op update takes the row lock (PostgreSQL; SQLite serialises writers anyway).
    const locked = await tx.updateTable('feature_flags').set((eb) => ({ name: eb.ref('name') })).where('key', '=', key).executeTakeFirst();
    if (locked.numUpdatedRows === 0n) throw flagNotFound();
    const current = await tx.selectFrom('feature_flags').select(['type', 'name', 'default_value']).where('key', '=', key).executeTakeFirstOrThrow();
    if (current.type !== input.type) {
      const overridden =
        (await tx.selectFrom('organization_feature_flags').select('flag_key').where('flag_key', '=', key).limit(1).executeTakeFirst()) ??
        (await tx.selectFrom('user_feature_flags').select('flag_key').where('flag_key', '=', key).limit(1).executeTakeFirst());
      if (overridden) {
        throw new DomainError('FEATURE_FLAG_OVERRIDDEN', 'The type of a flag that organizations or users override cannot change: delete the overrides first', 400);
      }
    }
    await tx
      .updateTable('feature_flags')
      .set({ name: input.name, description: input.description ?? null, type: input.type, default_value: defaultValue })
      .where('key', '=', key)
      .execute();
    const row = await tx.selectFrom('feature_flags').selectAll().where('key', '=', key).executeTakeFirstOrThrow();
    await recordEvent(tx, {
      type: 'feature_flag.updated',
      subject: key,
      detail: { key, type: row.type, default_value: JSON.parse(row.default_value), previous: { name: current.name, type: current.type, default_value: JSON.parse(current.default_value) } },
    });
    return toFeatureFlag(row);
  });
}

/** Its overrides go with it (the schema cascades). */
export async function deleteFeatureFlag(db: Db, key: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    const result = await tx.deleteFrom('feature_flags').where('key', '=', key).executeTakeFirst();
    if (result.numDeletedRows === 0n) throw flagNotFound();
    await recordEvent(tx, { type: 'feature_flag.deleted', subject: key, detail: { key } });
  });
}

/** A foreign key answers for an organization, user or flag deleted since it was checked. */
async function writingOverride(work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (isForeignKeyViolation(error)) throw new DomainError('FEATURE_FLAG_INVALID', 'The feature flag or its owner no longer exists', 404);
    throw error;
  }
}

/** An override's stored value, parsed; null when there is none. */
const overrideOf = (row: { value: string } | undefined): FlagValue | null => (row ? (JSON.parse(row.value) as FlagValue) : null);

export async function setOrganizationFeatureFlag(db: Db, orgCode: string, key: string, value: FlagValue): Promise<void> {
  await requireOrganization(db, orgCode);
  const flag = await requireFeatureFlag(db, key);
  const parsed = parseFlagValue(flag.type, value);
  const json = JSON.stringify(parsed);
  await inTransaction(db, async (tx) => {
    const previous = await tx.selectFrom('organization_feature_flags').select('value').where('organization_code', '=', orgCode).where('flag_key', '=', key).executeTakeFirst();
    await writingOverride(() =>
      tx
        .insertInto('organization_feature_flags')
        .values({ organization_code: orgCode, flag_key: key, value: json })
        .onConflict((oc) => oc.columns(['organization_code', 'flag_key']).doUpdateSet({ value: json }))
        .execute(),
    );
    await recordEvent(tx, { type: 'organization.feature_flag_set', subject: orgCode, detail: { key, value: parsed, previous_value: overrideOf(previous) } });
  });
}

/** Back to the environment default for this organization (idempotent). */
export async function deleteOrganizationFeatureFlag(db: Db, orgCode: string, key: string): Promise<void> {
  await requireOrganization(db, orgCode);
  await requireFeatureFlag(db, key);
  await removeOrganizationOverrides(db, orgCode, key);
}

export async function deleteOrganizationFeatureFlags(db: Db, orgCode: string): Promise<void> {
  await requireOrganization(db, orgCode);
  await removeOrganizationOverrides(db, orgCode);
}

/** One override (`key`) or all of them, with the keys that had one in the event. */
async function removeOrganizationOverrides(db: Db, orgCode: string, key?: string): Promise<void> {
  await inTransaction(db, async (tx) => {
    let removing = tx.deleteFrom('organization_feature_flags').where('organization_code', '=', orgCode);
    if (key !== undefined) removing = removing.where('flag_key', '=', key);
    const removed = await removing.returning('flag_key').execute();
    await recordEvent(tx, { type: 'organization.feature_flag_removed', subject: orgCode, detail: { keys: removed.map((row) => row.flag_key).sort() } });
  });
}

/** Every flag with the value it has in the organization (its override, else the default). */
export async function organizationFeatureFlags(db: Db, orgCode: string): Promise<Array<{ key: string; type: FlagType; value: FlagValue }>> {
  await requireOrganization(db, orgCode);
  const rows = await db
    .selectFrom('feature_flags')
    .leftJoin('organization_feature_flags', (join) =>
      join.onRef('organization_feature_flags.flag_key', '=', 'feature_flags.key').on('organization_feature_flags.organization_code', '=', orgCode),
    )
    .select(['feature_flags.key', 'feature_flags.type', 'feature_flags.default_value', 'organization_feature_flags.value'])
    .orderBy('feature_flags.key')
    .execute();
  return rows.map((row) => ({
    key: row.key,
    type: row.type,
    value: storedValue(row.type, row.value) ?? storedValue(row.type, row.default_value) ?? '',
  }));
}

export async function setUserFeatureFlag(db: Db, userId: string, key: string, value: FlagValue): Promise<void> {
  await requireUser(db, userId);
  const flag = await requireFeatureFlag(db, key);
  const parsed = parseFlagValue(flag.type, value);
  const json = JSON.stringify(parsed);
  await inTransaction(db, async (tx) => {
    const previous = await tx.selectFrom('user_feature_flags').select('value').where('user_id', '=', userId).where('flag_key', '=', key).executeTakeFirst();
    await writingOverride(() =>
      tx
        .insertInto('user_feature_flags')
        .values({ user_id: userId, flag_key: key, value: json })
        .onConflict((oc) => oc.columns(['user_id', 'flag_key']).doUpdateSet({ value: json }))
        .execute(),
    );
    await recordEvent(tx, { type: 'user.feature_flag_set', subject: userId, detail: { key, value: parsed, previous_value: overrideOf(previous) } });
  });
}

export async function deleteUserFeatureFlag(db: Db, userId: string, key: string): Promise<void> {
  await requireUser(db, userId);
  await requireFeatureFlag(db, key);
  await inTransaction(db, async (tx) => {
    const removed = await tx.deleteFrom('user_feature_flags').where('user_id', '=', userId).where('flag_key', '=', key).returning('value').executeTakeFirst();
    await recordEvent(tx, { type: 'user.feature_flag_removed', subject: userId, detail: { key, previous_value: overrideOf(removed) } });
  });
}

const flagsWithOverrides = preparedQuery((db, { orgCode, userId }: { orgCode: string; userId: string }) => flagsWithOverridesQuery(db, orgCode, userId));

/**
 * Every flag with this organization's and this person's values (every token request reads it).
 * `orgCode` may be a subquery (the token's claim set); '' matches no organization.
 */
export function flagsWithOverridesQuery(db: Db, orgCode: string | Expression<string>, userId: string | Expression<string>) {
  return db
    .selectFrom('feature_flags')
    .leftJoin('organization_feature_flags', (join) =>
      join.onRef('organization_feature_flags.flag_key', '=', 'feature_flags.key').on('organization_feature_flags.organization_code', '=', orgCode),
    )
    .leftJoin('user_feature_flags', (join) => join.onRef('user_feature_flags.flag_key', '=', 'feature_flags.key').on('user_feature_flags.user_id', '=', userId))
    .select([
      'feature_flags.key',
      'feature_flags.type',
      'feature_flags.default_value',
      'organization_feature_flags.value as organization_value',
      'user_feature_flags.value as user_value',
    ])
    .orderBy('feature_flags.key');
}

/**
 * The `feature_flags` claim for a person, in the organization their token speaks for (if any): one
 * query, since it runs for every token issued.
 */
export async function featureFlagsFor(db: Db, orgCode: string | undefined, userId: string): Promise<Record<string, FlagClaim>> {
  // Organization codes are never empty: without an organization, no override matches.
  return toFlagClaims((await flagsWithOverrides(db, { orgCode: orgCode ?? '', userId })).rows);
}

/** The rows of `flagsWithOverridesQuery` as the `feature_flags` claim. */
export function toFlagClaims(
  rows: ReadonlyArray<{ key: string; type: FeatureFlagsTable['type']; default_value: string | null; organization_value: string | null; user_value: string | null }>,
): Record<string, FlagClaim> {
  const valuesOf = (column: 'organization_value' | 'user_value') =>
    Object.fromEntries(
      rows.flatMap((row) => {
        const value = storedValue(row.type, row[column]);
        return value === undefined ? [] : [[row.key, value] as const];
      }),
    );
  const flags = rows.map((row) => ({ key: row.key, type: row.type, defaultValue: storedValue(row.type, row.default_value) ?? '' }));
  return resolveFeatureFlags(flags, valuesOf('organization_value'), valuesOf('user_value'));
}
