import type { ColumnType, Insertable } from 'kysely';

export type SessionPayoutStatus = 'pending' | 'paid_out' | 'not_payable';

/** Owned by the marketplace; payouts writes only payout_status. */
export interface SessionsTable {
  id: string;
  mentor_id: string;
  status: string;
  session_end_time: ColumnType<Date, Date | string, Date | string>;
  price_amount: number;
  refunded_amount: ColumnType<number, number | undefined, number>;
  currency: string;
  stripe_charge_id: string | null;
  payout_status: ColumnType<string, string | undefined, SessionPayoutStatus>;
}

export type NewSession = Insertable<SessionsTable>;
