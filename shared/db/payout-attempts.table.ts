import type { ColumnType, Generated, Insertable, Selectable } from 'kysely';
import type { AttemptCode } from '../payout-codes.ts';

export type AttemptOutcome = 'paid' | 'failed' | 'skipped' | 'retrying';

/** The append-only admin-review log: one row per decision taken about a session's payout. */
export interface PayoutAttemptsTable {
  id: Generated<string>;
  session_id: string;
  outcome: AttemptOutcome;
  // Written from the code unions; read back as the text it is (older rows, other writers).
  error_code: ColumnType<string | null, AttemptCode | null | undefined, string | null>;
  error_message: string | null;
  stripe_transfer_id: string | null;
  amount: number | null;
  currency: string | null;
  idempotency_key: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

export type PayoutAttempt = Selectable<PayoutAttemptsTable>;
export type NewPayoutAttempt = Insertable<PayoutAttemptsTable>;
