import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { reconcileDay } from '../../lambdas/reconcile/daily-reconciliation.ts';
import type { ReconcileDeps } from '../../lambdas/reconcile/reconcile.ts';
import { paySession } from '../../lambdas/transfer/pay-session.ts';
import { lambdaContext, scheduledEvent } from '../../local/lambda-events.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { ReconciliationIncompleteError } from '../../shared/errors.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import { stubEnv } from '../helpers/env.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { fixedClock, recordingLog, testPacing, transferRoleDeps } from '../helpers/fakes.ts';
import { captureLogs, type LogCapture } from '../helpers/log-capture.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1DailyReconciliation';
const STRIPE_KEY = 'sk_test_daily_reconciliation';

describe('daily reconciliation', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let logs: LogCapture;
  let mentorId: string;
  /** When the day's payouts were made: two hours ago, before the range's end (an hour ago). */
  let paidAt: ReturnType<typeof fixedClock>;

  beforeAll(async () => {
    stripe = await startStripeStandIn({ now: () => paidAt.now().getTime() });
  });
  afterAll(async () => stripe.close());
  beforeEach(async () => {
    database = await createTestDatabase();
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
    paidAt = fixedClock(new Date(Date.now() - 2 * HOUR_MS));
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    logs = captureLogs();
    vi.resetModules();
    stubEnv({
      DATABASE_URL: database.urls.reconcile,
      STRIPE_SECRET_KEY: STRIPE_KEY,
      STRIPE_API_BASE: stripe.url,
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
  });
  afterEach(async () => {
    logs.stop();
    vi.unstubAllEnvs();
    await database.close();
  });

  const stripeClient = () => createStripeClient(STRIPE_KEY, stripe.url);

  /** The reconcile Lambda, as its schedule invokes it. */
  async function runReconciliation() {
    const { handler } = await import('../../lambdas/reconcile/handler.ts');
    return handler(scheduledEvent(), lambdaContext('payouts-reconcile'));
  }

  async function paidSession(): Promise<string> {
    const sessionId = await insertSession(database.db, mentorId);
    const result = await paySession(
      transferRoleDeps(database, { url: stripe.url, secretKey: STRIPE_KEY }, { clock: paidAt }),
      sessionId,
    );
    expect(result.outcome).toBe('paid');
    return sessionId;
  }

  it('reports a clean day as 0 mismatches, and records the run', async () => {
    await paidSession();
    await paidSession();

    const summary = await runReconciliation();

    expect(summary).toMatchObject({ stripeTransfers: 2, paidPayouts: 2, mismatches: 0 });
    expect(logs.metric('ReconciliationMismatches')).toEqual([
      { value: 0, dimensions: { service: 'payouts-reconcile' } },
    ]);
    expect(logs.metric('ReconciliationCompleted')).toEqual([
      { value: 1, dimensions: { service: 'payouts-reconcile' } },
    ]);
    const runs = await database.db.selectFrom('reconciliation_runs').selectAll().execute();
    expect(runs).toMatchObject([{ open: 0, stripe_transfers: 2, paid_payouts: 2, error: null }]);
  });

  it('counts a transfer at Stripe not marked here as a mismatch, logs it, and repairs nothing', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    const transfer = await stripeClient().transfers.create({
      amount: 8000,
      currency: 'usd',
      destination: ACCOUNT,
      metadata: { session_id: sessionId },
    });
    const requestsBefore = stripe.requests().length;

    const summary = await runReconciliation();

    expect(summary).toMatchObject({
      mismatches: 1,
      byKind: { paid_at_stripe_not_marked: 1 },
    });
    expect(logs.metric('ReconciliationMismatches')).toEqual([
      { value: 1, dimensions: { service: 'payouts-reconcile' } },
    ]);
    expect(logs.find('ERROR', 'Reconciliation mismatch; nothing was repaired')).toMatchObject([
      { kind: 'paid_at_stripe_not_marked', sessionId, transferId: transfer.id, fixed: false },
    ]);
    // Nothing repaired: the session, its payout and the admin log are as they were.
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
    expect(await attemptsFor(database.db, sessionId)).toEqual([]);
    expect(await database.db.selectFrom('payouts').selectAll().execute()).toEqual([]);
    expect(await database.db.selectFrom('payout_events').selectAll().execute()).toEqual([]);
    // Stripe was only read.
    expect(
      stripe
        .requests()
        .slice(requestsBefore)
        .every((request) => request.method === 'GET'),
    ).toBe(true);
  });

  it('counts a reversed transfer apart, logged and in its own metric, never as a mismatch, and repairs nothing', async () => {
    const sessionId = await paidSession();
    const [transfer] = stripe.transfers();
    if (!transfer) throw new Error('no transfer');
    await stripeClient().transfers.createReversal(transfer.id, { amount: 2000 });
    const requestsBefore = stripe.requests().length;

    const summary = await runReconciliation();

    expect(summary).toMatchObject({ mismatches: 0, byKind: {}, reversed: 1 });
    expect(logs.metric('ReconciliationMismatches')).toEqual([
      { value: 0, dimensions: { service: 'payouts-reconcile' } },
    ]);
    expect(logs.metric('ReconciliationReversals')).toEqual([
      { value: 1, dimensions: { service: 'payouts-reconcile' } },
    ]);
    expect(
      logs.find('WARN', 'Transfer reversed at Stripe; not a mismatch, nothing to repair'),
    ).toMatchObject([{ sessionId, transferId: transfer.id, amountReversed: 2000 }]);
    expect(logs.find('ERROR', 'Reconciliation mismatch; nothing was repaired')).toEqual([]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
    expect(
      stripe
        .requests()
        .slice(requestsBefore)
        .every((request) => request.method === 'GET'),
    ).toBe(true);
  });

  it('fails the invocation when Stripe is down: no metric, the run recorded with its error, never a silent pass', async () => {
    await paidSession();
    stripe.failNextList(10, 500);

    // The handler's module graph is loaded afresh per test: its error class is compared by name.
    await expect(runReconciliation()).rejects.toMatchObject({
      name: 'ReconciliationIncompleteError',
      message: expect.stringContaining('could not complete'),
    });

    expect(logs.metric('ReconciliationMismatches')).toEqual([]);
    expect(logs.metric('ReconciliationCompleted')).toEqual([]);
    const [run] = await database.db.selectFrom('reconciliation_runs').selectAll().execute();
    expect(run?.finished_at).not.toBeNull();
    expect(run?.error).toMatch(/could not complete/);
  });

  it('reads Stripe only in slots of the read budget: with the budget booked up it fails, having read nothing', async () => {
    await paidSession();
    // Every transfer Lambda's search and the CLI booked the list endpoint for the next hour.
    await database.db
      .insertInto('stripe_request_pacing')
      .values({ endpoint: 'transfers.list', next_slot_at: new Date(Date.now() + HOUR_MS) })
      .execute();
    const requestsBefore = stripe.requests().length;

    const run = reconcileDay({
      db: database.dbAs('reconcile'),
      stripe: stripeClient(),
      clock: fixedClock(new Date()),
      log: recordingLog(),
      pacing: testPacing(database.dbAs('reconcile')),
    });

    await expect(run).rejects.toThrow(/The Stripe read budget has no slot/);
    expect(stripe.requests().slice(requestsBefore)).toEqual([]);
  });

  it('starts where the last completed run ended, so a day that failed is reconciled by the next run', async () => {
    const now = new Date();
    const deps = (at: Date): ReconcileDeps => ({
      db: database.dbAs('reconcile'),
      stripe: stripeClient(),
      clock: fixedClock(at),
      log: recordingLog(),
      pacing: testPacing(database.dbAs('reconcile')),
    });
    const first = await reconcileDay(deps(new Date(now.getTime() - 48 * HOUR_MS)));
    stripe.failNextList(10, 500);
    await expect(reconcileDay(deps(new Date(now.getTime() - 24 * HOUR_MS)))).rejects.toThrow(
      ReconciliationIncompleteError,
    );
    stripe.clearFaults();
    await paidSession();

    const third = await reconcileDay(deps(now));

    expect(third.since).toBe(new Date(Date.parse(first.until) - HOUR_MS).toISOString());
    expect(third.until).toBe(new Date(now.getTime() - HOUR_MS).toISOString());
    expect(third).toMatchObject({ stripeTransfers: 1, paidPayouts: 1, mismatches: 0 });
  });
});
