import type { ColumnType, Insertable, Selectable, Updateable } from 'kysely';

/**
 * One row per session that reached Stripe: the recovery point of the money path.
 * - in_progress: a transfer request may have been sent with this key generation; its outcome is
 *   unknown until recorded. Retries reuse the same key and the same frozen parameters while the
 *   key is young and no call ended in an unknown state; otherwise Stripe is searched first.
 * - paid: Stripe created the transfer; the session is paid_out.
 * - refused: Stripe refused the request definitively; the next claim starts a new key generation.
 */
export type PayoutState = 'in_progress' | 'paid' | 'refused';

export interface PayoutsTable {
  session_id: string;
  state: PayoutState;
  key_generation: number;
  amount: number;
  currency: string;
  destination: string;
  source_transaction: string | null;
  lease_expires_at: Date | null;
  stripe_transfer_id: string | null;
  claim_count: number;
  key_first_used_at: Date | null;
  outcome_unknown: ColumnType<boolean, boolean | undefined, boolean>;
  generation_started_at: ColumnType<Date, Date | undefined, Date>;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type Payout = Selectable<PayoutsTable>;
export type NewPayout = Insertable<PayoutsTable>;
export type PayoutUpdate = Updateable<PayoutsTable>;
