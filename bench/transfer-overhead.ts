import { performance } from 'node:perf_hooks';
import { type Kysely, sql } from 'kysely';
import type Stripe from 'stripe';
import { type PaySessionDeps, paySession } from '../lambdas/transfer/pay-session.ts';
import { systemClock } from '../shared/clock.ts';
import type { Database } from '../shared/db/database.ts';
import { PAYOUT_LEASE_MS } from '../shared/runtime-limits.ts';
import { createStripeClient } from '../shared/stripe-client.ts';
import { type Figure, percentile, round, secondaryFigure, targetFigure } from './figures.ts';
import type { StandInProcess } from './stand-in-process.ts';
import { seedPayableSessions } from './transfer-throughput.ts';

/** Issue 10's target: the money-safety protocol's own cost per payout, at the median. */
const OVERHEAD_P50_TARGET_MS = 5;
const WARM_UP_PAYOUTS = 20;
const ROUND_TRIP_SAMPLES = 500;
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface TransferOverheadOptions {
  db: Kysely<Database>;
  standIn: StandInProcess;
  payouts: number;
}

/**
 * The transfer path's own overhead: the time of one paySession (claim, reservation, slot, record,
 * the outbox) minus the time of its Stripe calls, one payout at a time with the stand-in answering
 * at once and no rate limit, so nothing waits but our code and the database. The same run's
 * database round trip through the same pool is the floor it is made of.
 */
export async function benchTransferOverhead(options: TransferOverheadOptions): Promise<Figure[]> {
  const { db, standIn } = options;
  await standIn.setLatency(0);
  await standIn.limitRate(null);
  const ids = await seedPayableSessions(db, WARM_UP_PAYOUTS + options.payouts);
  const accounts = await db.selectFrom('mentors').select('stripe_account_id').execute();
  await standIn.activateAccounts(accounts.flatMap((row) => row.stripe_account_id ?? []));

  const stripe = createStripeClient('sk_test_bench', standIn.url);
  let stripeMs = 0;
  const timed =
    <A extends unknown[], R>(call: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const start = performance.now();
      try {
        return await call(...args);
      } finally {
        stripeMs += performance.now() - start;
      }
    };
  const timedStripe: PaySessionDeps['stripe'] = {
    on: stripe.on.bind(stripe),
    off: stripe.off.bind(stripe),
    transfers: {
      create: timed(
        stripe.transfers.create.bind(stripe.transfers),
      ) as Stripe['transfers']['create'],
      list: timed(stripe.transfers.list.bind(stripe.transfers)) as Stripe['transfers']['list'],
    },
  };
  const deps: PaySessionDeps = {
    db,
    stripe: timedStripe,
    clock: systemClock,
    log: silentLog,
    config: {
      feeBps: 2000,
      graceHours: 24,
      paused: false,
      leaseMs: PAYOUT_LEASE_MS,
      limits: { perTransfer: { '*': 1_000_000 }, dailyTotal: { '*': 1_000_000_000_000 } },
      // The overhead is our own code: a budget it never waits for (the slot is still taken).
      stripeBudget: { createsPerSecond: 10_000, readsPerSecond: 10_000 },
    },
  };

  const roundTrips: number[] = [];
  for (let i = 0; i < ROUND_TRIP_SAMPLES; i += 1) {
    const start = performance.now();
    await sql`select 1`.execute(db);
    roundTrips.push(performance.now() - start);
  }
  const overheads: number[] = [];
  for (const [index, id] of ids.entries()) {
    stripeMs = 0;
    const start = performance.now();
    const result = await paySession(deps, id);
    const overhead = performance.now() - start - stripeMs;
    if (result.outcome !== 'paid') {
      throw new Error(`Correctness check failed: session ${id} ended ${JSON.stringify(result)}`);
    }
    if (index >= WARM_UP_PAYOUTS) overheads.push(overhead);
  }
  const observed = await standIn.observed();
  const paid = new Set(observed.sessionIds);
  if (!ids.every((id) => paid.has(id))) {
    throw new Error('Correctness check failed: a session paid here has no transfer at Stripe');
  }

  const p50 = percentile(overheads, 50);
  const roundTrip = percentile(roundTrips, 50);
  return [
    targetFigure(
      `transfer overhead, our code + database (${overheads.length} payouts) p50`,
      round(p50),
      'ms',
      { text: `≤ ${OVERHEAD_P50_TARGET_MS} ms`, met: (value) => value <= OVERHEAD_P50_TARGET_MS },
      `one paySession minus its Stripe calls, one payout at a time, stand-in at 0 ms; ${round(p50 / roundTrip, 1)} database round trips of ${round(roundTrip, 3)} ms (select 1, same pool, same run)`,
    ),
    secondaryFigure('transfer overhead p95', round(percentile(overheads, 95)), 'ms'),
    secondaryFigure('database round trip (select 1) p50, same run', round(roundTrip, 3), 'ms'),
  ];
}
