import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';

export type AttemptOutcome = 'paid' | 'failed' | 'skipped' | 'retrying';

/** The append-only admin-review log: one row per decision taken about a session's payout. */
export interface PayoutAttemptsTable {
  id: Generated<string>;
  session_id: string;
  outcome: AttemptOutcome;
  error_code: string | null;
  error_message: string | null;
  stripe_transfer_id: string | null;
  amount: number | null;
  currency: string | null;
  idempotency_key: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export type PayoutAttempt = Selectable<PayoutAttemptsTable>;
export type NewPayoutAttempt = Insertable<PayoutAttemptsTable>;
