import { createHash } from 'node:crypto';

/**
 * The events Kinde sends to webhooks, with the JSON schema of each (`GET /api/v1/event_types`; spec
 * section 040 shows `user.updated`'s; the data shapes follow `@kinde/webhooks`' types). Gatehouse
 * records more types than these (MFA, device consent, management writes): those stay in the audit
 * log and are never sent to webhooks.
 */
type Schema = Record<string, unknown>;

const str = { type: 'string' };
const nullableStr = { type: ['string', 'null'] };
const bool = { type: 'boolean' };
const object = (properties: Record<string, Schema>, description?: string): Schema => ({ type: 'object', properties, ...(description ? { description } : {}) });
const userId = { type: 'string', pattern: 'kp[:_][0-9a-f]{32}', description: 'ID of the user' };
const orgCode = { type: 'string', pattern: 'org[:_][0-9a-f]{11}' };
const keyed = { type: ['array', 'null'], items: object({ id: { type: 'string', format: 'uuid' }, key: str }) };

const user = object({
  id: userId,
  email: nullableStr,
  phone: nullableStr,
  username: nullableStr,
  first_name: nullableStr,
  last_name: nullableStr,
  is_suspended: bool,
  is_password_reset_requested: bool,
  organizations: { type: ['array', 'null'], items: object({ code: orgCode, roles: keyed, permissions: keyed }) },
}, 'User event data');
const organization = object({ code: orgCode, name: str, handle: nullableStr, external_id: nullableStr, is_allow_registrations: bool });
const role = object({ id: str, key: str, name: str, description: nullableStr, is_default_role: bool });
const permission = object({ id: str, key: str, name: str, description: nullableStr });

interface EventTypeDefinition {
  code: string;
  name: string;
  data: Schema;
  sources: string[];
}

const definitions: EventTypeDefinition[] = [
  { code: 'user.created', name: 'User created', data: object({ user }), sources: ['api', 'admin', 'user'] },
  { code: 'user.updated', name: 'User updated', data: object({ user }), sources: ['api', 'admin'] },
  { code: 'user.deleted', name: 'User deleted', data: object({ user: object({ id: userId }) }), sources: ['api', 'admin'] },
  { code: 'user.authenticated', name: 'User authenticated', data: object({ user: object({ id: userId }) }), sources: ['user'] },
  { code: 'user.authentication_failed', name: 'User authentication failed', data: object({ user: object({ id: userId }) }), sources: ['user'] },
  { code: 'organization.created', name: 'Organization created', data: object({ organization }), sources: ['api', 'admin', 'user'] },
  { code: 'organization.updated', name: 'Organization updated', data: object({ organization }), sources: ['api', 'admin'] },
  { code: 'organization.deleted', name: 'Organization deleted', data: object({ organization: object({ code: orgCode }) }), sources: ['api', 'admin'] },
  { code: 'organization.user_added', name: 'User added to organization', data: object({ organization: object({ code: orgCode }), user: object({ id: userId }) }), sources: ['api', 'admin', 'user'] },
  { code: 'organization.user_removed', name: 'User removed from organization', data: object({ organization: object({ code: orgCode }), user: object({ id: userId }) }), sources: ['api', 'admin'] },
  { code: 'role.created', name: 'Role created', data: object({ role }), sources: ['api', 'admin'] },
  { code: 'role.updated', name: 'Role updated', data: object({ role }), sources: ['api', 'admin'] },
  { code: 'role.deleted', name: 'Role deleted', data: object({ role: object({ id: str }) }), sources: ['api', 'admin'] },
  { code: 'permission.created', name: 'Permission created', data: object({ permission }), sources: ['api', 'admin'] },
  { code: 'permission.updated', name: 'Permission updated', data: object({ permission }), sources: ['api', 'admin'] },
  { code: 'permission.deleted', name: 'Permission deleted', data: object({ permission: object({ id: str }) }), sources: ['api', 'admin'] },
  {
    code: 'access_request.created',
    name: 'Access request created',
    // Strings, as `@kinde/webhooks` types them: "" for a name not given, and for the user of a
    // stranger's request, whose account exists only once it is approved (domain/access-requests.ts).
    data: object({
      access_request: object({ user_id: { type: 'string', pattern: '^(kp[:_][0-9a-f]{32})?$', description: 'ID of the user, or "" before the request is approved' }, email: str, first_name: str, last_name: str }),
    }),
    sources: ['user'],
  },
];

/** Kinde's event type object: `{id, code, name, origin, schema}`. */
export interface EventType {
  id: string;
  code: string;
  name: string;
  origin: 'kinde';
  schema: Schema;
}

function eventTypeOf(definition: EventTypeDefinition): EventType {
  const schema = {
    $id: `https://kinde.com/${definition.code}.schema.json`,
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: `${definition.name} Webhook Event`,
    type: 'object',
    properties: {
      data: { ...definition.data, description: 'Webhook event data' },
      type: { const: definition.code },
      source: { enum: definition.sources, description: 'Source of the action' },
      event_id: { type: 'string', pattern: 'event_[0-9a-f]{32}', description: 'ID of the event' },
      timestamp: { type: 'string', format: 'date-time', description: 'Datetimestamp of the action' },
    },
  };
  // Stable across versions and installations, in Kinde's id format (`et_018df239698d29177684be3f5ad1266d`).
  return { id: `et_${createHash('sha256').update(definition.code).digest('hex').slice(0, 32)}`, code: definition.code, name: definition.name, origin: 'kinde', schema };
}

export const EVENT_TYPES: readonly EventType[] = definitions.map(eventTypeOf);

/** The codes a webhook may subscribe to: the only events that ever leave Gatehouse. */
export const WEBHOOK_EVENT_TYPES: ReadonlySet<string> = new Set(definitions.map((d) => d.code));

/**
 * Gatehouse's own event types for changes Kinde sends no webhook for: kept in the audit log
 * (`GET /api/v1/events?type=`), never sent to webhooks, so not in `GET /event_types` (a webhook could
 * not subscribe to them). Each records what changed in its `detail`; the subject is the resource.
 */
export const GATEHOUSE_EVENT_TYPES = {
  'user.identity_added': 'An identity was added to a user (subject: the user; detail: identity_id, type, connection_id)',
  'user.identity_made_primary': 'An identity became the primary of its type (subject: the user; detail: identity_id, type, previous_primary_id)',
  'user.identity_deleted': 'An identity was deleted (subject: the user; detail: identity_id, type, was_primary, new_primary_id)',
  'user.mfa_reset': "A user's second factors were reset (subject: the user; detail: factor_id when one, factors_removed, recovery_codes_removed)",
  'feature_flag.created': 'A feature flag was defined (subject: its key; detail: key, type, default_value)',
  'feature_flag.updated': 'A feature flag was replaced (subject: its key; detail: key, type, default_value, previous)',
  'feature_flag.deleted': 'A feature flag and its overrides were deleted (subject: its key; detail: key)',
  'organization.feature_flag_set': "An organization's override of a flag was set (subject: the organization; detail: key, value, previous_value)",
  'organization.feature_flag_removed': "An organization's overrides were removed (subject: the organization; detail: keys)",
  'user.feature_flag_set': "A user's override of a flag was set (subject: the user; detail: key, value, previous_value)",
  'user.feature_flag_removed': "A user's override of a flag was removed (subject: the user; detail: key, previous_value)",
  'access_request.approved': 'An access request was approved (subject: the request; detail: email, user_id, organization_code, user_created)',
  'access_request.denied': 'An access request was denied (subject: the request; detail: email, organization_code)',
} as const;

export type GatehouseEventType = keyof typeof GATEHOUSE_EVENT_TYPES;
