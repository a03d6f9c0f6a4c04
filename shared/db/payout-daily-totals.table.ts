import type { ColumnType } from 'kysely';

/** The running total reserved per currency and UTC day, held against the daily limit. */
export interface PayoutDailyTotalsTable {
  currency: string;
  // A UTC calendar day, 'YYYY-MM-DD'; never read back as a Date.
  day: ColumnType<string, string, string>;
  amount: number;
}
