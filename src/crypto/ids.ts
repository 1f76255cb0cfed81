import { randomBytes, randomUUID } from 'node:crypto';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** One generator per prefix, in Kinde's id formats (contract doc: "Id formats"). */
export const newId = {
  user: () => `kp_${hex(16)}`,
  connection: () => `conn_${hex(16)}`,
  organization: () => `org_${hex(6).slice(0, 11)}`,
  event: () => `event_${hex(16)}`,
  webhook: () => `webhook_${hex(16)}`,
  importJob: () => `import_${hex(16)}`,
  accessRequest: () => `access_request_${hex(16)}`,
  identity: () => `identity_${hex(16)}`,
  application: () => hex(16),
  api: () => hex(16),
  scope: () => `scope_${hex(16)}`,
  challenge: () => hex(16),
  /** Kinde's MFA factor ids look like `mfa_01933d1ca1f093e7fad48ebcdb65a871`. */
  mfaFactor: () => `mfa_${hex(16)}`,
  recoveryCode: () => hex(16),
  /** Kinde's role and permission ids are UUIDs without a prefix. */
  role: () => randomUUID(),
  permission: () => randomUUID(),
} as const;
