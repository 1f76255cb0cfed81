import type Router from '@koa/router';
import { z } from 'zod';
import { assertThat } from '../domain/errors.ts';
import { identityProblem } from '../domain/identities.ts';
import { addMember, organizationCodesOf, requireOrganization } from '../domain/organizations.ts';
import {
  createUser,
  deleteUser,
  type IdentityType,
  listUsers,
  type NewIdentity,
  primaryIdentity,
  refreshClaims,
  requireUser,
  updateUser,
  type User,
  type UserFilter,
} from '../domain/users.ts';
import type { Services } from '../services.ts';
import { OK, pageOf, pageQuery, pageRequest } from './input.ts';
import { dateTime, nextToken, okResponse, okWith } from './responses.ts';
import { route } from './route.ts';

const personName = z.string().trim().max(255);
const picture = z.url({ protocol: /^https?$/, error: 'must be an absolute http(s) URL' }).max(2048);
/** Kinde's list filters: comma-separated values, each matched exactly (emails and usernames case-insensitively). */
const commaList = (what: string) =>
  z
    .string()
    .transform((list) => list.split(',').map((value) => value.trim()).filter(Boolean))
    .refine((values) => values.length > 0 && values.length <= MAX_FILTER_VALUES, { error: `${what} takes 1 to ${MAX_FILTER_VALUES} comma-separated values` })
    .optional();
const MAX_FILTER_VALUES = 100;
const verified = z.boolean().optional();

/** The same rules as POST /users/{id}/identities (src/domain/identities.ts). */
const identityValue = (type: IdentityType) =>
  z
    .string()
    .trim()
    .superRefine((value, ctx) => {
      const problem = identityProblem(type, value);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    });

const identityInput = z.discriminatedUnion('type', [
  z.object({ type: z.literal('email'), is_verified: verified, details: z.object({ email: identityValue('email') }) }),
  z.object({
    type: z.literal('phone'),
    is_verified: verified,
    details: z.object({ phone: identityValue('phone'), phone_country_id: z.string().regex(/^[A-Za-z]{2}$/).optional() }),
  }),
  z.object({ type: z.literal('username'), is_verified: verified, details: z.object({ username: identityValue('username') }) }),
]);

const createBody = z.object({
  profile: z.object({ given_name: personName.optional(), family_name: personName.optional(), picture: z.union([z.literal(''), picture]).optional() }).optional(),
  provided_id: z.string().min(1).max(255).optional(),
  /** The user joins this organization, with its default roles. */
  organization_code: z.string().min(1).max(64).optional(),
  identities: z.array(identityInput).max(20).default([]),
  /** Gatehouse extensions: Kinde sets these only on an existing user (PATCH) or at sign-up. */
  is_password_reset_requested: z.boolean().optional(),
  accepts_marketing: z.boolean().optional(),
});

const updateBody = z.object({
  given_name: personName.nullable().optional(),
  family_name: personName.nullable().optional(),
  picture: z.union([z.literal(''), z.null(), picture]).optional(),
  is_suspended: z.boolean().optional(),
  provided_id: z.string().max(255).nullable().optional(),
  is_password_reset_requested: z.boolean().optional(),
});

const idQuery = z.object({ id: z.string().min(1), expand: z.string().optional() });
const deleteQuery = z.object({ id: z.string().min(1), is_delete_profile: z.enum(['true', 'false']).optional() });
const listQuery = z.object({
  ...pageQuery,
  expand: z.string().optional(),
  user_id: commaList('user_id'),
  email: commaList('email'),
  username: commaList('username'),
  phone: commaList('phone'),
  has_organization: z.enum(['true', 'false'], { error: 'must be true or false' }).optional(),
  active_since: z.iso.datetime({ offset: true, error: 'must be an ISO 8601 date and time' }).or(z.iso.date()).optional(),
});

const emptyToNull = (value: string | null | undefined) => (value === undefined ? undefined : value === '' ? null : value);
const isoOrNull = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

function toNewIdentity(input: z.output<typeof identityInput>): NewIdentity {
  const isVerified = input.is_verified ?? false;
  if (input.type === 'email') return { type: 'email', value: input.details.email, isVerified };
  if (input.type === 'phone') return { type: 'phone', value: input.details.phone, isVerified };
  return { type: 'username', value: input.details.username, isVerified };
}

const userFieldsSchema = z.object({
  id: z.string(),
  provided_id: z.string().nullable(),
  phone: z.string().nullable(),
  username: z.string().nullable(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  is_suspended: z.boolean(),
  picture: z.string().nullable(),
  is_password_reset_requested: z.boolean(),
  accepts_marketing: z.boolean(),
  total_sign_ins: z.number().int(),
  failed_sign_ins: z.number().int(),
  last_signed_in: dateTime.nullable(),
  created_on: dateTime.nullable(),
  organizations: z.array(z.string()),
});
const userSchema = userFieldsSchema.extend({
  preferred_email: z.string().nullable(),
  identities: z.array(z.object({ type: z.string(), identity: z.string() })),
});
const userListItemSchema = userFieldsSchema.extend({
  email: z.string().nullable(),
  identities: z.array(z.object({ type: z.string(), identity: z.string(), connection_id: z.string().nullable() })),
});

/** Fields shared by Kinde's `user` and `users_response` item. */
function userFields(user: User, organizations: string[]): z.input<typeof userFieldsSchema> {
  return {
    id: user.id,
    provided_id: user.providedId,
    phone: primaryIdentity(user, 'phone')?.value ?? null,
    username: primaryIdentity(user, 'username')?.value ?? null,
    first_name: user.firstName,
    last_name: user.lastName,
    is_suspended: user.isSuspended,
    picture: user.picture,
    is_password_reset_requested: user.isPasswordResetRequested,
    accepts_marketing: user.acceptsMarketing,
    total_sign_ins: user.totalSignIns,
    failed_sign_ins: user.failedSignIns,
    last_signed_in: isoOrNull(user.lastSignedIn),
    created_on: isoOrNull(user.createdAt),
    organizations,
  };
}

/** Kinde names the email `preferred_email` on a single user and `email` in lists. */
function userJson(user: User, organizations: string[]): z.input<typeof userSchema> {
  return {
    ...userFields(user, organizations),
    preferred_email: primaryIdentity(user, 'email')?.value ?? null,
    identities: user.identities.map((i) => ({ type: i.type, identity: i.value })),
  };
}

function userListItemJson(user: User, organizations: string[]): z.input<typeof userListItemSchema> {
  return {
    ...userFields(user, organizations),
    email: primaryIdentity(user, 'email')?.value ?? null,
    identities: user.identities.map((i) => ({ type: i.type, identity: i.value, connection_id: i.connectionId })),
  };
}

/** Section 012: a requested reset is completed with a code sent by email, so the user needs an email. */
function assertResettable(identities: { type: IdentityType }[]): void {
  assertThat(
    identities.some((identity) => identity.type === 'email'),
    'INVALID_REQUEST',
    'is_password_reset_requested: the user has no email to send a reset code to',
  );
}

export function userRoutes(router: Router, services: Services): void {
  const { db } = services;

  /**
   * The new user joins the organization named at creation. Should the organization have gone in the
   * meantime, the user is removed again: a refused request leaves nothing behind.
   */
  async function joinOrUndo(userId: string, organizationCode: string): Promise<void> {
    try {
      await addMember(db, organizationCode, userId);
    } catch (error) {
      await deleteUser(db, userId);
      throw error;
    }
  }

  route(
    router,
    {
      method: 'POST',
      path: '/user',
      scope: 'create:users',
      summary: 'Create a user',
      body: createBody,
      response: z.object({ id: z.string(), created: z.boolean(), identities: z.array(z.object({ type: z.string(), result: z.object({ created: z.boolean() }) })) }),
    },
    async ({ body }) => {
      const identities = body.identities.map(toNewIdentity);
      if (body.is_password_reset_requested) assertResettable(identities);
      // Checked first, so that an unknown organization writes nothing.
      if (body.organization_code) await requireOrganization(db, body.organization_code);
      const user = await createUser(db, {
        firstName: body.profile?.given_name || null,
        lastName: body.profile?.family_name || null,
        picture: body.profile?.picture || null,
        providedId: body.provided_id ?? null,
        identities,
        isPasswordResetRequested: body.is_password_reset_requested,
        acceptsMarketing: body.accepts_marketing,
      });
      if (body.organization_code) await joinOrUndo(user.id, body.organization_code);
      return {
        id: user.id,
        created: true,
        identities: user.identities.map((i) => ({ type: i.type, result: { created: true } })),
      };
    },
  );

  route(router, { method: 'GET', path: '/user', scope: 'read:users', summary: 'Get a user', query: idQuery, response: userSchema }, async ({ query }) => {
    const user = await requireUser(db, query.id);
    return userJson(user, (await organizationCodesOf(db, [user.id])).get(user.id) ?? []);
  });

  route(
    router,
    {
      method: 'PATCH',
      path: '/user',
      scope: 'update:users',
      summary: 'Update a user',
      query: idQuery,
      body: updateBody,
      response: z.object({
        id: z.string(),
        given_name: z.string().nullable(),
        family_name: z.string().nullable(),
        email: z.string().nullable(),
        is_suspended: z.boolean(),
        is_password_reset_requested: z.boolean(),
        picture: z.string().nullable(),
      }),
    },
    async ({ query, body }) => {
      if (body.is_password_reset_requested) assertResettable((await requireUser(db, query.id)).identities);
      const user = await updateUser(db, query.id, {
        firstName: emptyToNull(body.given_name),
        lastName: emptyToNull(body.family_name),
        picture: emptyToNull(body.picture),
        providedId: emptyToNull(body.provided_id),
        isSuspended: body.is_suspended,
        isPasswordResetRequested: body.is_password_reset_requested,
      });
      return {
        id: user.id,
        given_name: user.firstName,
        family_name: user.lastName,
        email: primaryIdentity(user, 'email')?.value ?? null,
        is_suspended: user.isSuspended,
        is_password_reset_requested: user.isPasswordResetRequested,
        picture: user.picture,
      };
    },
  );

  route(router, { method: 'DELETE', path: '/user', scope: 'delete:users', summary: 'Delete a user', query: deleteQuery, response: okResponse }, async ({ query }) => {
    await deleteUser(db, query.id);
    return OK;
  });

  route(
    router,
    { method: 'GET', path: '/users', scope: 'read:users', summary: 'List users', query: listQuery, response: okWith({ users: z.array(userListItemSchema), next_token: nextToken }) },
    async ({ query }) => {
      const filter: UserFilter = {
        ids: query.user_id,
        emails: query.email,
        usernames: query.username,
        phones: query.phone,
        hasOrganization: query.has_organization === undefined ? undefined : query.has_organization === 'true',
        activeSince: query.active_since === undefined ? undefined : Date.parse(query.active_since),
      };
      const page = pageOf(await listUsers(db, pageRequest(query), filter), query.page_size);
      const organizations = await organizationCodesOf(db, page.items.map((user) => user.id));
      return { ...OK, users: page.items.map((user) => userListItemJson(user, organizations.get(user.id) ?? [])), next_token: page.nextToken };
    },
  );

  // Section 050: tokens issued from now on reflect the user's current roles, permissions and flags.
  route(router, { method: 'POST', path: '/users/:user_id/refresh_claims', scope: 'update:users', summary: "Refresh a user's claims", response: okResponse }, async ({ params }) => {
    await refreshClaims(db, params.user_id);
    return OK;
  });
}
