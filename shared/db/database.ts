import type { MentorHoldsTable } from './mentor-holds.table.ts';
import type { MentorsTable } from './mentors.table.ts';
import type { PayoutAttemptsTable } from './payout-attempts.table.ts';
import type { PayoutControlsTable } from './payout-controls.table.ts';
import type { PayoutDailyTotalsTable } from './payout-daily-totals.table.ts';
import type { PayoutEventsTable } from './payout-events.table.ts';
import type { PayoutReservationsTable } from './payout-reservations.table.ts';
import type { PayoutReversalsTable } from './payout-reversals.table.ts';
import type { PayoutsTable } from './payouts.table.ts';
import type { ReconciliationRunsTable } from './reconciliation-runs.table.ts';
import type { ScanRunsTable } from './scan-runs.table.ts';
import type { SessionsTable } from './sessions.table.ts';
import type { StripeAccountsTable } from './stripe-accounts.table.ts';
import type { StripeEventsTable } from './stripe-events.table.ts';
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
  stripe_events: StripeEventsTable;
  stripe_accounts: StripeAccountsTable;
  mentor_holds: MentorHoldsTable;
  payout_reversals: PayoutReversalsTable;
  payout_events: PayoutEventsTable;
  reconciliation_runs: ReconciliationRunsTable;
}
