import type { ColumnType, Generated, Selectable } from 'kysely';

/** One row per daily reconciliation run (lambdas/reconcile): its range and what it found. */
export interface ReconciliationRunsTable {
  id: Generated<string>;
  started_at: Date;
  finished_at: Date | null;
  since: Date;
  until: Date;
  stripe_transfers: number | null;
  paid_payouts: number | null;
  /** The mismatches as the comparison reported them (JSON). */
  mismatches: ColumnType<unknown, string | null, string | null>;
  open: number | null;
  /** Why the run could not complete (Stripe or the database down): its range is not reconciled. */
  error: string | null;
}

export type ReconciliationRun = Selectable<ReconciliationRunsTable>;
