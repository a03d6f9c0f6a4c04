import type { ColumnType, Insertable, Selectable } from 'kysely';

/**
 * One row per session that reached the money path: the recovery point of its payout
 * (docs/payout-protocol.md).
 * - in_progress: key generation `key_generation` has frozen terms; a request with its key may have
 *   been sent. `recovery_point` says how the next delivery resumes it.
 * - paid: Stripe created the transfer; the session is paid_out. Final.
 * - refused: Stripe refused the generation definitively; nothing was created under its key.
 * - no_transfer: a search showed that the generation created no transfer.
 * After refused or no_transfer the next claim starts a new generation with a new key.
 */
export type PayoutState = 'in_progress' | 'paid' | 'refused' | 'no_transfer';

/**
 * - transfer_requested: no definitive answer yet; resend the same key while it is young enough.
 * - search_required: Stripe replayed a stored 5xx; every request under the key has finished.
 * - key_rejected: Stripe refused the key itself (idempotency_error); search once it is old enough.
 */
export type RecoveryPoint = 'transfer_requested' | 'search_required' | 'key_rejected';

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
  recovery_point: ColumnType<RecoveryPoint, RecoveryPoint | undefined, RecoveryPoint>;
  /** The generation's first send: its key is resent only inside the reuse window from here. */
  key_first_used_at: Date | null;
  /** The generation's latest send: a search waits until every request under the key settled. */
  key_last_used_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
}

export type Payout = Selectable<PayoutsTable>;
export type NewPayout = Insertable<PayoutsTable>;
