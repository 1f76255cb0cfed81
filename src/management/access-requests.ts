import type Router from '@koa/router';
import { z } from 'zod';
import { type AccessRequest, approveAccessRequest, denyAccessRequest, listAccessRequests } from '../domain/access-requests.ts';
import type { Services } from '../services.ts';
import { OK, pageQuery, pageRequest } from './input.ts';
import { dateTime, nextToken, okWith } from './responses.ts';
import { route } from './route.ts';

const listQuery = z.object({ ...pageQuery, status: z.enum(['pending', 'approved', 'denied']).optional() });

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

const accessRequestSchema = z.object({
  id: z.string(),
  email: z.string(),
  first_name: z.string().nullable(),
  last_name: z.string().nullable(),
  user_id: z.string().nullable(),
  organization_code: z.string().nullable(),
  application_id: z.string().nullable(),
  /** Filed from a social or enterprise sign-in: the connection whose identity approval links. */
  connection_id: z.string().nullable(),
  status: z.enum(['pending', 'approved', 'denied']),
  created_on: dateTime.nullable(),
  decided_on: dateTime.nullable(),
});

function accessRequestJson(request: AccessRequest): z.input<typeof accessRequestSchema> {
  return {
    id: request.id,
    email: request.email,
    first_name: request.firstName,
    last_name: request.lastName,
    user_id: request.userId,
    organization_code: request.organizationCode,
    application_id: request.applicationId,
    // Filed from a social or enterprise sign-in: approval links that connection's identity.
    connection_id: request.providerIdentity?.connectionId ?? null,
    status: request.status,
    created_on: iso(request.createdAt),
    decided_on: iso(request.decidedAt),
  };
}

/**
 * Gatehouse extension: the access requests people file from the hosted pages when they may not sign
 * up (domain/access-requests.ts), listed oldest first and decided by an administrator.
 */
export function accessRequestRoutes(router: Router, services: Services): void {
  const { db } = services;

  route(
    router,
    { method: 'GET', path: '/access_requests', scope: 'read:access_requests', summary: 'List access requests', query: listQuery, response: okWith({ access_requests: z.array(accessRequestSchema), next_token: nextToken }) },
    async ({ query }) => {
      const page = await listAccessRequests(db, query.status, pageRequest(query));
      return { ...OK, access_requests: page.items.map(accessRequestJson), next_token: page.nextToken };
    },
  );

  route(
    router,
    {
      method: 'POST',
      path: '/access_requests/:access_request_id/approve',
      scope: 'update:access_requests',
      summary: 'Approve an access request',
      response: okWith({ access_request: accessRequestSchema, user_created: z.boolean() }),
    },
    async ({ params }, ctx) => {
      const approval = await approveAccessRequest(db, params.access_request_id, ctx.state.managementClient ?? null);
      return { ...OK, access_request: accessRequestJson(approval.request), user_created: approval.userCreated };
    },
  );

  route(
    router,
    { method: 'POST', path: '/access_requests/:access_request_id/deny', scope: 'update:access_requests', summary: 'Deny an access request', response: okWith({ access_request: accessRequestSchema }) },
    async ({ params }, ctx) => {
      return { ...OK, access_request: accessRequestJson(await denyAccessRequest(db, params.access_request_id, ctx.state.managementClient ?? null)) };
    },
  );
}
