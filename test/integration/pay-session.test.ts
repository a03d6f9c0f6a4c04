import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  type PayoutFaults,
  type PaySessionDeps,
  paySession,
} from '../../lambdas/transfer/pay-session.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { PayoutInProgressError, TransientPayoutError } from '../../shared/errors.ts';
import type { AmountLimits } from '../../shared/payout-policy.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  seedPayout,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import {
  fixedClock,
  GENEROUS_LIMITS,
  recordingLog,
  testPayoutConfig,
  transferRoleDeps,
} from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1PaySessionTests';
const LEASE_MS = testPayoutConfig().leaseMs;

describe('paySession recovery', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let clock: ReturnType<typeof fixedClock>;
  let log: ReturnType<typeof recordingLog>;
  let mentorId: string;
  let limits: AmountLimits;
  let faults: PayoutFaults;

  beforeAll(async () => {
    [database, stripe] = await Promise.all([createTestDatabase(), startStripeStandIn()]);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  });
  afterAll(async () => Promise.all([database.close(), stripe.close()]));
  beforeEach(async () => {
    await database.db.deleteFrom('payout_daily_totals').execute();
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    clock = fixedClock(new Date());
    log = recordingLog();
    limits = GENEROUS_LIMITS;
    faults = {};
  });

  function deps(): PaySessionDeps {
    return transferRoleDeps(
      database,
      { url: stripe.url, secretKey: 'sk_test_pay_session' },
      {
        clock,
        log,
        config: testPayoutConfig({ limits }),
        faults,
        // Backoffs are not waited for: what matters here is what is sent.
        sleep: async () => {},
      },
    );
  }

  /** What a Lambda leaves behind when it dies after claiming (and maybe after calling Stripe). */
  const crashedClaim = (sessionId: string, claim: { leaseExpiresAt: Date }) =>
    seedPayout(database.db, sessionId, {
      destination: ACCOUNT,
      leaseExpiresAt: claim.leaseExpiresAt,
      keyFirstUsedAt: clock.now(),
    });

  const later = (ms: number) => clock.set(new Date(clock.now().getTime() + ms));
  const keysSent = () =>
    stripe
      .requests()
      .filter((request) => request.method === 'POST')
      .map((request) => request.idempotencyKey);
  const transferParams = (sessionId: string, amount: number) => ({
    amount,
    currency: 'usd',
    destination: ACCOUNT,
    transfer_group: `session_${sessionId}`,
    metadata: { session_id: sessionId },
  });

  it('finishes a payout whose Lambda died after Stripe created the transfer: same key, one transfer', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });
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
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() + 5_000) });

    await expect(paySession(deps(), sessionId)).rejects.toBeInstanceOf(PayoutInProgressError);
    expect(stripe.requests()).toEqual([]);
  });

  it('takes the payout over once the lease has expired', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() + 5_000) });
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
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });

    await paySession(deps(), sessionId);

    expect(stripe.transfers()).toMatchObject([{ amount: 8000 }]);
    expect(keysSent()).toEqual([`payout-${sessionId}-1`]);
    expect((await attemptsFor(database.db, sessionId)).at(-1)).toMatchObject({
      outcome: 'paid',
      error_code: 'paid_after_change',
      error_message: 'the session changed: net 8000 → 4000',
    });
  });

  it('retires the key after a refusal to the only request under it, and pays with a new key once the account is fixed', async () => {
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

  it('keeps the key after a refusal while an earlier request under it may still arrive, and pays under that key', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    // A Lambda claimed (and perhaps sent) the key a moment ago and died; its lease has expired.
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });
    stripe.setAccount(ACCOUNT, 'restricted');

    const refused = await paySession(deps(), sessionId);
    // Stripe kept nothing for the key (a refusal before execution); the account is then fixed.
    stripe.forgetIdempotencyKeys();
    stripe.setAccount(ACCOUNT, 'active');
    const paid = await paySession(deps(), sessionId);

    expect(refused).toMatchObject({ outcome: 'failed' });
    expect(paid.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    expect(new Set(keysSent())).toEqual(new Set([`payout-${sessionId}-1`]));
  });

  it('after a refusal that another request may contradict, resends the key and starts a new one only on Stripe’s replay', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });
    stripe.setAccount(ACCOUNT, 'restricted');

    await paySession(deps(), sessionId);
    stripe.setAccount(ACCOUNT, 'active');
    const paid = await paySession(deps(), sessionId);

    expect(paid.outcome).toBe('paid');
    expect(stripe.requests().map((request) => [request.idempotencyKey, request.replayed])).toEqual([
      [`payout-${sessionId}-1`, false],
      [`payout-${sessionId}-1`, true],
      [`payout-${sessionId}-2`, false],
    ]);
  });

  it('records a transient failure, releases the lease, and pays with the same key on redelivery', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    // 503s from Stripe's edge, to the SDK's every try: not stored, they say nothing about the key.
    stripe.failNext(3, 503);

    await expect(paySession(deps(), sessionId)).rejects.toBeInstanceOf(TransientPayoutError);
    const retried = await paySession(deps(), sessionId);

    expect(retried.outcome).toBe('paid');
    const keys = stripe.requests().map((request) => request.idempotencyKey);
    expect(new Set(keys)).toEqual(new Set([`payout-${sessionId}-1`]));
    expect((await attemptsFor(database.db, sessionId)).map((attempt) => attempt.outcome)).toEqual([
      'retrying',
      'paid',
    ]);
  });

  it('searches Stripe instead of resending a key older than 20 h, and records the transfer it finds', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    const firstTry = await createStripeClient('sk_test_pay_session', stripe.url).transfers.create(
      transferParams(sessionId, 8000),
      { idempotencyKey: `payout-${sessionId}-1` },
    );
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });
    // Stripe has pruned the key: resending it would create a second transfer.
    stripe.setIdempotencyKeyTtl(0);
    later(21 * HOUR_MS);

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'paid', transferId: firstTry.id });
    expect(stripe.transfers()).toHaveLength(1);
    expect(keysSent()).toEqual([`payout-${sessionId}-1`]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
  });

  it('pays with a new key generation when the search for an old key finds nothing', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await crashedClaim(sessionId, { leaseExpiresAt: new Date(clock.now().getTime() - 1) });
    later(21 * HOUR_MS);

    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(keysSent()).toEqual([`payout-${sessionId}-2`]);
    expect(stripe.requests().map((request) => request.method)).toEqual(['GET', 'POST']);
  });

  it('gets past a stored 500 that Stripe replays for the key: search, then a new key', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.failNext(1, 500);

    await expect(paySession(deps(), sessionId)).rejects.toMatchObject({
      code: 'stripe_api_error',
    });
    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    expect(new Set(keysSent())).toEqual(
      new Set([`payout-${sessionId}-1`, `payout-${sessionId}-2`]),
    );
    expect((await attemptsFor(database.db, sessionId)).map((attempt) => attempt.outcome)).toEqual([
      'retrying',
      'paid',
    ]);
  });

  it('finds the transfer behind a lost answer instead of paying it again', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    // Created, then the answer and both SDK retries' answers are lost.
    stripe.dropNextAfterCreate(3);

    await expect(paySession(deps(), sessionId)).rejects.toMatchObject({
      code: 'stripe_connection_error',
    });
    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    // The redelivery resent the same key and Stripe replayed the transfer; nothing searched.
    expect(new Set(keysSent())).toEqual(new Set([`payout-${sessionId}-1`]));
    expect(stripe.requests().at(-1)).toMatchObject({ method: 'POST', replayed: true });
  });

  it('does not search Stripe after a 429: nothing was executed, so the same key is resent after a backoff', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.failNext(1, 429);

    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.requests().map((request) => [request.method, request.idempotencyKey])).toEqual([
      ['POST', `payout-${sessionId}-1`],
      ['POST', `payout-${sessionId}-1`],
    ]);
  });

  it('fails a payout above the per-transfer limit, for admin review, without calling Stripe', async () => {
    limits = { perTransfer: { usd: 5000, '*': 1_000_000 }, dailyTotal: { '*': 100_000_000 } };
    const sessionId = await insertSession(database.db, mentorId, {
      now: clock.now(),
      price_amount: 10_000,
    });

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'failed', code: 'amount_over_limit' });
    expect(stripe.requests()).toEqual([]);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
    expect(await attemptsFor(database.db, sessionId)).toMatchObject([
      {
        outcome: 'failed',
        error_code: 'amount_over_limit',
        error_message: 'Net 8000 usd is above the per-transfer limit of 5000',
      },
    ]);
  });

  it('holds the payout that would take the day above the daily total in its currency', async () => {
    clock.set(new Date('2026-11-25T10:00:00Z'));
    const mentor = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
    limits = { perTransfer: { '*': 1_000_000 }, dailyTotal: { eur: 10_000, '*': 100_000_000 } };
    const first = await insertSession(database.db, mentor, { now: clock.now(), currency: 'eur' });
    const second = await insertSession(database.db, mentor, { now: clock.now(), currency: 'eur' });
    const otherCurrency = await insertSession(database.db, mentor, { now: clock.now() });

    const results = [
      await paySession(deps(), first),
      await paySession(deps(), second),
      await paySession(deps(), otherCurrency),
    ];

    expect(results.map((result) => result.outcome)).toEqual(['paid', 'failed', 'paid']);
    expect(results[1]).toMatchObject({ code: 'amount_over_limit' });
    clock.set(new Date('2026-11-26T00:00:01Z'));
    expect((await paySession(deps(), second)).outcome).toBe('paid');
  });

  it('gives the daily allowance back when Stripe refuses the only request under the key', async () => {
    limits = { perTransfer: { '*': 1_000_000 }, dailyTotal: { '*': 10_000 } };
    const restricted = 'acct_1PaySessionRestricted';
    stripe.setAccount(restricted, 'restricted');
    const refusedMentor = await insertMentor(database.db, { stripeAccountId: restricted });
    const refused = await insertSession(database.db, refusedMentor, { now: clock.now() });
    const next = await insertSession(database.db, mentorId, { now: clock.now() });

    expect((await paySession(deps(), refused)).outcome).toBe('failed');
    expect((await paySession(deps(), next)).outcome).toBe('paid');
  });

  it('keeps a refused amount reserved while another request under the key may still create it', async () => {
    limits = { perTransfer: { '*': 1_000_000 }, dailyTotal: { '*': 10_000 } };
    const contested = await insertSession(database.db, mentorId, { now: clock.now() });
    const next = await insertSession(database.db, mentorId, { now: clock.now() });
    // A Lambda claimed the key a moment ago (reserving 8000) and died; its request may arrive yet.
    stripe.setAccount(ACCOUNT, 'restricted');
    const crashed = await paySession(
      { ...deps(), faults: { afterClaim: () => Promise.reject(new Error('Lambda died')) } },
      contested,
    ).catch((error: Error) => error.message);
    later(LEASE_MS + 1);

    const outcomes = [
      (await paySession(deps(), contested)).outcome, // refused: the key and its 8000 stay
      (await paySession(deps(), next)).outcome, // 8000 + 8000 is above the day's 10000
    ];

    expect(crashed).toBe('Lambda died');
    expect(outcomes).toEqual(['failed', 'failed']);
    expect((await attemptsFor(database.db, next)).at(-1)).toMatchObject({
      error_code: 'amount_over_limit',
    });
  });

  it('reserves the daily allowance atomically when many claims race', async () => {
    limits = { perTransfer: { '*': 1_000_000 }, dailyTotal: { usd: 8000 * 3, '*': 100_000_000 } };
    const sessions = await Promise.all(
      Array.from({ length: 8 }, () => insertSession(database.db, mentorId, { now: clock.now() })),
    );

    const results = await Promise.all(sessions.map((id) => paySession(deps(), id)));

    expect(results.filter((result) => result.outcome === 'paid')).toHaveLength(3);
    expect(results.filter((result) => result.outcome === 'failed')).toHaveLength(5);
  });

  it.each([
    ['after the claim', (crash: () => never): PayoutFaults => ({ afterClaim: crash })],
    ['after Stripe answered', (crash: () => never): PayoutFaults => ({ afterStripeCall: crash })],
    [
      'before the final commit',
      (crash: () => never): PayoutFaults => ({ beforeRecordCommit: crash }),
    ],
  ])('pays exactly once after a crash %s, once the lease has expired', async (_point, fault) => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    faults = fault(() => {
      throw new Error('Lambda died');
    });

    await expect(paySession(deps(), sessionId)).rejects.toThrow('Lambda died');
    faults = {};
    await expect(paySession(deps(), sessionId)).rejects.toBeInstanceOf(PayoutInProgressError);
    later(LEASE_MS + 1);
    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
    expect(new Set(keysSent())).toEqual(new Set([`payout-${sessionId}-1`]));
  });

  it('treats a Stripe timeout as an unknown outcome: the next delivery resends the key and gets the transfer', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    stripe.setLatency(400);
    const impatient = {
      ...deps(),
      stripe: createStripeClient('sk_test_pay_session', stripe.url, { timeoutMs: 100 }),
    };

    await expect(paySession(impatient, sessionId)).rejects.toMatchObject({
      code: 'stripe_connection_error',
    });
    await stripe.whenIdle(); // Stripe finishes what it started
    stripe.setLatency(0);
    const result = await paySession(deps(), sessionId);

    expect(result.outcome).toBe('paid');
    expect(stripe.transfers()).toHaveLength(1);
    expect(new Set(keysSent())).toEqual(new Set([`payout-${sessionId}-1`]));
    expect(stripe.requests().at(-1)).toMatchObject({ method: 'POST', replayed: true });
  });

  const paidEventCode = async (sessionId: string) => {
    const event = await database.db
      .selectFrom('payout_events')
      .select(['event_type', 'detail'])
      .where('session_id', '=', sessionId)
      .executeTakeFirstOrThrow();
    return [event.event_type, event.detail.code];
  };

  it.each([
    [
      'refunded in part',
      (sessionId: string) =>
        database.db
          .updateTable('sessions')
          .set({ refunded_amount: 5000 })
          .where('id', '=', sessionId)
          .execute(),
      'the session changed: net 8000 → 4000',
    ],
    [
      'cancelled',
      (sessionId: string) =>
        database.db
          .updateTable('sessions')
          .set({ status: 'cancelled' })
          .where('id', '=', sessionId)
          .execute(),
      'the session is now cancelled',
    ],
    [
      'left by a mentor who moved to another connected account',
      async (sessionId: string) => {
        const { mentor_id } = await database.db
          .selectFrom('sessions')
          .select('mentor_id')
          .where('id', '=', sessionId)
          .executeTakeFirstOrThrow();
        await database.db
          .updateTable('mentors')
          .set({ stripe_account_id: 'acct_1MovedElsewhere' })
          .where('id', '=', mentor_id)
          .execute();
      },
      `the session changed: destination ${ACCOUNT} → acct_1MovedElsewhere`,
    ],
  ])(
    'flags for review a transfer whose session was %s while the request was at Stripe',
    async (_change, change, description) => {
      const mentor = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
      const sessionId = await insertSession(database.db, mentor, { now: clock.now() });
      faults.afterStripeCall = async () => {
        await change(sessionId);
      };

      const result = await paySession(deps(), sessionId);

      expect(result).toMatchObject({ outcome: 'paid', transferId: stripe.transfers()[0]?.id });
      expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
      expect(await attemptsFor(database.db, sessionId)).toMatchObject([
        { outcome: 'paid', error_code: 'paid_after_change', error_message: description },
      ]);
      expect(await paidEventCode(sessionId)).toEqual(['payout.paid', 'paid_after_change']);
    },
  );

  it('records without a flag a transfer whose session row was rewritten with the same terms while the request was at Stripe', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    faults.afterStripeCall = async () => {
      await sql`update sessions set refunded_amount = refunded_amount where id = ${sessionId}`.execute(
        database.db,
      );
    };

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'paid', amount: 8000 });
    expect(await attemptsFor(database.db, sessionId)).toMatchObject([
      { outcome: 'paid', error_code: null, stripe_transfer_id: stripe.transfers()[0]?.id },
    ]);
    expect(await paidEventCode(sessionId)).toEqual(['payout.paid', null]);
  });

  it('records the transfer once when the session row is locked elsewhere as Stripe answers: the delivery retries, the next resends the key', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    const marketplace = new pg.Client({ connectionString: database.url });
    await marketplace.connect();
    faults.afterStripeCall = async () => {
      await marketplace.query('begin');
      await marketplace.query('select 1 from sessions where id = $1 for update', [sessionId]);
    };
    try {
      await expect(paySession(deps(), sessionId)).rejects.toMatchObject({
        code: 'session_locked',
      });
      expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
    } finally {
      await marketplace.query('rollback');
      await marketplace.end();
    }
    faults = {};
    later(LEASE_MS + 1);

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'paid', transferId: stripe.transfers()[0]?.id });
    expect(stripe.transfers()).toHaveLength(1);
    expect(new Set(keysSent())).toEqual(new Set([`payout-${sessionId}-1`]));
    expect(await attemptsFor(database.db, sessionId)).toMatchObject([
      { outcome: 'paid', error_code: null },
    ]);
  });

  it('records in one statement that locks the session before the payout, as claims do, so a claim holding the session is not deadlocked by it', async () => {
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    const claim = new pg.Client({ connectionString: database.url });
    await claim.connect();
    let claimDone: Promise<unknown> = Promise.resolve();
    faults.afterStripeCall = async () => {
      // Another claim of the session: it holds the session row and will write the payout row.
      await claim.query('begin');
      await claim.query('select 1 from sessions where id = $1 for update', [sessionId]);
      claimDone = (async () => {
        await waitUntil(async () => {
          const { rows } = await claim.query(
            `select 1 from pg_stat_activity
             where wait_event_type = 'Lock' and query like '%with locked as%'`,
          );
          return rows.length > 0;
        });
        await claim.query('update payouts set updated_at = updated_at where session_id = $1', [
          sessionId,
        ]);
        await claim.query('commit');
      })();
    };
    try {
      const result = await paySession(deps(), sessionId);
      await claimDone;

      expect(result).toMatchObject({ outcome: 'paid' });
      expect(await attemptsFor(database.db, sessionId)).toMatchObject([
        { outcome: 'paid', error_code: null },
      ]);
    } finally {
      await claim.end();
    }
  });
});

async function waitUntil(condition: () => Promise<boolean>): Promise<void> {
  for (let tries = 0; tries < 500; tries += 1) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('The record statement never waited for the session lock');
}
