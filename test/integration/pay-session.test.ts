import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PaySessionDeps, paySession } from '../../lambdas/transfer/pay-session.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { PayoutInProgressError } from '../../shared/errors.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { fixedClock, recordingLog } from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1PaySessionTests';
const LEASE_MS = 90_000;

describe('paySession recovery', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let clock: ReturnType<typeof fixedClock>;
  let log: ReturnType<typeof recordingLog>;
  let mentorId: string;

  beforeAll(async () => {
    [database, stripe] = await Promise.all([createTestDatabase(), startStripeStandIn()]);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  });
  afterAll(async () => Promise.all([database.close(), stripe.close()]));
  beforeEach(() => {
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    clock = fixedClock(new Date());
    log = recordingLog();
  });

  function deps(): PaySessionDeps {
    return {
      db: database.db,
      stripe: createStripeClient('sk_test_pay_session', stripe.url),
      clock,
      log,
      config: { feeBps: 2000, graceHours: 24, paused: false, leaseMs: LEASE_MS },
    };
  }

  /** What a Lambda leaves behind when it dies after claiming (and maybe after calling Stripe). */
  async function crashedClaim(sessionId: string, amount: number, leaseExpiresAt: Date) {
    await database.db
      .insertInto('payouts')
      .values({
        session_id: sessionId,
        state: 'in_progress',
        key_generation: 1,
        amount,
        currency: 'usd',
        destination: ACCOUNT,
        source_transaction: null,
        lease_expires_at: leaseExpiresAt,
        stripe_transfer_id: null,
        claim_count: 1,
      })
      .execute();
  }

  it('finishes a payout whose Lambda died after Stripe created the transfer: same key, one transfer', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, 8000, new Date(clock.now().getTime() - 1));
    const firstTry = await createStripeClient('sk_test_pay_session', stripe.url).transfers.create(
      {
        amount: 8000,
        currency: 'usd',
        destination: ACCOUNT,
        transfer_group: `session_${sessionId}`,
        metadata: { session_id: sessionId },
      },
      { idempotencyKey: `payout-${sessionId}-1` },
    );

    const result = await paySession(deps(), sessionId);

    expect(result).toEqual({
      outcome: 'paid',
      sessionId,
      transferId: firstTry.id,
      amount: 8000,
      currency: 'usd',
    });
    expect(stripe.transfers()).toHaveLength(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('leaves a payout alone while another invocation holds its lease', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, 8000, new Date(clock.now().getTime() + 5_000));

    await expect(paySession(deps(), sessionId)).rejects.toBeInstanceOf(PayoutInProgressError);
    expect(stripe.requests()).toEqual([]);
  });

  it('takes the payout over once the lease has expired', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, 8000, new Date(clock.now().getTime() + 5_000));
    clock.set(new Date(clock.now().getTime() + 5_001));

    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.requests().map((request) => request.idempotencyKey)).toEqual([
      `payout-${sessionId}-1`,
    ]);
  });

  it('resends the original terms, with the original key, when the session changed after an unanswered request', async () => {
    const sessionId = await insertSession(database.db, mentorId, {
      now: clock.now(),
      refunded_amount: 5000,
    });
    await crashedClaim(sessionId, 8000, new Date(clock.now().getTime() - 1));

    await paySession(deps(), sessionId);

    expect(stripe.transfers()).toMatchObject([{ amount: 8000 }]);
    expect(log.entries.map((entry) => entry.message)).toContain(
      'Session changed since its transfer was first requested; resending the original terms',
    );
  });

  it('uses a new key generation after Stripe refused, once the account is fixed', async () => {
    stripe.setAccount(ACCOUNT, 'restricted');
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });

    const refused = await paySession(deps(), sessionId);
    stripe.setAccount(ACCOUNT, 'active');
    const paid = await paySession(deps(), sessionId);

    expect(refused).toMatchObject({
      outcome: 'failed',
      code: 'insufficient_capabilities_for_transfer',
    });
    expect(paid.outcome).toBe('paid');
    expect(stripe.requests().map((request) => request.idempotencyKey)).toEqual([
      `payout-${sessionId}-1`,
      `payout-${sessionId}-2`,
    ]);
    expect((await attemptsFor(database.db, sessionId)).map((attempt) => attempt.outcome)).toEqual([
      'failed',
      'paid',
    ]);
  });

  it('records a transient failure, releases the lease, and pays with the same key on redelivery', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.failNext(1, 429);

    await expect(paySession(deps(), sessionId)).rejects.toMatchObject({ code: 'rate_limit' });
    const retried = await paySession(deps(), sessionId);

    expect(retried.outcome).toBe('paid');
    const keys = stripe.requests().map((request) => request.idempotencyKey);
    expect(new Set(keys)).toEqual(new Set([`payout-${sessionId}-1`]));
    expect((await attemptsFor(database.db, sessionId)).map((attempt) => attempt.outcome)).toEqual([
      'retrying',
      'paid',
    ]);
  });
});
