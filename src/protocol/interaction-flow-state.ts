import { clock } from '../clock.ts';
import type { Db } from '../store/db.ts';
import { preparedQuery } from '../store/prepared.ts';
import { readAlong } from './request-reads.ts';

/**
 * The hosted pages keep a sign-in's state in the engine's own Interaction row (`flow_state`): every
 * sign-in request reads that row anyway (the engine checks the interaction cookie against it), so the
 * adapter hands the state it read to the rest of the request here, and the pages need no statement of
 * their own to load it (issue 13). Requests that do not read the Interaction (a provider's callback)
 * read the column itself.
 */
const flowStatesRead = readAlong<string, string | null>('sign-in flow states');

/** The adapter read (or wrote) an Interaction row: its flow state, for the rest of the request. */
export function rememberFlowState(uid: string, state: string | null): void {
  flowStatesRead.remember(uid, state);
}

const selectFlowState = preparedQuery((db, { uid, now }: { uid: string; now: number }) =>
  db.selectFrom('oidc_models').select('flow_state').where('model', '=', 'Interaction').where('id', '=', uid).where('expires_at', '>', now),
);

const updateFlowState = preparedQuery((db, { uid, state }: { uid: string; state: string | null }) =>
  db.updateTable('oidc_models').set({ flow_state: state }).where('model', '=', 'Interaction').where('id', '=', uid),
);

/** The raw flow state of interaction `uid` (null: none; undefined: no such interaction, or it expired). */
export async function interactionFlowState(db: Db, uid: string): Promise<string | null | undefined> {
  const read = flowStatesRead.recall(uid);
  if (read) return read.value;
  const [row] = (await selectFlowState(db, { uid, now: clock.now() })).rows;
  return row ? row.flow_state : undefined;
}

export async function setInteractionFlowState(db: Db, uid: string, state: string | null): Promise<void> {
  await updateFlowState(db, { uid, state });
  rememberFlowState(uid, state);
}
