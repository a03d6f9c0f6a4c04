import type { EventBridgeClient, PutEventsCommandInput } from '@aws-sdk/client-eventbridge';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { sweepPayoutEvents } from '../../lambdas/payout-events/sweep-payout-events.ts';
import {
  type PayoutFaults,
  type PaySessionDeps,
  paySession,
} from '../../lambdas/transfer/pay-session.ts';
import { lambdaContext, scheduledEvent } from '../../local/lambda-events.ts';
import {
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { recordPayoutEvent } from '../../shared/db/payout-events.repository.ts';
import { createEventBridgePayoutEventBus } from '../../shared/payout-event-bus.ts';
import {
  PUBLISH_RETRY_DELAY_MS,
  type PublishDeps,
  publishSessionEventsAfterCommit,
} from '../../shared/payout-events.ts';
import { stubEnv } from '../helpers/env.ts';
import { attemptsFor, insertMentor, insertSession } from '../helpers/factories.ts';
import { fixedClock, recordingLog, transferRoleDeps } from '../helpers/fakes.ts';
import { captureLogs, type LogCapture } from '../helpers/log-capture.ts';
import { type MotoEventBus, startMotoEventBus } from '../helpers/moto-event-bus.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ACCOUNT = 'acct_1PayoutEvents';
const RESTRICTED = 'acct_1PayoutEventsRestricted';

describe('payout events: outbox and EventBridge (moto)', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let bus: MotoEventBus;
  let clock: ReturnType<typeof fixedClock>;
  let faults: PayoutFaults;
  let mentorId: string;

  beforeAll(async () => {
    [database, stripe, bus] = await Promise.all([
      createTestDatabase(),
      startStripeStandIn(),
      startMotoEventBus(),
    ]);
    mentorId = await insertMentor(database.db, { stripeAccountId: ACCOUNT });
  }, 60_000);
  afterAll(async () => Promise.all([database.close(), stripe.close(), bus.stop()]));
  beforeEach(async () => {
    stripe.reset();
    stripe.setAccount(ACCOUNT, 'active');
    stripe.setAccount(RESTRICTED, 'restricted');
    clock = fixedClock(new Date());
    faults = {};
    // Earlier tests' events: published or not, they are not this test's.
    await database.db.deleteFrom('payout_events').execute();
    await bus.delivered();
  });

  /** What the transfer Lambda's publishing uses, with moto's EventBridge behind `client`. */
  function publishDeps(
    client: EventBridgeClient = bus.client(),
    role: 'transfer' | 'payoutEvents' = 'transfer',
  ): PublishDeps {
    return {
      db: database.dbAs(role),
      bus: createEventBridgePayoutEventBus(client, bus.busName),
      clock,
      log: recordingLog(),
    };
  }

  /** The sweeper's: the same publishing, as the payout-events role. */
  const sweeperDeps = (client: EventBridgeClient = bus.client()) =>
    publishDeps(client, 'payoutEvents');

  function payDeps(publishing: PublishDeps | null = publishDeps()): PaySessionDeps {
    return transferRoleDeps(
      database,
      { url: stripe.url, secretKey: 'sk_test_payout_events' },
      {
        clock,
        faults,
        sleep: async () => {},
        ...(publishing && {
          publishEvents: (sessionId: string) =>
            publishSessionEventsAfterCommit(publishing, sessionId),
        }),
      },
    );
  }

  const outbox = () =>
    database.db.selectFrom('payout_events').selectAll().orderBy('occurred_at').execute();
  const later = (ms: number) => clock.set(new Date(clock.now().getTime() + ms));

  it('publishes payout.paid right after the payout commits, with session, mentor, amount, currency, code and time', async () => {
    const sessionId = await insertSession(database.db, mentorId);

    const result = await paySession(payDeps(), sessionId);

    const [row] = await outbox();
    const delivered = await bus.delivered();
    expect(result.outcome).toBe('paid');
    const transferId = stripe.transfers()[0]?.id;
    expect(delivered).toHaveLength(1);
    expect(delivered[0]).toMatchObject({
      source: 'payouts',
      'detail-type': 'payout.paid',
      detail: {
        version: 1,
        eventId: row?.id,
        type: 'payout.paid',
        sessionId,
        mentorId,
        amount: 8000,
        currency: 'usd',
        code: null,
        stripeTransferId: transferId,
        occurredAt: clock.now().toISOString(),
      },
    });
    expect(row).toMatchObject({ event_type: 'payout.paid', session_id: sessionId });
    expect(row?.published_at).toEqual(clock.now());
  });

  it('publishes payout.failed when Stripe refuses the transfer, with Stripe’s code and the amount owed', async () => {
    const restricted = await insertMentor(database.db, { stripeAccountId: RESTRICTED });
    const sessionId = await insertSession(database.db, restricted);

    const result = await paySession(payDeps(), sessionId);

    expect(result).toMatchObject({
      outcome: 'failed',
      code: 'insufficient_capabilities_for_transfer',
    });
    expect((await bus.delivered()).map((event) => event.detail)).toMatchObject([
      {
        type: 'payout.failed',
        sessionId,
        mentorId: restricted,
        amount: 8000,
        currency: 'usd',
        code: 'insufficient_capabilities_for_transfer',
        stripeTransferId: null,
      },
    ]);
  });

  it('publishes payout.failed when the payout rules fail it before Stripe (no connected account), with the net owed', async () => {
    const unconnected = await insertMentor(database.db, { stripeAccountId: null });
    const sessionId = await insertSession(database.db, unconnected);

    await paySession(payDeps(), sessionId);

    expect((await bus.delivered()).map((event) => event.detail)).toMatchObject([
      { type: 'payout.failed', sessionId, code: 'no_connected_account', amount: 8000 },
    ]);
    expect(stripe.requests()).toEqual([]);
  });

  it('writes no event for a delivery that records no outcome: a duplicate of a paid session, an unknown session', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    await paySession(payDeps(), sessionId);

    const duplicate = await paySession(payDeps(), sessionId);
    const unknown = await paySession(payDeps(), '00000000-0000-4000-8000-000000000000');

    expect(duplicate).toMatchObject({ outcome: 'ignored', reason: 'already_paid_out' });
    expect(unknown).toMatchObject({ outcome: 'failed', code: 'session_not_found' });
    expect((await outbox()).map((row) => [row.event_type, row.session_id])).toEqual([
      ['payout.paid', sessionId],
    ]);
    expect(await bus.delivered()).toHaveLength(1);
  });

  it('a crash before the outcome commits leaves neither the outcome nor its event', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    faults.beforeRecordCommit = () => {
      throw new Error('Lambda died');
    };

    await expect(paySession(payDeps(), sessionId)).rejects.toThrow('Lambda died');

    const attempts = await attemptsFor(database.db, sessionId);
    expect(attempts.filter((attempt) => attempt.outcome === 'paid')).toEqual([]);
    expect(await outbox()).toEqual([]);
    expect(await bus.delivered()).toEqual([]);
  });

  it('a crash after commit but before publishing leaves the event to the sweeper, which publishes it once', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    faults.afterRecordCommit = () => {
      throw new Error('Lambda died');
    };
    await expect(paySession(payDeps(), sessionId)).rejects.toThrow('Lambda died');
    const [waiting] = await outbox();
    const beforeSweep = await bus.delivered();
    faults = {};
    // SQS redelivers the message: the payout is recorded, so it is acknowledged, not re-announced.
    const redelivery = await paySession(payDeps(), sessionId);

    const first = await sweepPayoutEvents(sweeperDeps());
    const second = await sweepPayoutEvents(sweeperDeps());

    expect(beforeSweep).toEqual([]);
    expect(waiting).toMatchObject({ event_type: 'payout.paid', published_at: null });
    expect(redelivery).toMatchObject({ outcome: 'ignored' });
    expect(first).toEqual({ published: 1, refused: 0, waiting: 0 });
    expect(second).toEqual({ published: 0, refused: 0, waiting: 0 });
    expect((await bus.delivered()).map((event) => event.detail.eventId)).toEqual([waiting?.id]);
  });

  it('leaves the event to the sweeper when the invocation has too little time left to publish it', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    let recorded = false;
    faults.afterRecordCommit = () => {
      recorded = true;
    };
    // Time enough for the Stripe call; once the outcome is recorded, only 5 s are left.
    const deps = { ...payDeps(), timeLeftMs: () => (recorded ? 5_000 : 600_000) };

    const result = await paySession(deps, sessionId);
    const beforeSweep = await bus.delivered();
    await sweepPayoutEvents(sweeperDeps());

    expect(result.outcome).toBe('paid');
    expect(beforeSweep).toEqual([]);
    expect((await bus.delivered()).map((event) => event.detail.sessionId)).toEqual([sessionId]);
  });

  it('leaves the entries PutEvents refused unpublished, with the reason, and the next sweep publishes them', async () => {
    const sessions = [
      await insertSession(database.db, mentorId),
      await insertSession(database.db, mentorId),
      await insertSession(database.db, mentorId),
    ];
    for (const sessionId of sessions) await paySession(payDeps(null), sessionId);
    const refusedSession = sessions[1] as string;
    const client = bus.client();
    // EventBridge refuses one entry of the call (moto reports it as AWS does: FailedEntryCount,
    // an ErrorCode on that entry) while it takes the others.
    refuseOnceEntriesOf(client, refusedSession);

    const first = await sweepPayoutEvents(sweeperDeps(client));
    const afterFirst = await bus.delivered();
    const refusedRow = (await outbox()).find((row) => row.session_id === refusedSession);
    later(PUBLISH_RETRY_DELAY_MS);
    const second = await sweepPayoutEvents(sweeperDeps(client));
    const afterSecond = await bus.delivered();

    expect(first).toEqual({ published: 2, refused: 1, waiting: 0 });
    expect(afterFirst.map((event) => event.detail.sessionId).sort()).toEqual(
      sessions.filter((id) => id !== refusedSession).sort(),
    );
    expect(refusedRow).toMatchObject({
      published_at: null,
      publish_attempts: 1,
      last_publish_error: expect.stringContaining('MalformedDetail'),
    });
    expect(second).toEqual({ published: 1, refused: 0, waiting: 0 });
    expect(afterSecond.map((event) => event.detail.sessionId)).toEqual([refusedSession]);
    expect((await outbox()).every((row) => row.published_at !== null)).toBe(true);
  });

  it('counts events still refused after the sweep’s grace as waiting, for the alarm', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    await paySession(payDeps(null), sessionId);
    const client = bus.client();
    refuseOnceEntriesOf(client, sessionId);
    later(10 * 60_000);

    const summary = await sweepPayoutEvents(sweeperDeps(client));

    expect(summary).toEqual({ published: 0, refused: 1, waiting: 1 });
  });

  it('delivers a duplicate only as a re-delivery of the same event: a publisher that lost EventBridge’s answer sends it again, same eventId and detail', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    await paySession(payDeps(null), sessionId);
    const client = bus.client();
    loseOnceTheAnswerTo(client);

    const first = await sweepPayoutEvents(sweeperDeps(client));
    later(PUBLISH_RETRY_DELAY_MS);
    const second = await sweepPayoutEvents(sweeperDeps(client));

    const delivered = await bus.delivered();
    const [row] = await outbox();
    expect(first.published).toBe(0);
    expect(second.published).toBe(1);
    expect(delivered).toHaveLength(2);
    expect(new Set(delivered.map((event) => event.id)).size).toBe(2);
    expect(delivered.map((event) => event.detail)).toEqual([row?.detail, row?.detail]);
    expect(delivered[0]?.detail.eventId).toBe(row?.id);
  });

  it('takes no event a concurrent publisher holds: two sweeps at once publish each event once', async () => {
    for (let i = 0; i < 12; i += 1) {
      await paySession(payDeps(null), await insertSession(database.db, mentorId));
    }

    const [a, b] = await Promise.all([
      sweepPayoutEvents(sweeperDeps()),
      sweepPayoutEvents(sweeperDeps()),
    ]);

    const ids = (await bus.delivered()).map((event) => event.detail.eventId);
    expect(a.published + b.published).toBe(12);
    expect(new Set(ids).size).toBe(12);
    expect(ids).toHaveLength(12);
  });

  it('records payout.reversed with recordPayoutEvent in the caller’s transaction, with the reversal’s id and time', async () => {
    const sessionId = await insertSession(database.db, mentorId);
    await paySession(payDeps(null), sessionId);
    await database.db.deleteFrom('payout_events').execute();

    // As the stripe-events Lambda records it, with its role's grants.
    const stripeEvents = database.dbAs('stripeEvents');
    const rolledBack = stripeEvents.transaction().execute(async (trx) => {
      await recordPayoutEvent(trx, reversal(sessionId));
      throw new Error('the reversal was not recorded');
    });
    await expect(rolledBack).rejects.toThrow('the reversal was not recorded');
    const eventId = await stripeEvents
      .transaction()
      .execute((trx) => recordPayoutEvent(trx, reversal(sessionId)));
    await sweepPayoutEvents(sweeperDeps());

    expect((await bus.delivered()).map((event) => event.detail)).toEqual([
      {
        version: 1,
        eventId,
        type: 'payout.reversed',
        sessionId,
        mentorId,
        amount: 8000,
        currency: 'usd',
        code: null,
        stripeTransferId: 'tr_reversed',
        reversalId: 'trr_reversed',
        reversedAt: '2026-12-05T09:41:00.000Z',
        occurredAt: clock.now().toISOString(),
      },
    ]);
  });

  it('gives paid and failed events a null reversalId and reversedAt, as docs/payout-events.md says', async () => {
    const paidSession = await insertSession(database.db, mentorId);
    const restrictedMentor = await insertMentor(database.db, { stripeAccountId: RESTRICTED });
    const failedSession = await insertSession(database.db, restrictedMentor);

    await paySession(payDeps(), paidSession);
    await paySession(payDeps(), failedSession);

    const details = (await bus.delivered()).map((event) => event.detail);
    expect(details.map((detail) => detail.type).sort()).toEqual(['payout.failed', 'payout.paid']);
    for (const detail of details) {
      expect(detail).toMatchObject({ reversalId: null, reversedAt: null });
    }
  });

  describe('the Lambdas’ wiring', () => {
    let logs: LogCapture;
    beforeEach(() => {
      logs = captureLogs();
      vi.resetModules();
      stubEnv({
        DATABASE_URL: database.urls.transfer,
        STRIPE_SECRET_KEY: 'sk_test_payout_events',
        STRIPE_API_BASE: stripe.url,
        PAYOUT_QUEUE_URL: 'http://127.0.0.1:1/000000000000/payouts',
        PAYOUT_EVENT_BUS: bus.busName,
        AWS_ENDPOINT_URL_EVENTBRIDGE: bus.moto.endpoint,
        AWS_REGION: bus.region,
        AWS_ACCESS_KEY_ID: 'moto',
        AWS_SECRET_ACCESS_KEY: 'moto',
      });
    });
    afterEach(() => {
      logs.stop();
      vi.unstubAllEnvs();
    });

    it('the transfer Lambda publishes to the bus PAYOUT_EVENT_BUS names, right after the commit', async () => {
      const sessionId = await insertSession(database.db, mentorId);
      const { transferDeps } = await import('../../lambdas/transfer/transfer-deps.ts');

      await paySession(await transferDeps(), sessionId);

      expect((await bus.delivered()).map((event) => event.detail)).toMatchObject([
        { type: 'payout.paid', sessionId },
      ]);
    });

    it('the sweeper Lambda publishes what waits and emits the metrics its alarm reads', async () => {
      const sessionId = await insertSession(database.db, mentorId);
      await paySession(payDeps(null), sessionId);
      vi.stubEnv('DATABASE_URL', database.urls.payoutEvents);
      const { handler } = await import('../../lambdas/payout-events/handler.ts');

      const summary = await handler(scheduledEvent(), lambdaContext('payouts-events'));

      expect(summary).toEqual({ published: 1, refused: 0, waiting: 0 });
      expect((await bus.delivered()).map((event) => event.detail.sessionId)).toEqual([sessionId]);
      expect(logs.metric('PayoutEventsPublished')).toEqual([
        { value: 1, dimensions: { service: 'payouts-events' } },
      ]);
      expect(logs.metric('PayoutEventsUnpublished')).toEqual([
        { value: 0, dimensions: { service: 'payouts-events' } },
      ]);
    });
  });

  const reversal = (sessionId: string) => ({
    type: 'payout.reversed' as const,
    sessionId,
    amount: 8000,
    currency: 'usd',
    code: null,
    stripeTransferId: 'tr_reversed',
    reversal: { id: 'trr_reversed', reversedAt: new Date('2026-12-05T09:41:00.000Z') },
    occurredAt: clock.now(),
  });
});

/** Makes EventBridge refuse, once, the entries of one session: their Detail arrives malformed. */
function refuseOnceEntriesOf(client: EventBridgeClient, sessionId: string): void {
  let done = false;
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = args.input as PutEventsCommandInput;
      if (!done) {
        for (const entry of input.Entries ?? []) {
          if (entry.Detail?.includes(sessionId)) {
            entry.Detail = '{not json';
            done = true;
          }
        }
      }
      return next(args);
    },
    { step: 'initialize', name: 'refuseOnceEntriesOf' },
  );
}

/** EventBridge takes the call, but its answer is lost once (a timeout, a dropped connection). */
function loseOnceTheAnswerTo(client: EventBridgeClient): void {
  let lost = false;
  client.middlewareStack.add(
    (next) => async (args) => {
      const result = await next(args);
      if (lost) return result;
      lost = true;
      throw new Error('socket hang up');
    },
    { step: 'initialize', name: 'loseOnceTheAnswerTo' },
  );
}
