import type { ColumnType, Generated, Selectable } from 'kysely';

export interface PayoutControlsTable {
  id: number;
  paused: boolean;
  reason: string | null;
  changed_by: string | null;
  changed_at: ColumnType<Date, Date | undefined, Date>;
}

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

export type PayoutControls = Selectable<PayoutControlsTable>;
export type ScanRun = Selectable<ScanRunsTable>;

export interface PayoutDailyTotalsTable {
  currency: string;
  // A UTC calendar day, 'YYYY-MM-DD'; never read back as a Date.
  day: ColumnType<string, string, string>;
  amount: number;
}
