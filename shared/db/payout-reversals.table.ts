import type { Selectable } from 'kysely';

/** A reversal of one of our transfers, as Stripe reported it (transfer.reversed). */
export interface PayoutReversalsTable {
  /** Stripe's `trr_…`: the same reversal reported twice is one row. */
  reversal_id: string;
  session_id: string;
  transfer_id: string;
  amount: number;
  currency: string;
  /** Stripe's `created` of the reversal. */
  reversed_at: Date;
  stripe_event_id: string;
  recorded_at: Date;
}

export type PayoutReversal = Selectable<PayoutReversalsTable>;
