/**
 * Timings and counts that the Lambdas and the infrastructure must agree on. Constants only:
 * infra imports this file (and metric-names.ts) and nothing else of the runtime code.
 * docs/payout-protocol.md says why each payout timing is safe.
 */

/** The hour, defined once for the whole code base and its tests. */
const MINUTE_MS = 60_000;
export const HOUR_MS = 60 * MINUTE_MS;

/** One Stripe SDK call: (1 + retries) tries of the timeout, plus backoff. */
export const STRIPE_TIMEOUT_MS = 20_000;
export const STRIPE_MAX_NETWORK_RETRIES = 2;
export const STRIPE_CALL_BUDGET_MS = STRIPE_TIMEOUT_MS * (STRIPE_MAX_NETWORK_RETRIES + 1) + 5_000;

/** Time kept for the database work around one Stripe call (claim before, record after). */
const DATABASE_MARGIN_MS = 15_000;

/** A Stripe call (a create, or one page of a search) is started only with this much time left. */
export const MIN_TIME_FOR_STRIPE_CALL_MS = STRIPE_CALL_BUDGET_MS + DATABASE_MARGIN_MS;

/** A payout is started only with time for its slowest Stripe call and the database around it. */
export const MIN_TIME_FOR_PAYOUT_MS = MIN_TIME_FOR_STRIPE_CALL_MS;

/**
 * Publishing a payout's events right after its commit: the bus client's tries and timeouts
 * (shared/payout-event-bus.ts) and the outbox's statements fit in this. With less time left in the
 * invocation the events are left to the sweeper.
 */
export const EVENT_PUBLISH_BUDGET_MS = 10_000;
export const EVENT_PUBLISH_TRY_TIMEOUT_MS = 3_000;

/** A payout's lease outlives its slowest Stripe call, so two holders rarely overlap (safety never needs it). */
export const PAYOUT_LEASE_MS = STRIPE_CALL_BUDGET_MS + 30_000;

/** The longest a Lambda invocation can live (the hard limit of the service). */
export const LAMBDA_MAX_LIFETIME_MS = 15 * MINUTE_MS;

/** Stripe keeps an idempotency key at least this long after its first use. */
export const STRIPE_KEY_RETENTION_MS = 24 * HOUR_MS;

/**
 * A key is (re)sent only while younger than this, counted from its first send: a send started
 * inside the window arrives (its Lambda dies within 15 min) while Stripe still remembers the key.
 */
export const KEY_REUSE_WINDOW_MS = 20 * HOUR_MS;

/** After a key's last send, every request under it has finished: no Lambda lives this long. */
export const REQUEST_SETTLE_MS = HOUR_MS;

/** The search lists transfers created from the key's first send minus this (clock skew). */
export const SEARCH_MARGIN_MS = HOUR_MS;

/** How long the claim waits for a session row someone else has locked before giving up. */
export const SESSION_LOCK_TIMEOUT_MS = 5_000;

/**
 * Payout records per transfer Lambda invocation, paid one after another. A record starts only with
 * MIN_TIME_FOR_PAYOUT_MS left (the rest are handed back to the queue), and the timeout holds a full
 * batch (infra/transfer-pipeline.ts checks it).
 */
export const TRANSFER_BATCH_SIZE = 3;

/**
 * Stripe events per stripe-events Lambda invocation, handled one after another: each may wait for
 * a read slot (at most 10 s) and read one account (MIN_TIME_FOR_STRIPE_CALL_MS), and the timeout
 * holds a full batch (infra/stripe-events.ts checks it).
 */
export const STRIPE_EVENTS_BATCH_SIZE = 2;

/** Receives of a payout message before SQS moves it to the DLQ (the queue's RedrivePolicy). */
export const MAX_RECEIVE_COUNT = 5;
