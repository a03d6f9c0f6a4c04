import type { Migration } from 'kysely';
import * as payoutSchema from './0001-payout-schema.ts';
import * as payoutRecovery from './0002-payout-recovery-and-limits.ts';
import * as controls from './0003-controls-and-scan-runs.ts';
import * as dailyTotals from './0004-daily-totals.ts';
import * as recoveryPoints from './0005-payout-recovery-points.ts';
import * as stripeRequestPacing from './0006-stripe-request-pacing.ts';
import * as stripeEventsAndHolds from './0007-stripe-events-and-holds.ts';
import * as payoutEvents from './0008-payout-events-and-reconciliation-runs.ts';
import * as databaseRoles from './0009-database-roles.ts';

/** Listed statically so that bundles and tests need no file-system lookup; names sort in order. */
export const migrations: Record<string, Migration> = {
  '0001-payout-schema': payoutSchema,
  '0002-payout-recovery-and-limits': payoutRecovery,
  '0003-controls-and-scan-runs': controls,
  '0004-daily-totals': dailyTotals,
  '0005-payout-recovery-points': recoveryPoints,
  '0006-stripe-request-pacing': stripeRequestPacing,
  '0007-stripe-events-and-holds': stripeEventsAndHolds,
  '0008-payout-events-and-reconciliation-runs': payoutEvents,
  '0009-database-roles': databaseRoles,
};
