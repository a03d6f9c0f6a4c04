import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type PaySessionDeps, paySession } from '../../lambdas/transfer/pay-session.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { holdMentor, releaseMentor } from '../../shared/db/mentor-holds.repository.ts';
import { recordAccountObservation } from '../../shared/db/stripe-accounts.repository.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  seedPayout,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { fixedClock, transferRoleDeps } from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const STRIPE_KEY = 'sk_test_payee_standing';

/**
 * The transfer path with a payee that may not be paid: a mentor an admin holds, or a connected
 * account Stripe last described without an active transfers capability. No Stripe request for a
 * new key; one attempt row per session and day; an unfinished generation is settled regardless.
 */
describe('paySession and the payee’s standing', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let clock: ReturnType<typeof fixedClock>;
  let account: string;
  let mentorId: string;

  beforeAll(async () => {
    [database, stripe] = await Promise.all([createTestDatabase(), startStripeStandIn()]);
  });
  afterAll(async () => Promise.all([database.close(), stripe.close()]));
  beforeEach(async () => {
    stripe.reset();
    // Mid-morning UTC, so that an hour later is still the same UTC day.
    clock = fixedClock(new Date('2026-11-25T09:00:00Z'));
    account = `acct_standing_${crypto.randomUUID().slice(0, 8)}`;
    mentorId = await insertMentor(database.db, { stripeAccountId: account });
  });

  function deps(): PaySessionDeps {
    return transferRoleDeps(
      database,
      { url: stripe.url, secretKey: STRIPE_KEY },
      { clock, sleep: async () => {} },
    );
  }

  const later = (ms: number) => clock.set(new Date(clock.now().getTime() + ms));
  const transferRequests = () =>
    stripe.requests().filter((request) => request.path.startsWith('/v1/transfers'));
  const observe = (transfersCapability: 'active' | 'inactive') =>
    recordAccountObservation(
      database.dbAs('stripeEvents'),
      {
        accountId: account,
        transfersCapability,
        payoutsEnabled: transfersCapability === 'active',
        disabledReason: transfersCapability === 'active' ? null : 'requirements.past_due',
        observedAt: clock.now(),
      },
      clock.now(),
    );
  const hold = () =>
    holdMentor(database.db, {
      mentorId,
      reason: 'chargeback under review',
      heldBy: 'ops@example.com',
      now: clock.now(),
    });

  it('fails a session of a restricted account with account_not_ready without calling Stripe, once per UTC day', async () => {
    stripe.setAccount(account, 'restricted');
    await observe('inactive');
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });

    const first = await paySession(deps(), sessionId);
    later(HOUR_MS);
    const again = await paySession(deps(), sessionId);
    const sameDay = await attemptsFor(database.db, sessionId);
    later(24 * HOUR_MS);
    const nextDay = await paySession(deps(), sessionId);

    expect(first).toMatchObject({ outcome: 'failed', code: 'account_not_ready' });
    expect(again).toEqual({ outcome: 'ignored', sessionId, reason: 'failure_recorded_today' });
    expect(nextDay).toMatchObject({ outcome: 'failed', code: 'account_not_ready' });
    expect(transferRequests()).toEqual([]);
    expect(sameDay).toMatchObject([
      {
        outcome: 'failed',
        error_code: 'account_not_ready',
        error_message: `Stripe last reported account ${account} without an active transfers capability (disabled_reason requirements.past_due)`,
      },
    ]);
    expect(await attemptsFor(database.db, sessionId)).toHaveLength(2);
    expect(await sessionPayoutStatus(database.db, sessionId)).toBe('pending');
  });

  it('pays once Stripe says the account is active again', async () => {
    await observe('inactive');
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await paySession(deps(), sessionId);
    stripe.setAccount(account, 'active');
    later(60_000);
    await observe('active');

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'paid', amount: 8000 });
    expect((await attemptsFor(database.db, sessionId)).map((row) => row.error_code)).toEqual([
      'account_not_ready',
      null,
    ]);
  });

  it('still asks Stripe for an account it has never seen described: Stripe decides', async () => {
    stripe.setAccount(account, 'restricted');
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({
      outcome: 'failed',
      code: 'insufficient_capabilities_for_transfer',
    });
    expect(transferRequests()).toHaveLength(1);
  });

  it('fails a held mentor’s session with mentor_on_hold without calling Stripe, and pays after the release', async () => {
    stripe.setAccount(account, 'active');
    await hold();
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });

    const held = await paySession(deps(), sessionId);
    const heldAgain = await paySession(deps(), sessionId);
    const released = await releaseMentor(database.db, {
      mentorId,
      releasedBy: 'ops@example.com',
      reason: 'chargeback won',
      now: clock.now(),
    });
    const paid = await paySession(deps(), sessionId);

    expect(held).toMatchObject({ outcome: 'failed', code: 'mentor_on_hold' });
    expect(heldAgain).toMatchObject({ outcome: 'ignored', reason: 'failure_recorded_today' });
    expect(released).toMatchObject({
      released_by: 'ops@example.com',
      release_reason: 'chargeback won',
    });
    expect(paid).toMatchObject({ outcome: 'paid' });
    expect(stripe.transfers()).toHaveLength(1);
    const attempts = await attemptsFor(database.db, sessionId);
    expect(attempts.map((row) => [row.outcome, row.error_code])).toEqual([
      ['failed', 'mentor_on_hold'],
      ['paid', null],
    ]);
    expect(attempts[0]?.error_message).toContain('chargeback under review');
  });

  it('records a new reason the same day at once: released from a hold onto an account not ready', async () => {
    await observe('inactive');
    await hold();
    const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
    await paySession(deps(), sessionId);
    await releaseMentor(database.db, {
      mentorId,
      releasedBy: 'ops@example.com',
      reason: null,
      now: clock.now(),
    });

    const result = await paySession(deps(), sessionId);

    expect(result).toMatchObject({ outcome: 'failed', code: 'account_not_ready' });
    expect((await attemptsFor(database.db, sessionId)).map((row) => row.error_code)).toEqual([
      'mentor_on_hold',
      'account_not_ready',
    ]);
  });

  describe('an unfinished generation is settled whatever the payee’s standing', () => {
    /** A Lambda sent the key and died before recording Stripe's answer: the transfer exists. */
    async function transferMadeThenLambdaDied(sessionId: string) {
      stripe.setAccount(account, 'active');
      const transfer = await createStripeClient(STRIPE_KEY, stripe.url).transfers.create(
        {
          amount: 8000,
          currency: 'usd',
          destination: account,
          transfer_group: `session_${sessionId}`,
          metadata: { session_id: sessionId },
        },
        { idempotencyKey: `payout-${sessionId}-1` },
      );
      await seedPayout(database.db, sessionId, {
        destination: account,
        leaseExpiresAt: new Date(clock.now().getTime() - 1),
        keyFirstUsedAt: clock.now(),
      });
      return transfer;
    }

    it.each([
      ['now restricted', () => observe('inactive')],
      ['now held', () => hold()],
    ])('resends the key of a mentor %s and records the transfer it made', async (_name, change) => {
      const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
      const transfer = await transferMadeThenLambdaDied(sessionId);
      stripe.setAccount(account, 'restricted');
      await change();

      const result = await paySession(deps(), sessionId);

      expect(result).toMatchObject({ outcome: 'paid', transferId: transfer.id });
      expect(stripe.transfers()).toHaveLength(1);
      expect(stripe.requests().at(-1)).toMatchObject({
        idempotencyKey: `payout-${sessionId}-1`,
        replayed: true,
      });
      expect(await sessionPayoutStatus(database.db, sessionId)).toBe('paid_out');
    });

    it.each([
      ['now restricted', () => observe('inactive')],
      ['now held', () => hold()],
    ])(
      'searches for the transfer of an old key of a mentor %s, and records it',
      async (_name, change) => {
        const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
        const transfer = await transferMadeThenLambdaDied(sessionId);
        stripe.setIdempotencyKeyTtl(0);
        later(21 * HOUR_MS);
        await change();

        const result = await paySession(deps(), sessionId);

        expect(result).toMatchObject({ outcome: 'paid', transferId: transfer.id });
        expect(stripe.requests().at(-1)).toMatchObject({ method: 'GET', path: '/v1/transfers' });
      },
    );

    it('ends a generation the search proves empty, then fails the held mentor’s session without a new key', async () => {
      const sessionId = await insertSession(database.db, mentorId, { now: clock.now() });
      await seedPayout(database.db, sessionId, {
        destination: account,
        leaseExpiresAt: new Date(clock.now().getTime() - 1),
        keyFirstUsedAt: clock.now(),
      });
      later(21 * HOUR_MS);
      await hold();

      const result = await paySession(deps(), sessionId);

      expect(result).toMatchObject({ outcome: 'failed', code: 'mentor_on_hold' });
      expect(stripe.requests().map((request) => request.method)).toEqual(['GET']);
      const payout = await database.db
        .selectFrom('payouts')
        .select('state')
        .where('session_id', '=', sessionId)
        .executeTakeFirstOrThrow();
      expect(payout.state).toBe('no_transfer');
    });
  });
});
