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

export async function setPaused(
  db: Kysely<Database>,
  change: { paused: boolean; reason: string | null; changedBy: string; now: Date },
): Promise<PayoutControls> {
  return db
    .updateTable('payout_controls')
    .set({
      paused: change.paused,
      reason: change.reason,
      changed_by: change.changedBy,
      changed_at: change.now,
    })
    .where('id', '=', 1)
    .returningAll()
    .executeTakeFirstOrThrow();
}
