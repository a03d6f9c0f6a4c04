import type { Kysely } from 'kysely';
import type { PaySessionDeps } from '../../lambdas/transfer/pay-session.ts';
import { type Clock, systemClock } from '../../shared/clock.ts';
import type { Database } from '../../shared/db/database.ts';
import type { Log } from '../../shared/logger.ts';
import type { AmountLimits } from '../../shared/payout-policy.ts';
import type { PacingDeps } from '../../shared/stripe-budget.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import type { TestDatabase } from './test-database.ts';

export interface RecordedLog {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  data: Record<string, unknown>;
}

/** A Log that remembers what it was told, for use-case tests. */
export function recordingLog(): Log & { entries: RecordedLog[] } {
  const entries: RecordedLog[] = [];
  const at =
    (level: RecordedLog['level']) =>
    (message: string, ...rest: unknown[]) => {
      entries.push({ level, message, data: Object.assign({}, ...(rest as object[])) });
    };
  return {
    entries,
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
  } as Log & { entries: RecordedLog[] };
}

export function fixedClock(now: Date): Clock & { set(next: Date): void } {
  let current = now;
  return {
    now: () => current,
    set(next) {
      current = next;
    },
  };
}

/** Amount limits high enough that no test reaches them unless it sets its own. */
export const GENEROUS_LIMITS: AmountLimits = {
  perTransfer: { '*': 1_000_000 },
  dailyTotal: { '*': 100_000_000 },
};

/** A Stripe request budget no test reaches unless it sets its own. */
export const UNLIMITED_STRIPE_BUDGET = { createsPerSecond: 10_000, readsPerSecond: 10_000 };

/** Reconcile's pacing in tests: the file's database, a budget it never waits for. */
export function testPacing(db: Kysely<Database>): PacingDeps {
  return { db, sleep: async () => {}, budget: UNLIMITED_STRIPE_BUDGET };
}

/** paySession's config as the tests use it: a 20 % fee, 24 h grace, a 90 s lease, not paused. */
export function testPayoutConfig(
  overrides: Partial<PaySessionDeps['config']> = {},
): PaySessionDeps['config'] {
  return {
    feeBps: 2000,
    graceHours: 24,
    paused: false,
    leaseMs: 90_000,
    limits: GENEROUS_LIMITS,
    stripeBudget: UNLIMITED_STRIPE_BUDGET,
    ...overrides,
  };
}

/**
 * paySession's deps as the integration tests build them: the code connects as the transfer
 * Lambda's role, the real Stripe SDK talks to the stand-in with the test's secret key, a fresh recording log, the test config;
 * anything else (the clock, faults, how sleeps are taken, …) comes in `overrides`.
 */
export function transferRoleDeps(
  database: Pick<TestDatabase, 'dbAs'>,
  /** Stripe scopes idempotency keys to the secret key: a test's own SDK calls must use the same. */
  stripe: { url: string; secretKey: string },
  overrides: Partial<PaySessionDeps> = {},
): PaySessionDeps {
  return {
    db: database.dbAs('transfer'),
    stripe: createStripeClient(stripe.secretKey, stripe.url),
    clock: systemClock,
    log: recordingLog(),
    config: testPayoutConfig(),
    ...overrides,
  };
}
