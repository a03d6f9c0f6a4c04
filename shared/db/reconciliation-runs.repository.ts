import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import type { ReconciliationRun } from './reconciliation-runs.table.ts';

export async function startReconciliationRun(
  db: Kysely<Database>,
  run: { startedAt: Date; since: Date; until: Date },
): Promise<string> {
  const row = await db
    .insertInto('reconciliation_runs')
    .values({
      started_at: run.startedAt,
      since: run.since,
      until: run.until,
      finished_at: null,
      stripe_transfers: null,
      paid_payouts: null,
      mismatches: null,
      open: null,
      error: null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

export async function finishReconciliationRun(
  db: Kysely<Database>,
  id: string,
  result: { finishedAt: Date } & (
    | { stripeTransfers: number; paidPayouts: number; mismatches: unknown[]; open: number }
    | { error: string }
  ),
): Promise<void> {
  await db
    .updateTable('reconciliation_runs')
    .set(
      'error' in result
        ? { finished_at: result.finishedAt, error: result.error }
        : {
            finished_at: result.finishedAt,
            stripe_transfers: result.stripeTransfers,
            paid_payouts: result.paidPayouts,
            mismatches: JSON.stringify(result.mismatches),
            open: result.open,
          },
    )
    .where('id', '=', id)
    .execute();
}

/** The completed run that reconciled the latest range: the next run starts where it ended. */
export async function lastCompletedReconciliationRun(
  db: Kysely<Database>,
): Promise<ReconciliationRun | undefined> {
  return db
    .selectFrom('reconciliation_runs')
    .selectAll()
    .where('finished_at', 'is not', null)
    .where('error', 'is', null)
    .orderBy('until', 'desc')
    .limit(1)
    .executeTakeFirst();
}
