import type { ColumnType } from 'kysely';

/** What a generation holds against one UTC day's limit; released when it ends without a transfer. */
export interface PayoutReservationsTable {
  session_id: string;
  key_generation: number;
  // A UTC calendar day, 'YYYY-MM-DD'.
  day: ColumnType<string, string, never>;
  currency: string;
  amount: number;
  released_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}
