import type { Kysely, Transaction } from 'kysely';
import type {
  PayoutControlsTable,
  PayoutDailyTotalsTable,
  ScanRunsTable,
} from './controls.table.ts';
import type { MentorsTable } from './mentors.table.ts';
import type { PayoutAttemptsTable } from './payout-attempts.table.ts';
import type { PayoutReservationsTable, PayoutsTable } from './payouts.table.ts';
import type { SessionsTable } from './sessions.table.ts';
import type { StripeRequestPacingTable } from './stripe-request-pacing.table.ts';

export interface Database {
  mentors: MentorsTable;
  sessions: SessionsTable;
  payout_attempts: PayoutAttemptsTable;
  payouts: PayoutsTable;
  payout_controls: PayoutControlsTable;
  scan_runs: ScanRunsTable;
  payout_daily_totals: PayoutDailyTotalsTable;
  payout_reservations: PayoutReservationsTable;
  stripe_request_pacing: StripeRequestPacingTable;
}

export type Db = Kysely<Database>;
/** Repository functions take either the pool or an open transaction. */
export type DbOrTrx = Kysely<Database> | Transaction<Database>;
