/**
 * Timings and counts that the Lambdas and the infrastructure must agree on. Constants only:
 * infra imports this file (and metric-names.ts) and nothing else of the runtime code.
 */

/** One Stripe SDK call: (1 + retries) tries of the timeout, plus backoff. */
export const STRIPE_TIMEOUT_MS = 20_000;
export const STRIPE_MAX_NETWORK_RETRIES = 2;
export const STRIPE_CALL_BUDGET_MS = STRIPE_TIMEOUT_MS * (STRIPE_MAX_NETWORK_RETRIES + 1) + 5_000;

/** A payout is started only with time for its slowest Stripe call and the database around it. */
export const MIN_TIME_FOR_PAYOUT_MS = STRIPE_CALL_BUDGET_MS + 15_000;

/** A payout's lease outlives its slowest Stripe call, so two holders are never in flight at once. */
export const PAYOUT_LEASE_MS = STRIPE_CALL_BUDGET_MS + 30_000;

/** Receives of a payout message before SQS moves it to the DLQ (the queue's RedrivePolicy). */
export const MAX_RECEIVE_COUNT = 5;
