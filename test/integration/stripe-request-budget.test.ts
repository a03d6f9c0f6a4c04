import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  handlePayoutRecord,
  MAX_HAND_BACKS,
  type RecordResult,
  type TransferDeps,
} from '../../lambdas/transfer/handle-payout-record.ts';
import { type PaySessionDeps, paySession } from '../../lambdas/transfer/pay-session.ts';
import { sqsRecord } from '../../local/lambda-events.ts';
import { drainQueue } from '../../local/lambda-poller.ts';
import { type LocalSqs, startLocalSqs } from '../../local/local-sqs.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { DeferredPayoutError } from '../../shared/errors.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import {
  createSqsPayoutQueue,
  HAND_BACKS_ATTRIBUTE,
  type PayoutHandBack,
  payoutMessageBody,
} from '../../shared/payout-queue.ts';
import { PACED_CALL_HEADER, type StripeBudget } from '../../shared/stripe-budget.ts';
import { insertMentor, insertSession, sessionPayoutStatus } from '../helpers/factories.ts';
import { fixedClock, recordingLog, testPayoutConfig, transferRoleDeps } from '../helpers/fakes.ts';
import { receiveAllBodies } from '../helpers/sqs.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1RequestBudgetTests';

describe('the Stripe request budget and Stripe’s 429s', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let mentorId: string;
  let waits: number[];
  let log: ReturnType<typeof recordingLog>;

  beforeAll(async () => {
    [database, stripe] = await Promise.all([createTestDatabase(), startStripeStandIn()]);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  });
  afterAll(async () => Promise.all([database.close(), stripe.close()]));
  beforeEach(async () => {
    await database.db.deleteFrom('stripe_request_pacing').execute();
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    waits = [];
    log = recordingLog();
  });

  /** Sleeps are recorded, not waited: what is asserted is how long the code chose to wait. */
  function deps(budget?: StripeBudget): PaySessionDeps {
    return transferRoleDeps(
      database,
      { url: stripe.url, secretKey: 'sk_test_request_budget' },
      {
        clock: fixedClock(new Date()),
        log,
        config: testPayoutConfig(budget && { stripeBudget: budget }),
        sleep: async (ms) => {
          waits.push(ms);
        },
        timeLeftMs: () => 300_000,
      },
    );
  }
  const posts = () => stripe.requests().filter((request) => request.method === 'POST');

  it('sends each transfer in its slot of the budget: at 2 per second the second waits 0.625 s (half a second and the lateness a send may have)', async () => {
    const budget = { createsPerSecond: 2, readsPerSecond: 2 };
    const [first, second] = [
      await insertSession(database.db, mentorId),
      await insertSession(database.db, mentorId),
    ];

    await paySession(deps(budget), first);
    await paySession(deps(budget), second);

    expect(waits).toHaveLength(1);
    // The second slot is 625 ms after the first ((1 s + twice the 125 ms tolerance) / 2), less the time the
    // first payout took.
    expect(waits[0]).toBeGreaterThan(0);
    expect(waits[0]).toBeLessThanOrEqual(625);
    expect(stripe.transfers()).toHaveLength(2);
  });

  it('gives each of the Stripe SDK’s own retries a slot of the budget: after Stripe’s 503s its rate limit answers no 429', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    // Stripe allows 1 a second; the first two sends get 503s (not stored under the key), which
    // the SDK sends again itself (after 0.5-1 s), under the same key, inside the one call.
    stripe.limitRate(1);
    stripe.failNext(2, 503);

    const result = await paySession(
      { ...deps({ createsPerSecond: 1, readsPerSecond: 1 }), sleep: undefined },
      sessionId,
    );

    expect(posts().map((request) => request.status)).toEqual([503, 503, 200]);
    expect(stripe.rateLimited()).toBe(0);
    // Each of the three requests left in a slot of its own: 1.5 s apart, less the lateness allowed.
    const [first, second, third] = posts().map((request) => request.at);
    expect((second ?? 0) - (first ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect((third ?? 0) - (second ?? 0)).toBeGreaterThanOrEqual(1_000);
    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
  });

  it('takes the header naming a paced call off every request before it leaves, retries included', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    stripe.failNext(1, 503);

    const result = await paySession({ ...deps(), sleep: undefined }, sessionId);

    expect(result.outcome).toBe('paid');
    expect(posts().map((request) => request.status)).toEqual([503, 200]);
    for (const request of stripe.requests()) {
      expect(request.headerNames).toContain('idempotency-key');
      expect(request.headerNames).not.toContain(PACED_CALL_HEADER.toLowerCase());
    }
  });

  it('does not send an SDK retry that finds no slot in time: the payout keeps its key, and the next delivery pays once with it', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    // One request every 100 s: the retry after the 503 has no slot within the 10 s it may wait.
    stripe.failNext(1, 503);

    const first = paySession(deps({ createsPerSecond: 0.01, readsPerSecond: 0.01 }), sessionId);

    await expect(first).rejects.toThrow(/Stripe request budget/);
    expect(posts().map((request) => request.status)).toEqual([503]);
    await database.db.deleteFrom('stripe_request_pacing').execute();
    const second = await paySession(deps(), sessionId);
    expect(second.outcome).toBe('paid');
    expect(posts().map((request) => request.status)).toEqual([503, 200]);
    expect(new Set(posts().map((request) => request.idempotencyKey)).size).toBe(1);
    expect(stripe.transfers()).toHaveLength(1);
  });

  it('hands a payout back, without calling Stripe, when its slot would come later than it can wait', async () => {
    // One request every 100 s: the second payout's slot is far beyond the 10 s it may wait.
    const budget = { createsPerSecond: 0.01, readsPerSecond: 0.01 };
    const [first, second] = [
      await insertSession(database.db, mentorId),
      await insertSession(database.db, mentorId),
    ];
    await paySession(deps(budget), first);

    const deferred = paySession(deps(budget), second);

    await expect(deferred).rejects.toBeInstanceOf(DeferredPayoutError);
    await expect(deferred).rejects.toMatchObject({ code: 'rate_limited' });
    expect(posts()).toHaveLength(1);
    // Its lease is let go: the handed-back message can start at once.
    const payout = await database.db
      .selectFrom('payouts')
      .select('lease_expires_at')
      .where('session_id', '=', second)
      .executeTakeFirstOrThrow();
    expect(payout.lease_expires_at).toBeNull();
  });

  it('backs off from Stripe’s 429 by its reason and sends the same key again, paying once', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    stripe.failNext(2, 429);

    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(waits).toEqual([1_000, 2_000]);
    expect(new Set(posts().map((request) => request.idempotencyKey)).size).toBe(1);
    expect(posts().map((request) => request.status)).toEqual([429, 429, 200]);
    expect(stripe.transfers()).toHaveLength(1);
  });

  it('hands the payout back when Stripe keeps answering 429, and the next delivery pays it once with the same key', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    stripe.failNext(10, 429);

    await expect(paySession(deps(), sessionId)).rejects.toMatchObject({
      name: 'DeferredPayoutError',
      code: 'rate_limited',
    });
    stripe.clearFaults();
    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    expect(new Set(posts().map((request) => request.idempotencyKey)).size).toBe(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('backs off from a 429 on a page of the search, then finds the transfer', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    // A stored 500 after the transfer was made: the next delivery must search.
    stripe.failNextAfterCreate(1);
    await expect(paySession(deps(), sessionId)).rejects.toThrow();
    stripe.failNextList(1, 429);

    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(waits).toContain(1_000);
    expect(stripe.transfers()).toHaveLength(1);
  });

  describe('through the transfer handler and a real queue', () => {
    let sqs: LocalSqs;
    beforeAll(async () => {
      sqs = await startLocalSqs({ queueName: `budget-${crypto.randomUUID().slice(0, 8)}` });
    });
    afterAll(async () => sqs.stop());

    /** The real SQS adapter, with the hand-back delay cut to nothing so the test need not wait. */
    function handBackAtOnce(): PayoutHandBack {
      const queue = createSqsPayoutQueue(sqs.sqs, sqs.queueUrl);
      return {
        handBack: (sessionId, options) =>
          queue.handBack(sessionId, { ...options, delaySeconds: 0 }),
      };
    }

    /** The transfer handler over a real queue, as the event source mapping drives it. */
    async function drainThroughHandler(transferDeps: TransferDeps): Promise<RecordResult[]> {
      const results: RecordResult[] = [];
      const handler = async (event: { Records: Parameters<typeof handlePayoutRecord>[1][] }) => {
        const batchItemFailures: { itemIdentifier: string }[] = [];
        for (const record of event.Records) {
          try {
            results.push(await handlePayoutRecord(transferDeps, record, () => 300_000));
          } catch {
            batchItemFailures.push({ itemIdentifier: record.messageId });
          }
        }
        return { batchItemFailures };
      };
      await drainQueue({ sqs: sqs.sqs, queueUrl: sqs.queueUrl, queueArn: sqs.queueArn, handler });
      return results;
    }
    const enqueueSessions = async (count: number) => {
      const sessionIds = await Promise.all(
        Array.from({ length: count }, () => insertSession(database.db, mentorId)),
      );
      await createSqsPayoutQueue(sqs.sqs, sqs.queueUrl).sendBatch(sessionIds);
      return sessionIds;
    };
    const expectEachPaidOnce = async (sessionIds: string[]) => {
      expect(await receiveAllBodies(sqs.sqs, sqs.dlqUrl)).toEqual([]);
      expect(
        stripe
          .transfers()
          .map((transfer) => transfer.metadata.session_id)
          .sort(),
      ).toEqual([...sessionIds].sort());
      for (const sessionId of sessionIds) {
        expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
      }
    };

    it('a burst of 429s, more than the receives of every message together, dead-letters nothing and pays each session once', async () => {
      const sessionIds = await enqueueSessions(6);
      // 6 messages × 5 receives = 30 deliveries before everything would be dead-lettered.
      stripe.failNext(40, 429);

      const results = await drainThroughHandler({
        ...deps(),
        metrics: createMetrics(SERVICE.transfer),
        queue: handBackAtOnce(),
      });

      expect(posts().filter((request) => request.status === 429)).toHaveLength(40);
      expect(results.filter((result) => result.outcome === 'handed_back').length).toBeGreaterThan(
        0,
      );
      await expectEachPaidOnce(sessionIds);
    });

    it('pacing at the budget keeps Stripe’s own rate limit from answering 429 at all', async () => {
      const sessionIds = await enqueueSessions(6);
      // Stripe allows 2 a second; the budget leaves headroom, as the environments' budgets do.
      stripe.limitRate(2);

      await drainThroughHandler({
        ...deps({ createsPerSecond: 1.5, readsPerSecond: 1.5 }),
        sleep: undefined,
        metrics: createMetrics(SERVICE.transfer),
        queue: handBackAtOnce(),
      });

      expect(stripe.rateLimited()).toBe(0);
      await expectEachPaidOnce(sessionIds);
    });

    it('counts receives again after too many hand-backs, so a payout that never starts still reaches the DLQ', async () => {
      const sessionId = await insertSession(database.db, mentorId);
      const transferDeps: TransferDeps = {
        ...deps(),
        metrics: createMetrics(SERVICE.transfer),
        queue: handBackAtOnce(),
      };
      const record = sqsRecord(
        {
          MessageId: 'm-1',
          ReceiptHandle: 'r-1',
          Body: payoutMessageBody(sessionId),
          MessageAttributes: {
            [HAND_BACKS_ATTRIBUTE]: { DataType: 'Number', StringValue: String(MAX_HAND_BACKS) },
          },
        },
        sqs.queueArn,
      );

      // Too little time left: deferred, but it has been handed back the most times already.
      const outcome = handlePayoutRecord(transferDeps, record, () => 1_000);

      await expect(outcome).rejects.toBeInstanceOf(DeferredPayoutError);
      expect(await receiveAllBodies(sqs.sqs, sqs.queueUrl)).toEqual([]);
    });
  });
});
