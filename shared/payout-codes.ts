/**
 * Every code a payout_attempts row or a payout error carries, by outcome (README, "Outcomes").
 * One word per meaning: `failed` = not paid, held for admin review (`payouts failures`, metric
 * PayoutsFailed); `refused` = Stripe answered no, which fails a payout or, for a refusal a later
 * retry can get past, retries it; `skipped` = nothing to pay; `retrying` = SQS delivers it again.
 * Maps keyed by these unions (advice, reasons) must name every code, or they do not compile.
 */

/** The payout rules fail the session before Stripe is asked (payoutDecision). */
export type PolicyFailureCode =
  | 'invalid_session_row'
  | 'amount_over_limit'
  | 'no_connected_account';

/** Stripe refusals the runbook knows what to do about; Stripe may refuse with others. */
export type KnownRefusalCode =
  | 'insufficient_capabilities_for_transfer'
  | 'transfers_not_allowed'
  | 'account_invalid'
  | 'resource_missing';

/**
 * The payee may not be paid now, so no Stripe request is spent: their connected account was last
 * seen without an active transfers capability (account_not_ready), or an admin holds their payouts
 * (mentor_on_hold). Recorded once per session and UTC day, however often the session is delivered.
 */
export type PayeeFailureCode = 'account_not_ready' | 'mentor_on_hold';

/** Attempt outcome `failed`: held for admin review. */
export type FailureCode =
  | 'session_not_found'
  | PolicyFailureCode
  | PayeeFailureCode
  | KnownRefusalCode;

/** Attempt outcome `skipped`, or a message acknowledged without paying: nothing to pay now. */
export type SkipCode = 'net_not_positive' | 'payouts_paused';

/** Refusals that a later retry, with a new key, can get past without anyone changing the session. */
export type TransientRefusalCode = 'balance_insufficient';

/** Attempt outcome `retrying` for trouble of our own; Stripe's transient trouble has its own codes. */
export type TransientCode =
  | 'request_unsettled'
  | 'payout_in_progress'
  | 'deferred'
  | 'rate_limited'
  | 'session_locked'
  | 'stripe_call_failed';

/** Attempt outcome `paid` with a note for the admin. */
export type PaidCode = 'paid_after_change' | 'reconciled';

declare const stripeErrorCode: unique symbol;
/**
 * A code read off a Stripe error (its `code`, or what stripe-errors.ts names it by its class).
 * Stripe adds codes without notice, so the set is open; only stripe-errors.ts makes one.
 */
export type StripeErrorCode = string & { readonly [stripeErrorCode]: true };

/** What payout_attempts.error_code may be given. */
export type AttemptCode = FailureCode | SkipCode | TransientCode | PaidCode | StripeErrorCode;
