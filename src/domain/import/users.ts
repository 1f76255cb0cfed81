import { z } from 'zod';
import { clock } from '../../clock.ts';
import { type Db, type Dialect, inTransaction, type Tx } from '../../store/db.ts';
import { DomainError } from '../errors.ts';
import { recordEvent } from '../events/outbox.ts';
import { addMember, isMember } from '../organizations.ts';
import { IMPORTABLE_METHODS, importPasswordHash, storedHash } from '../passwords.ts';
import { memberRoles } from '../roles.ts';
import { createUser, findUserByIdentity, findUserByProvidedId, type NewIdentity, updateUser, type User } from '../users.ts';
import type { ImportRow } from './rows.ts';

/**
 * Bulk import of users (issue 14, "Bulk import"; spec section 006: no email or SMS goes to imported
 * users). Kinde's import columns, one user per row, each row its own transaction; idempotent by
 * `provided_id`, then by email: the same file twice changes nothing, a changed row updates its user.
 */

const text = z
  .union([z.string(), z.number()])
  .transform((value) => String(value).trim())
  .transform((value) => (value === '' ? undefined : value))
  .optional()
  .nullable()
  .transform((value) => value ?? undefined);
const flag = z
  .union([z.boolean(), z.string()])
  .optional()
  .nullable()
  .transform((value) => (typeof value === 'boolean' ? value : /^(true|1|yes|y)$/i.test((value ?? '').trim())));
const list = z
  .union([z.array(z.string()), z.string()])
  .optional()
  .nullable()
  .transform((value) => (Array.isArray(value) ? value : (value ?? '').split(/[;,|]/)).map((item) => item.trim()).filter(Boolean));

const rowSchema = z.object({
  id: text,
  email: text.pipe(z.email({ error: 'email is not a valid email address' }).optional()),
  email_verified: flag,
  phone: text.pipe(z.string().regex(/^\+[1-9]\d{6,14}$/, 'phone must be in E.164 form, like +14155552671').optional()),
  phone_verified: flag,
  username: text,
  first_name: text,
  last_name: text,
  password: text,
  hashed_password: text,
  hashing_method: text.pipe(z.enum(IMPORTABLE_METHODS, { error: `hashing_method must be one of ${IMPORTABLE_METHODS.join(', ')}` }).optional()),
  salt: text,
  salt_position: text.pipe(z.enum(['prefix', 'suffix']).optional()),
  iterations: text.transform((value) => (value === undefined ? undefined : Number(value))).pipe(z.number({ error: 'iterations must be a number' }).int().positive().optional()),
  organizations: list,
  roles: list,
  created_on: text.pipe(
    z
      .string()
      .refine((value) => !Number.isNaN(Date.parse(value)), 'created_on must be an ISO 8601 date')
      .optional(),
  ),
  is_suspended: flag,
});

type Row = z.output<typeof rowSchema>;

export type RowOutcome = 'created' | 'updated' | 'skipped';

export class RowRefused extends Error {}

function parseRow(fields: Record<string, unknown>): Row {
  if ('__invalid' in fields) throw new RowRefused(String(fields.__invalid));
  const result = rowSchema.safeParse(fields);
  if (!result.success) throw new RowRefused(result.error.issues.map((issue) => issue.message).join('; '));
  const row = result.data;
  if (!row.email && !row.phone && !row.username) throw new RowRefused('a user needs an email, a phone or a username');
  if ((row.password ?? row.hashed_password) && !row.hashing_method) throw new RowRefused('hashing_method is required with a password hash');
  if (row.roles.length > 0 && row.organizations.length === 0) throw new RowRefused('roles are given in organizations: name them in organizations');
  return row;
}

async function existingUser(tx: Tx, row: Row): Promise<User | undefined> {
  if (row.id) {
    const byProvidedId = await findUserByProvidedId(tx, row.id);
    if (byProvidedId) return byProvidedId;
  }
  return row.email ? findUserByIdentity(tx, 'email', row.email) : undefined;
}

/** Stores the row's hash unless it is already there, or the person has since signed in (upgraded to argon2id) or set their own. */
async function importHash(tx: Tx, userId: string, row: Row): Promise<boolean> {
  const hash = row.password ?? row.hashed_password;
  if (!hash || !row.hashing_method) return false;
  const stored = await storedHash(tx, userId);
  if (stored && (stored.hash === hash || stored.method === 'argon2id')) return false;
  await importPasswordHash(tx, userId, { method: row.hashing_method, hash, salt: row.salt, saltPosition: row.salt_position, iterations: row.iterations });
  return true;
}

/** Joins the organizations of the row, with its roles; true when that changed anything. */
async function joinOrganizations(tx: Tx, userId: string, row: Row): Promise<boolean> {
  let changed = false;
  for (const code of row.organizations) {
    const member = await isMember(tx, code, userId);
    const held = member ? new Set((await memberRoles(tx, code, userId)).map((role) => role.key)) : new Set<string>();
    if (member && row.roles.every((key) => held.has(key))) continue;
    await addMember(tx, code, userId, row.roles.length > 0 ? { roleKeys: row.roles } : {});
    changed = true;
  }
  return changed;
}

async function importOne(db: Db, row: Row): Promise<RowOutcome> {
  return inTransaction(db, async (tx) => {
    const existing = await existingUser(tx, row);
    if (!existing) {
      const identities: NewIdentity[] = [];
      if (row.email) identities.push({ type: 'email', value: row.email, isVerified: row.email_verified });
      if (row.phone) identities.push({ type: 'phone', value: row.phone, isVerified: row.phone_verified });
      if (row.username) identities.push({ type: 'username', value: row.username, isVerified: true });
      const user = await createUser(tx, {
        providedId: row.id ?? null,
        firstName: row.first_name ?? null,
        lastName: row.last_name ?? null,
        identities,
        isSuspended: row.is_suspended,
        createdAt: row.created_on ? Date.parse(row.created_on) : undefined,
      });
      await importHash(tx, user.id, row);
      await joinOrganizations(tx, user.id, row);
      return 'created';
    }
    const patch = {
      ...(row.first_name !== undefined && row.first_name !== existing.firstName ? { firstName: row.first_name } : {}),
      ...(row.last_name !== undefined && row.last_name !== existing.lastName ? { lastName: row.last_name } : {}),
      ...(row.id !== undefined && row.id !== existing.providedId ? { providedId: row.id } : {}),
      ...(row.is_suspended !== existing.isSuspended ? { isSuspended: row.is_suspended } : {}),
    };
    const profileChanged = Object.keys(patch).length > 0;
    if (profileChanged) await updateUser(tx, existing.id, patch);
    const hashChanged = await importHash(tx, existing.id, row);
    const membershipChanged = await joinOrganizations(tx, existing.id, row);
    return profileChanged || hashChanged || membershipChanged ? 'updated' : 'skipped';
  });
}

/** Rows imported side by side: PostgreSQL overlaps commits across its pool; SQLite has one writer. */
export function importConcurrency(dialect: Dialect): number {
  return dialect === 'postgres' ? 8 : 1;
}

export interface ImportProgress {
  done: number;
  total: number;
  created: number;
  updated: number;
  skipped: number;
  failed: number;
}

export interface FailedRow {
  line: number;
  reason: string;
  fields: Record<string, unknown>;
}

export interface ImportResult extends ImportProgress {
  failures: FailedRow[];
}

/** How long rows may run back to back before other work gets its turn. */
const TURN_MS = 20;
let turnStartedAt = 0;

/**
 * better-sqlite3 answers synchronously, so a loop of row transactions only ever awaits microtasks
 * and would hold the event loop for the whole file: an import through the API would stop the server
 * answering anything else (progress reads, sign-ins) until it ends. Every 20 ms it lets them in.
 */
async function yieldNowAndThen(): Promise<void> {
  if (Date.now() - turnStartedAt < TURN_MS) return;
  await new Promise((resolve) => setImmediate(resolve));
  turnStartedAt = Date.now();
}

/**
 * Imports every row; a bad one (invalid email, unknown hashing method, a username taken, an unknown
 * organization) is reported with its line and reason and never stops the rest. One summarising
 * event records the run (not one per user: an import is not a million webhooks).
 */
export async function importUsers(
  db: Db,
  rows: readonly ImportRow[],
  onProgress?: (progress: ImportProgress) => void,
  /** `signal`: stop taking new rows (a server shutting down); the result counts the rows done. */
  options: { concurrency?: number; signal?: AbortSignal } = {},
): Promise<ImportResult> {
  const result: ImportResult = { done: 0, total: rows.length, created: 0, updated: 0, skipped: 0, failed: 0, failures: [] };
  let next = 0;
  // Rows in parallel transactions where the store has several connections (PostgreSQL): a commit
  // per row is a round trip and a flush, and they overlap. SQLite has one writer: one at a time.
  const lane = async () => {
    while (next < rows.length && !options.signal?.aborted) {
      const { line, fields } = rows[next++]!;
      try {
        result[await importOne(db, parseRow(fields))]++;
      } catch (error) {
        if (!(error instanceof RowRefused || error instanceof DomainError)) throw error;
        result.failed++;
        result.failures.push({ line, reason: error.message, fields });
      }
      result.done++;
      onProgress?.(result);
      await yieldNowAndThen();
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, options.concurrency ?? 1) }, lane));
  result.failures.sort((a, b) => a.line - b.line);
  const { failures, ...counts } = result;
  await recordEvent(db, { type: 'users.imported', source: 'admin', detail: { ...counts, failed_lines: failures.slice(0, 100).map((failure) => failure.line), at: clock.now() } });
  return result;
}
