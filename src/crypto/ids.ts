import { randomBytes, randomUUID } from 'node:crypto';
import { clock } from '../clock.ts';

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

let lastMillisecond = 0;
let sequence = 0;

/**
 * 32 hex digits that sort in the order this process made them, as Kinde's own ids do
 * (`mfa_01933d1ca1f093e7…` starts with the time): 12 of milliseconds, 4 of a sequence within the
 * millisecond, 16 random. Lists ordered by (created_at, id) then keep the order things happened in.
 */
function timeOrderedHex(): string {
  const now = clock.now();
  if (now > lastMillisecond) {
    lastMillisecond = now;
    sequence = 0;
  } else if (++sequence > 0xffff) {
    // More than 65,536 in one millisecond (or the clock went back): borrow from the next millisecond.
    lastMillisecond += 1;
    sequence = 0;
  }
  return lastMillisecond.toString(16).padStart(12, '0') + sequence.toString(16).padStart(4, '0') + hex(8);
}

/** One generator per prefix, in Kinde's id formats (contract doc: "Id formats"). */
export const newId = {
  user: () => `kp_${hex(16)}`,
  connection: () => `conn_${hex(16)}`,
  organization: () => `org_${hex(6).slice(0, 11)}`,
  event: () => `event_${timeOrderedHex()}`,
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
