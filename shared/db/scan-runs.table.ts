import type { ColumnType, Generated, Selectable } from 'kysely';

/** One row per scan run; `payouts status` shows the last one. */
export interface ScanRunsTable {
  id: Generated<string>;
  started_at: Date;
  finished_at: Date | null;
  cutoff: Date;
  paused: boolean;
  enqueued: ColumnType<number, number | undefined, number>;
  failed: ColumnType<number, number | undefined, number>;
  pages: ColumnType<number, number | undefined, number>;
  error: string | null;
}

export type ScanRun = Selectable<ScanRunsTable>;
