import type { Kysely } from 'kysely';
import type { Database } from './db/database.ts';
import { takeStripeRequestSlot } from './db/stripe-request-pacing.repository.ts';

/**
 * The Stripe request budget (README, "Stripe request budget"): Stripe limits each endpoint to 25
 * requests per second by default, and the account to 100 (25 in a sandbox). Every transfer Lambda
 * and the CLI take a send slot for their endpoint from one schedule in Postgres before each
 * request, so the rate is a setting, not a by-product of concurrency and Stripe's latency.
 */
/** Stripe counts each named operation as an endpoint of its own. */
export type StripeEndpoint = 'transfers.create' | 'transfers.list' | 'transfers.retrieve';

export interface StripeBudget {
  /** POST /v1/transfers per second, across every Lambda. */
  createsPerSecond: number;
  /** GET /v1/transfers (searches, reconciliation), and GET /v1/transfers/:id apart, per second. */
  readsPerSecond: number;
}

/** The longest a request waits for its slot; a payout that would wait longer is handed back. */
export const MAX_SLOT_WAIT_MS = 10_000;

export interface PacingDeps {
  db: Kysely<Database>;
  sleep: (ms: number) => Promise<void>;
  budget: StripeBudget;
}

/** Waits for the endpoint's next slot; false (nothing taken) if it does not come within maxWaitMs. */
export async function waitForStripeSlot(
  deps: PacingDeps,
  endpoint: StripeEndpoint,
  maxWaitMs: number,
): Promise<boolean> {
  const perSecond =
    endpoint === 'transfers.create' ? deps.budget.createsPerSecond : deps.budget.readsPerSecond;
  const slot = await takeStripeRequestSlot(deps.db, endpoint, {
    perSecond,
    maxWaitMs: Math.max(0, Math.min(maxWaitMs, MAX_SLOT_WAIT_MS)),
  });
  if (!slot) return false;
  if (slot.waitMs > 0) await deps.sleep(slot.waitMs);
  return true;
}

/**
 * How long to back off after Stripe's 429, by its Stripe-Rate-Limited-Reason: a rate limit is
 * counted per second, a concurrency limit frees up as requests finish, and a 429 without a reason
 * may be a lock timeout on the object. Doubles with each attempt, capped.
 */
export function rateLimitBackoffMs(reason: string | undefined, attempt: number): number {
  const base =
    reason === 'global-concurrency' || reason === 'endpoint-concurrency'
      ? 250
      : reason === undefined
        ? 500
        : 1_000;
  return Math.min(base * 2 ** Math.max(0, attempt - 1), 8_000);
}
