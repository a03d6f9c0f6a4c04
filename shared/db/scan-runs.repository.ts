import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import type { ScanRun } from './scan-runs.table.ts';

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
