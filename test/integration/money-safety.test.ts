import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PaySessionDeps, paySession } from '../../lambdas/transfer/pay-session.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { TransientPayoutError } from '../../shared/errors.ts';
import type { AmountLimits } from '../../shared/payout-policy.ts';
import { HOUR_MS, MIN_TIME_FOR_STRIPE_CALL_MS } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import {
  fixedClock,
  GENEROUS_LIMITS,
  testPayoutConfig,
  transferRoleDeps,
} from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Issue 10's findings, each reproduced through paySession against the Stripe stand-in as a
 * Lambda would meet it: each of these paid twice, paid too much, hid a transfer, exceeded a limit
 * or waited without bound before the payout protocol was rewritten around recovery points.
 */
const ACCOUNT = 'acct_1MoneySafety';
const KEY = 'sk_test_money_safety';

describe('money safety regressions (issue 10)', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let clock: ReturnType<typeof fixedClock>;
  let mentorId: string;
  let limits: AmountLimits;

  beforeAll(async () => {
    [database, stripe] = await Promise.all([
      createTestDatabase(),
      startStripeStandIn({ now: () => clock.now().getTime() }),
    ]);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  });
  afterAll(async () => Promise.all([database.close(), stripe.close()]));
  beforeEach(async () => {
    await database.db.deleteFrom('payout_daily_totals').execute();
    // The stand-in stamps the account's creation on this clock.
    clock = fixedClock(new Date('2026-11-25T10:00:00Z'));
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    limits = GENEROUS_LIMITS;
  });

  function deps(overrides: Partial<PaySessionDeps> = {}): PaySessionDeps {
    return transferRoleDeps(
      database,
      { url: stripe.url, secretKey: KEY },
      {
        clock,
        config: testPayoutConfig({ limits }),
        ...overrides,
      },
    );
  }

  const later = (ms: number) => clock.set(new Date(clock.now().getTime() + ms));
  const transfersFor = (sessionId: string) =>
    stripe.transfers().filter((transfer) => transfer.metadata.session_id === sessionId);
  const keysSent = () => [
    ...new Set(
      stripe
        .requests()
        .filter((request) => request.method === 'POST')
        .map((request) => request.idempotencyKey),
    ),
  ];
  /** A delivery whose transient failure is what SQS would see; resolves to the error. */
  const failedDelivery = (sessionDeps: PaySessionDeps, sessionId: string) =>
    paySession(sessionDeps, sessionId).then(
      (result) => {
        throw new Error(`expected a transient failure, got ${JSON.stringify(result)}`);
      },
      (error: unknown) => error,
    );
  async function untilStripeIsIdle(): Promise<void> {
    const deadline = Date.now() + 10_000;
    while (stripe.inFlight() > 0) {
      if (Date.now() > deadline) throw new Error('Stripe stand-in still executing after 10 s');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('finding 1: pays once when Stripe still executes the first request after the client gave up and the session is delivered again at once', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    // Longer than the client's timeouts and both SDK retries (which meet 409s) together.
    stripe.slowNext(1, 2500);
    const impatient = deps({
      stripe: createStripeClient(KEY, stripe.url, { timeoutMs: 100 }),
    });

    const first = await failedDelivery(impatient, sessionId);
    // The same session again in the batch (or a retry, a redrive, a repeated SendMessageBatch).
    await paySession(impatient, sessionId).catch(() => undefined);
    await untilStripeIsIdle();
    await paySession(deps(), sessionId);

    expect(first).toBeInstanceOf(TransientPayoutError);
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(keysSent()).toEqual([`payout-${sessionId}-1`]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
    const paid = (await attemptsFor(database.db, sessionId)).filter((a) => a.outcome === 'paid');
    expect(paid.map((attempt) => attempt.stripe_transfer_id)).toEqual([
      transfersFor(sessionId)[0]?.id,
    ]);
  });

  it('finding 2: a search failing with a 4xx leaves the outcome unknown instead of ending the generation', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.dropNextAfterCreate(3); // created; the answer and both retries' answers are lost
    await failedDelivery(deps(), sessionId);
    later(21 * HOUR_MS); // past the key's reuse window: the next delivery must search
    stripe.failNextList(1, 404); // a misrouted call

    const searchFailed = await failedDelivery(deps(), sessionId);
    const result = await paySession(deps(), sessionId);

    expect(searchFailed).toBeInstanceOf(TransientPayoutError);
    expect(result.outcome).toBe('paid');
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('finding 3: finds a transfer that Stripe filed under its source charge’s group, by metadata', async () => {
    stripe.fileUnderChargeGroup(true);
    const sessionId = await insertSession(database.db, mentorId, {
      now: clock.now(),
      stripe_charge_id: 'ch_1MoneySafetyGroup',
    });
    stripe.dropNextAfterCreate(3);
    await failedDelivery(deps(), sessionId);
    later(21 * HOUR_MS);
    stripe.forgetIdempotencyKeys(); // pruned: only a search can find the transfer now

    const result = await paySession(deps(), sessionId);

    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(transfersFor(sessionId)[0]?.transfer_group).toBe('group_ch_1MoneySafetyGroup');
    expect(result).toMatchObject({ outcome: 'paid', transferId: transfersFor(sessionId)[0]?.id });
  });

  it('finding 4: pays with a new key on the first delivery after the platform balance was topped up', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.setBalance('usd', 0);

    const refused = await failedDelivery(deps(), sessionId);
    stripe.setBalance('usd', null);
    const result = await paySession(deps(), sessionId);

    expect(refused).toMatchObject({ code: 'balance_insufficient' });
    expect(result.outcome).toBe('paid');
    expect(keysSent()).toEqual([`payout-${sessionId}-1`, `payout-${sessionId}-2`]);
    expect((await attemptsFor(database.db, sessionId)).map((a) => a.outcome)).toEqual([
      'retrying',
      'paid',
    ]);
  });

  it.each([
    [
      'refunded in full',
      async (db: TestDatabase['db'], sessionId: string) =>
        db
          .updateTable('sessions')
          .set({ refunded_amount: 10_000 })
          .where('id', '=', sessionId)
          .execute(),
      'the net amount is now 0 usd',
    ],
    [
      'cancelled',
      async (db: TestDatabase['db'], sessionId: string) =>
        db
          .updateTable('sessions')
          .set({ status: 'cancelled' })
          .where('id', '=', sessionId)
          .execute(),
      'the session is now cancelled',
    ],
    [
      'left by a mentor who disconnected Stripe',
      async (db: TestDatabase['db'], sessionId: string) => {
        const row = await db
          .selectFrom('sessions')
          .select('mentor_id')
          .where('id', '=', sessionId)
          .executeTakeFirstOrThrow();
        await db
          .updateTable('mentors')
          .set({ stripe_account_id: null })
          .where('id', '=', row.mentor_id)
          .execute();
      },
      'the session would now fail (no_connected_account): The mentor has no connected Stripe account',
    ],
  ])(
    'finding 5: records the transfer behind a lost answer although the session was then %s, flagged for review',
    async (_change, change, description) => {
      const mentor = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
      const sessionId = await insertSession(database.db, mentor, { now: clock.now() });
      stripe.dropNextAfterCreate(3);
      await failedDelivery(deps(), sessionId);
      await change(database.db, sessionId);

      const result = await paySession(deps(), sessionId);

      expect(transfersFor(sessionId)).toHaveLength(1);
      expect(result).toMatchObject({ outcome: 'paid', transferId: transfersFor(sessionId)[0]?.id });
      expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
      expect((await attemptsFor(database.db, sessionId)).at(-1)).toMatchObject({
        outcome: 'paid',
        error_code: 'paid_after_change',
        error_message: description,
      });
    },
  );

  it('finding 6: a generation retried on a later day is reserved against that day, so the day stays within its limit', async () => {
    limits = { perTransfer: { '*': 1_000_000 }, dailyTotal: { usd: 10_000, '*': 100_000_000 } };
    const first = await insertSession(database.db, mentorId, { now: clock.now() });
    const second = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.failNext(3, 503); // no answer, nothing created
    await failedDelivery(deps(), first);
    clock.set(new Date('2026-11-26T11:00:00Z'));
    stripe.forgetIdempotencyKeys();

    const results = [await paySession(deps(), first), await paySession(deps(), second)];

    const dayTwo = stripe
      .transfers()
      .filter((transfer) => transfer.created >= Date.parse('2026-11-26T00:00:00Z') / 1000);
    expect(dayTwo.reduce((sum, transfer) => sum + transfer.amount, 0)).toBeLessThanOrEqual(10_000);
    expect(results.map((result) => result.outcome)).toEqual(['paid', 'failed']);
    expect(results[1]).toMatchObject({ code: 'amount_over_limit' });
  });

  it.each([
    ['a negative refund', { refunded_amount: -5000 }],
    ['a refund above the price', { refunded_amount: 10_001 }],
    ['a price of zero', { price_amount: 0 }],
    ['a currency that is not ISO 4217', { currency: 'xyz' }],
    ['an upper-case currency', { currency: 'USD' }],
  ])('finding 7: never pays a row with %s; holds it for review', async (_name, columns) => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now(), ...columns });

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'failed', code: 'invalid_session_row' });
    expect(stripe.requests()).toEqual([]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
  });

  it('finding 7: holds a price above 2^53 for review instead of failing on it at every delivery', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await sql`update sessions set price_amount = 9007199254740993 where id = ${sessionId}`.execute(
      database.db,
    );

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'failed', code: 'invalid_session_row' });
    expect(stripe.requests()).toEqual([]);
  });

  it('finding 8: gives up on a session row the marketplace keeps locked, instead of waiting without bound', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    const marketplace = new pg.Client({ connectionString: database.url });
    await marketplace.connect();
    await marketplace.query('begin');
    await marketplace.query('select 1 from sessions where id = $1 for update', [sessionId]);
    try {
      const outcome = await Promise.race([
        failedDelivery(deps(), sessionId),
        new Promise((resolve) => setTimeout(() => resolve('still waiting after 15 s'), 15_000)),
      ]);

      expect(outcome).toMatchObject({ code: 'session_locked' });
      expect(stripe.requests()).toEqual([]);
    } finally {
      await marketplace.query('rollback');
      await marketplace.end();
    }
  });

  it('finding 8: after a search, starts the new key’s request only with time left for it', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.failNext(3, 503);
    await failedDelivery(deps(), sessionId);
    later(21 * HOUR_MS);
    let calls = 0;
    // Time for exactly one Stripe call: the search; the create would not fit any more.
    const timeLeftMs = () =>
      calls++ === 0 ? MIN_TIME_FOR_STRIPE_CALL_MS : MIN_TIME_FOR_STRIPE_CALL_MS - 1;
    const postsBefore = stripe.requests().filter((request) => request.method === 'POST').length;

    const deferred = await failedDelivery(deps({ timeLeftMs }), sessionId);
    const posts = stripe.requests().filter((request) => request.method === 'POST').length;
    const result = await paySession(deps(), sessionId);

    expect(deferred).toMatchObject({ code: 'deferred' });
    expect(posts).toBe(postsBefore);
    expect(stripe.requests().filter((request) => request.method === 'GET')).toHaveLength(1);
    expect(result.outcome).toBe('paid');
    expect(transfersFor(sessionId)).toHaveLength(1);
  });
});
