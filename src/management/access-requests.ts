import type Router from '@koa/router';
import { z } from 'zod';
import { type AccessRequest, approveAccessRequest, denyAccessRequest, listAccessRequests } from '../domain/access-requests.ts';
import type { Services } from '../services.ts';
import { OK, pageQuery, pageRequest, readQuery } from './input.ts';

const listQuery = z.object({ ...pageQuery, status: z.enum(['pending', 'approved', 'denied']).optional() });

const iso = (at: number | null) => (at === null ? null : new Date(at).toISOString());

function accessRequestJson(request: AccessRequest) {
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

  router.get('/access_requests', async (ctx) => {
    const query = readQuery(ctx, listQuery);
    const page = await listAccessRequests(db, query.status, pageRequest(query));
    ctx.body = { ...OK, access_requests: page.items.map(accessRequestJson), next_token: page.nextToken };
  });

  router.post('/access_requests/:access_request_id/approve', async (ctx) => {
    const approval = await approveAccessRequest(db, ctx.params.access_request_id!, ctx.state.managementClient ?? null);
    ctx.body = { ...OK, access_request: accessRequestJson(approval.request), user_created: approval.userCreated };
  });

  router.post('/access_requests/:access_request_id/deny', async (ctx) => {
    ctx.body = { ...OK, access_request: accessRequestJson(await denyAccessRequest(db, ctx.params.access_request_id!, ctx.state.managementClient ?? null)) };
  });
}
