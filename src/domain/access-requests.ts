import { clock } from '../clock.ts';
import { newId } from '../crypto/ids.ts';
import { type Db, inTransaction, isUniqueViolation, type Tx } from '../store/db.ts';
import { keysetPage, type Page, type PageRequest, toPage } from '../store/pagination.ts';
import type { AccessRequestsTable } from '../store/schema.ts';
import { DomainError } from './errors.ts';
import { recordEvent } from './events/outbox.ts';
import { membershipData, userData } from './events/payloads.ts';
import { recordAudit } from './audit.ts';
import { addMember, findOrganization } from './organizations.ts';
import { type ProviderIdentity, providerIdentityRow } from './provider-identities.ts';
import { isEnterpriseStrategy } from './strategies.ts';
import { createUser, findUser, findUserByIdentity, normalizeIdentity, type User } from './users.ts';

/**
 * Access requests: when self sign-up is closed (the environment's, or an organization that takes no
 * registrations), a person asks for access from the hosted pages instead of meeting a dead end, and
 * an administrator approves or denies it through the management API. Decisions, as Kinde and
 * Keycloak users expect them:
 * - A request is only ever filed for an email its author controls: a one-time code proved it, or the
 *   sign-in that asks (a member of another organization) already proved the person.
 * - No account exists until approval: a stranger's request creates nothing a sign-in could use, and
 *   `access_request.created` says `user_id: ""` (Kinde's field is a string) until then. A person who
 *   already has an account is named by it.
 * - One pending request per email and organization: asking again while one waits changes nothing
 *   (and records no second event); once decided, the person may ask again.
 * - Approval creates the account with the verified email and the names given, without sending
 *   anything (Gatehouse has no invitation email: the person signs in with a code when told), and adds
 *   the organization membership asked for.
 * - A request filed from a social or enterprise sign-in names the provider's person; approval links
 *   that identity, so the person signs in with the provider afterwards (as a sign-up through it would
 *   have left them). Until then nothing of it is written but the request.
 */

export type AccessRequestStatus = AccessRequestsTable['status'];

export interface AccessRequest {
  id: string;
  email: string;
  firstName: string | null;
  lastName: string | null;
  userId: string | null;
  organizationCode: string | null;
  applicationId: string | null;
  status: AccessRequestStatus;
  createdAt: number;
  decidedAt: number | null;
  /** Filed from a social or enterprise sign-in: linked to the account on approval. */
  providerIdentity: ProviderIdentity | null;
}

const toAccessRequest = (row: AccessRequestsTable): AccessRequest => ({
  id: row.id,
  email: row.email,
  firstName: row.first_name,
  lastName: row.last_name,
  userId: row.user_id,
  organizationCode: row.organization_code,
  applicationId: row.application_id,
  status: row.status,
  createdAt: row.created_at,
  decidedAt: row.decided_at,
  providerIdentity: row.connection_id && row.provider_subject ? { connectionId: row.connection_id, subject: row.provider_subject, label: row.provider_label ?? row.provider_subject } : null,
});

/** Who asks (their account when they have one: a phone-only person has no email), and for what. */
const pendingKey = (input: NewAccessRequest) => `${input.userId ? `user:${input.userId}` : normalizeIdentity('email', input.email)}|${input.organizationCode ?? ''}`;

/** `access_request.created`'s data, in `@kinde/webhooks`' shape: strings, "" for what is not known. */
const createdData = (request: AccessRequestsTable) => ({
  access_request: { email: request.email, first_name: request.first_name ?? '', last_name: request.last_name ?? '', user_id: request.user_id ?? '' },
});

export interface NewAccessRequest {
  /** Proven by its author (see above). */
  email: string;
  firstName?: string | undefined;
  lastName?: string | undefined;
  userId?: string | undefined;
  organizationCode?: string | undefined;
  applicationId?: string | undefined;
  /** The provider's person, when a social or enterprise sign-in asks. */
  providerIdentity?: ProviderIdentity | undefined;
}

/** Files a request, or finds the one already waiting for this email and organization (`created: false`). */
export async function fileAccessRequest(db: Db, input: NewAccessRequest): Promise<{ request: AccessRequest; created: boolean }> {
  const organizationCode = input.organizationCode ?? null;
  const row: AccessRequestsTable = {
    id: newId.accessRequest(),
    email: input.email.trim(),
    first_name: input.firstName?.trim() || null,
    last_name: input.lastName?.trim() || null,
    user_id: input.userId ?? null,
    organization_code: organizationCode,
    application_id: input.applicationId ?? null,
    status: 'pending',
    pending_key: pendingKey(input),
    created_at: clock.now(),
    decided_at: null,
    decided_by: null,
    connection_id: input.providerIdentity?.connectionId ?? null,
    provider_subject: input.providerIdentity?.subject ?? null,
    provider_label: input.providerIdentity?.label ?? null,
  };
  try {
    await inTransaction(db, async (tx) => {
      await tx.insertInto('access_requests').values(row).execute();
      // The request and its event commit together (DESIGN.md §5b).
      await recordEvent(tx, { type: 'access_request.created', actor: row.user_id, subject: row.id, data: createdData(row), detail: { organization_code: organizationCode, application_id: row.application_id } });
    });
    return { request: toAccessRequest(row), created: true };
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const waiting = await db.selectFrom('access_requests').selectAll().where('pending_key', '=', row.pending_key).executeTakeFirst();
    // Decided in between: the person may simply ask again.
    if (!waiting) return fileAccessRequest(db, input);
    return { request: toAccessRequest(waiting), created: false };
  }
}

/** Oldest first, optionally only those with `status`. */
export async function listAccessRequests(db: Db, status: AccessRequestStatus | undefined, page: PageRequest): Promise<Page<AccessRequest>> {
  let query = db.selectFrom('access_requests').selectAll();
  if (status) query = query.where('status', '=', status);
  const result = toPage(await keysetPage(query, page).execute(), page.pageSize);
  return { items: result.items.map(toAccessRequest), nextToken: result.nextToken };
}

/** Takes the request for deciding: it must exist and still be pending (another decision may have won). */
async function pendingRequest(tx: Tx, id: string): Promise<AccessRequestsTable> {
  // A no-op update takes the row lock (PostgreSQL; SQLite serialises writers anyway).
  await tx.updateTable('access_requests').set((eb) => ({ status: eb.ref('status') })).where('id', '=', id).execute();
  const row = await tx.selectFrom('access_requests').selectAll().where('id', '=', id).executeTakeFirst();
  if (!row) throw new DomainError('ACCESS_REQUEST_NOT_FOUND', 'Access request not found', 404);
  if (row.status !== 'pending') throw new DomainError('ACCESS_REQUEST_DECIDED', `This access request was already ${row.status}`, 409);
  return row;
}

async function decided(tx: Tx, row: AccessRequestsTable, status: 'approved' | 'denied', decidedBy: string | null, userId: string | null): Promise<AccessRequest> {
  const set = { status, user_id: userId, pending_key: null, decided_at: clock.now(), decided_by: decidedBy };
  await tx.updateTable('access_requests').set(set).where('id', '=', row.id).execute();
  return toAccessRequest({ ...row, ...set });
}

export interface Approval {
  request: AccessRequest;
  /** False when the person already had an account. */
  userCreated: boolean;
}

/**
 * Lets the person in: their account (found by the request's user, else by its email, else created
 * with the verified email and the names given) and the organization's membership, with their events.
 */
export async function approveAccessRequest(db: Db, id: string, decidedBy: string | null): Promise<Approval> {
  return inTransaction(db, async (tx) => {
    const row = await pendingRequest(tx, id);
    if (row.organization_code && !(await findOrganization(tx, row.organization_code))) {
      throw new DomainError('ORGANIZATION_INVALID', 'The organization this request is for no longer exists: deny it', 409);
    }
    let user = (row.user_id ? await findUser(tx, row.user_id) : undefined) ?? (await findUserByIdentity(tx, 'email', row.email));
    const userCreated = !user;
    if (!user) {
      user = await createUser(tx, { firstName: row.first_name, lastName: row.last_name, identities: [{ type: 'email', value: row.email, isVerified: true, connectionId: null }] });
    }
    const linked = await linkProviderIdentity(tx, user, toAccessRequest(row).providerIdentity);
    const joined = row.organization_code !== null && (await addMember(tx, row.organization_code, user.id));
    // In the order a receiver expects (POST /user's): the user, with its membership, then the membership.
    if (userCreated) await recordEvent(tx, { type: 'user.created', subject: user.id, data: await userData(tx, (await findUser(tx, user.id))!) });
    if (linked) await recordAudit(tx, { type: 'user.identity_linked', subject: user.id, detail: { connection_id: row.connection_id, proven_by: 'access_request', access_request_id: id } });
    if (joined) await recordEvent(tx, { type: 'organization.user_added', subject: user.id, data: membershipData(row.organization_code!, user.id) });
    const request = await decided(tx, row, 'approved', decidedBy, user.id);
    await recordEvent(tx, { type: 'access_request.approved', subject: id, detail: { email: row.email, user_id: user.id, organization_code: row.organization_code, user_created: userCreated } });
    return { request, userCreated };
  });
}

/**
 * The provider identity a request names joins the account (after its email, so identities list in
 * the order they came). Nothing is linked when the connection is gone (the person signs in with a
 * code instead), nor a second enterprise identity (section 007: one per user).
 */
async function linkProviderIdentity(tx: Tx, user: User, identity: ProviderIdentity | null): Promise<boolean> {
  if (!identity) return false;
  const connection = await tx.selectFrom('connections').select('strategy').where('id', '=', identity.connectionId).executeTakeFirst();
  if (!connection) return false;
  const row = providerIdentityRow(user.id, connection.strategy, identity, clock.now() + 1);
  const holder = await tx.selectFrom('identities').select('user_id').where('type', '=', row.type).where('normalized_value', '=', row.normalized_value).executeTakeFirst();
  // The person signed up through the provider meanwhile (sign-up reopened): already theirs.
  if (holder?.user_id === user.id) return false;
  if (holder) throw new DomainError('USER_IDENTITY_EXISTS', 'The provider account this request came from now belongs to another user: deny it', 409);
  if (isEnterpriseStrategy(connection.strategy) && user.identities.some((held) => isEnterpriseStrategy(held.type))) return false;
  try {
    await tx.insertInto('identities').values(row).execute();
  } catch (error) {
    // Linked to someone else between the check and the insert (a sign-in through the provider).
    if (isUniqueViolation(error)) throw new DomainError('USER_IDENTITY_EXISTS', 'The provider account this request came from now belongs to another user: deny it', 409);
    throw error;
  }
  return true;
}

export async function denyAccessRequest(db: Db, id: string, decidedBy: string | null): Promise<AccessRequest> {
  return inTransaction(db, async (tx) => {
    const row = await pendingRequest(tx, id);
    const request = await decided(tx, row, 'denied', decidedBy, row.user_id);
    await recordEvent(tx, { type: 'access_request.denied', subject: id, detail: { email: row.email, organization_code: row.organization_code } });
    return request;
  });
}
