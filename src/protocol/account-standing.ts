import type { Db } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { readAlong } from './request-reads.ts';

const accountStanding = preparedQuery((db, { id }: { id: string }) => db.selectFrom('users').select('is_suspended').where('id', '=', id));

/** Suspended or not, by account; `undefined`: no such account. Read along with a session (model-reads.ts). */
const standingsRead = readAlong<string, boolean | undefined>('account standings');

export function rememberStanding(accountId: string, suspended: boolean | undefined): void {
  standingsRead.remember(accountId, suspended);
}

/**
 * Whether the person may hold a session: the engine asks on every authorization request that has
 * one (an SSO round trip, the resume after sign-in) and, there, only whether the account stands.
 */
export async function accountStands(db: Db, accountId: string): Promise<boolean> {
  const read = standingsRead.recall(accountId);
  if (read) return read.value === false;
  const [standing] = (await accountStanding(db, { id: accountId })).rows;
  return standing !== undefined && standing.is_suspended !== 1;
}
