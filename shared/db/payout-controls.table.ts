import type { ColumnType, Selectable } from 'kysely';

/** The operator's kill switch: one row, id 1 (`payouts pause` / `resume`). */
export interface PayoutControlsTable {
  id: number;
  paused: boolean;
  reason: string | null;
  changed_by: string | null;
  changed_at: ColumnType<Date, Date | undefined, Date>;
}

export type PayoutControls = Selectable<PayoutControlsTable>;
