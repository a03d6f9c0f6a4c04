import type { ColumnType, Selectable } from 'kysely';

/**
 * A connected account as Stripe last described it (GET /v1/accounts/:id, read after account.updated).
 * Ready for transfers only while `transfers_capability` is `active`; no row means never seen.
 */
export interface StripeAccountsTable {
  account_id: string;
  /** Stripe's capabilities.transfers (`active`, `inactive`, `pending`); null if it has none. */
  transfers_capability: string | null;
  payouts_enabled: boolean;
  /** Stripe's requirements.disabled_reason. */
  disabled_reason: string | null;
  /** When the read that produced this row was sent: an older read never overwrites it. */
  observed_at: Date;
  /** The capability became active and the mentors' waiting sessions are not yet enqueued. */
  catch_up_pending: ColumnType<boolean, boolean | undefined, boolean>;
  updated_at: Date;
}

export type StripeAccount = Selectable<StripeAccountsTable>;
