import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import type { PayoutControls } from './payout-controls.table.ts';
import type { ScanRun } from './scan-runs.table.ts';

/** The operator's kill switch (`payouts pause`); the claim reads it with the payout (findPayoutAndPause). */
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

export async function startScanRun(
  db: Kysely<Database>,
  run: { startedAt: Date; cutoff: Date; paused: boolean },
): Promise<string> {
  const row = await db
    .insertInto('scan_runs')
    .values({
      started_at: run.startedAt,
      cutoff: run.cutoff,
      paused: run.paused,
      finished_at: null,
      error: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function finishScanRun(
  db: Kysely<Database>,
  id: string,
  result: {
    finishedAt: Date;
    enqueued: number;
    failed: number;
    pages: number;
    error: string | null;
  },
): Promise<void> {
  await db
    .updateTable('scan_runs')
    .set({
      finished_at: result.finishedAt,
      enqueued: result.enqueued,
      failed: result.failed,
      pages: result.pages,
      error: result.error,
    })
    .where('id', '=', id)
    .execute();
}

export async function lastScanRun(db: Kysely<Database>): Promise<ScanRun | undefined> {
  return db
    .selectFrom('scan_runs')
    .selectAll()
    .orderBy('started_at', 'desc')
    .limit(1)
    .executeTakeFirst();
}
