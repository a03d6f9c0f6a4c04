import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import type { PayoutControls } from './payout-controls.table.ts';

/**
 * The operator's kill switch (`payouts pause`); the claim reads it together with the payout
 * (findPayoutPauseAndPayee).
 */
export async function readPayoutControls(db: Kysely<Database>): Promise<PayoutControls> {
  return db.selectFrom('payout_controls').selectAll().where('id', '=', 1).executeTakeFirstOrThrow();
}

/**
 * Sets the switch. With `onlyFrom`, only when it is in that position now, in one statement, so
 * that two operators at once cannot overwrite each other unseen: undefined when it was not.
 */
export async function setPaused(
  db: Kysely<Database>,
  change: {
    paused: boolean;
    reason: string | null;
    changedBy: string;
    now: Date;
    onlyFrom?: boolean;
  },
): Promise<PayoutControls | undefined> {
  let update = db
    .updateTable('payout_controls')
    .set({
      paused: change.paused,
      reason: change.reason,
      changed_by: change.changedBy,
      changed_at: change.now,
    })
    .where('id', '=', 1);
  if (change.onlyFrom !== undefined) update = update.where('paused', '=', change.onlyFrom);
  return update.returningAll().executeTakeFirst();
}
