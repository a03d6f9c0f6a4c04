/**
 * The CloudWatch metrics the Lambdas emit (EMF, via Powertools Metrics) and the alarms and
 * dashboard read. Constants only: infra imports this file and nothing else of the runtime code.
 */
export const METRICS_NAMESPACE = 'Payouts';

export const SERVICE = {
  scan: 'payouts-scan',
  transfer: 'payouts-transfer',
  stripeEvents: 'payouts-stripe-events',
  reconcile: 'payouts-reconcile',
  events: 'payouts-events',
} as const;

export type ServiceName = (typeof SERVICE)[keyof typeof SERVICE];

export const METRIC = {
  /** Count, dimension service: one per successful scan run. */
  scanCompleted: 'ScanCompleted',
  /** Count, dimension service: by the scan, and by stripe-events for a mentor whose account became ready. */
  sessionsEnqueued: 'SessionsEnqueued',
  /** Count, dimension service. */
  payoutsPaid: 'PayoutsPaid',
  /** Minor units, dimensions service + currency. */
  paidAmount: 'PaidAmount',
  /** Count, dimension service (all codes) and service + code. */
  payoutsFailed: 'PayoutsFailed',
  /** Count, dimension service: transient failures SQS will redeliver. */
  payoutsRetrying: 'PayoutsRetrying',
  /** Count, dimension service (stripe-events): reversals of our transfers newly recorded. */
  payoutsReversed: 'PayoutsReversed',
  /** Count, dimension service: one per daily reconciliation that compared its whole range. */
  reconciliationCompleted: 'ReconciliationCompleted',
  /** Count, dimension service: mismatches a daily reconciliation found (none is repaired). */
  reconciliationMismatches: 'ReconciliationMismatches',
  /** Count, dimension service: transfers a daily reconciliation found reversed (not mismatches). */
  reconciliationReversals: 'ReconciliationReversals',
  /** Count, dimension service: payout events a sweep published. */
  payoutEventsPublished: 'PayoutEventsPublished',
  /** Count, dimension service: payout events still unpublished after a sweep, past their grace. */
  payoutEventsUnpublished: 'PayoutEventsUnpublished',
} as const;
