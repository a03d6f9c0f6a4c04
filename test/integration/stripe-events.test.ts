import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { parsePayoutMessage } from '../../lambdas/transfer/payout-message.ts';
import { lambdaContext, stripeEventBridgeEvent } from '../../local/lambda-events.ts';
import { LOCAL_STRIPE_EVENT_SOURCE } from '../../local/pipeline-env.ts';
import { receiveAll } from '../../local/queue-peek.ts';
import type { StandInEvent } from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { holdMentor } from '../../shared/db/mentor-holds.repository.ts';
import { findReversalsOfSessions } from '../../shared/db/payout-reversals.repository.ts';
import { findStripeAccounts } from '../../shared/db/stripe-accounts.repository.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  seedPayout,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { captureLogs, type LogCapture } from '../helpers/log-capture.ts';
import { type Pipeline, sqsEvent, startPipeline } from '../helpers/pipeline.ts';

/**
 * Stripe's events, as the stand-in emits them in Stripe's documented shape and EventBridge wraps
 * them, through the real stripe-events handler; the sessions it enqueues through the real transfer
 * handler; Postgres, fauxqs and the Stripe stand-in as everywhere.
 */
describe('stripe-events handler', () => {
  let pipeline: Pipeline;
  let logs: LogCapture;

  beforeAll(async () => {
    pipeline = await startPipeline();
  });
  afterAll(async () => pipeline.stop());
  beforeEach(async () => {
    pipeline.stripe.reset();
    await pipeline.purgeQueues();
    logs = captureLogs();
    return () => logs.stop();
  });

  const db = () => pipeline.database.db;
  const sdk = () =>
    new Stripe('sk_test_local_stand_in', {
      host: '127.0.0.1',
      port: pipeline.stripe.port,
      protocol: 'http',
      telemetry: false,
    });
  const newAccount = () => `acct_ev_${randomUUID().slice(0, 10)}`;
  /** The session ids waiting on the payout queue, left there. */
  const queuedSessionIds = async () =>
    (await receiveAll(pipeline.sqs.sqs, pipeline.sqs.queueUrl, { release: true }))
      .map((message) => parsePayoutMessage(message.body).sessionId)
      .sort();
  const accountReads = (accountId: string) =>
    pipeline.stripe.requests().filter((request) => request.path === `/v1/accounts/${accountId}`);
  const transferPosts = (accountId: string) =>
    pipeline.stripe
      .requests()
      .filter((request) => request.method === 'POST' && request.params.destination === accountId);
  /** The events the stand-in emitted since `from` (an index into events()). */
  const eventsSince = (from: number) => pipeline.stripe.events().slice(from);

  /** A mentor whose account Stripe knows in `state`, with `sessions` eligible sessions. */
  async function mentorWith(state: 'active' | 'restricted', sessions: number) {
    const account = newAccount();
    pipeline.stripe.setAccount(account, state);
    const mentorId = await insertMentor(db(), { stripeAccountId: account });
    const sessionIds: string[] = [];
    for (let index = 0; index < sessions; index += 1) {
      sessionIds.push(await insertSession(db(), mentorId));
    }
    return { account, mentorId, sessionIds: sessionIds.sort() };
  }

  /** Flips the account at Stripe and returns the account.updated event Stripe emitted for it. */
  function flip(account: string, state: 'active' | 'restricted'): StandInEvent {
    const before = pipeline.stripe.events().length;
    pipeline.stripe.setAccount(account, state);
    const [event] = eventsSince(before);
    if (!event) throw new Error(`no account.updated for ${account}`);
    return event;
  }

  describe('account.updated', () => {
    it('stores a restricted account as not ready: its sessions then fail account_not_ready without a Stripe request, once a day', async () => {
      const ada = await mentorWith('active', 2);
      const ben = await mentorWith('active', 1);
      const restricted = flip(ada.account, 'restricted');

      const response = await pipeline.stripeEvents([restricted]);
      await pipeline.scan();
      await pipeline.drain();
      await pipeline.scan();
      await pipeline.drain();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(await findStripeAccounts(db(), [ada.account])).toMatchObject([
        {
          transfers_capability: 'inactive',
          payouts_enabled: false,
          disabled_reason: 'requirements.past_due',
          catch_up_pending: false,
        },
      ]);
      expect(transferPosts(ada.account)).toEqual([]);
      for (const sessionId of ada.sessionIds) {
        expect(await sessionPayoutStatus(db(), sessionId)).toBe('pending');
        expect(await attemptsFor(db(), sessionId)).toMatchObject([
          { outcome: 'failed', error_code: 'account_not_ready' },
        ]);
      }
      expect(await sessionPayoutStatus(db(), ben.sessionIds[0] ?? '')).toBe('paid_out');
      expect(await pipeline.deadLetters()).toEqual([]);
    });

    it('enqueues the mentor’s eligible sessions, and only theirs, when the account becomes ready; the transfer handler pays them', async () => {
      const ada = await mentorWith('active', 2);
      const ben = await mentorWith('restricted', 1);
      const tooRecent = await insertSession(db(), ada.mentorId, { endedHoursAgo: 1 });
      await pipeline.stripeEvents([flip(ada.account, 'restricted')]);
      await pipeline.scan();
      await pipeline.drain();
      await pipeline.purgeQueues();

      const response = await pipeline.stripeEvents([flip(ada.account, 'active')]);
      const enqueued = await queuedSessionIds();
      await pipeline.drain();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(enqueued).toEqual(ada.sessionIds);
      for (const sessionId of ada.sessionIds) {
        expect(await sessionPayoutStatus(db(), sessionId)).toBe('paid_out');
        expect((await attemptsFor(db(), sessionId)).map((row) => row.error_code)).toEqual([
          'account_not_ready',
          null,
        ]);
      }
      expect(await sessionPayoutStatus(db(), tooRecent)).toBe('pending');
      expect(await attemptsFor(db(), ben.sessionIds[0] ?? '')).toMatchObject([
        { error_code: 'insufficient_capabilities_for_transfer' },
      ]);
      expect(await findStripeAccounts(db(), [ada.account])).toMatchObject([
        { transfers_capability: 'active', catch_up_pending: false },
      ]);
      expect(logs.metric('SessionsEnqueued')).toContainEqual({
        value: 2,
        dimensions: { service: 'payouts-stripe-events' },
      });
    });

    it('changes nothing twice for duplicated and out-of-order events: each event read once, the sessions enqueued once, Stripe’s current state stored', async () => {
      const ada = await mentorWith('active', 2);
      const first = flip(ada.account, 'restricted');
      const second = flip(ada.account, 'active');
      const third = flip(ada.account, 'restricted');
      const fourth = flip(ada.account, 'active');

      const response = await pipeline.stripeEvents([fourth, second, fourth, first, third, second]);
      const again = await pipeline.stripeEvents([first, third]);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(again).toEqual({ batchItemFailures: [] });
      expect(accountReads(ada.account)).toHaveLength(4);
      expect(await queuedSessionIds()).toEqual(ada.sessionIds);
      expect(await findStripeAccounts(db(), [ada.account])).toMatchObject([
        { transfers_capability: 'active', catch_up_pending: false },
      ]);
      const seen = await db()
        .selectFrom('stripe_events')
        .select(['id', 'processed_at'])
        .where('account', '=', ada.account)
        .execute();
      expect(seen.map((row) => row.id).sort()).toEqual(
        [first, second, third, fourth].map((event) => event.id).sort(),
      );
      expect(seen.every((row) => row.processed_at !== null)).toBe(true);
    });

    it('stores what Stripe says now, not what a late event said', async () => {
      const ada = await mentorWith('active', 1);
      const restricted = flip(ada.account, 'restricted');
      flip(ada.account, 'active');

      await pipeline.stripeEvents([restricted]);

      expect(await findStripeAccounts(db(), [ada.account])).toMatchObject([
        { transfers_capability: 'active', payouts_enabled: true, disabled_reason: null },
      ]);
    });

    it('retries an event whose account read failed, and the redelivery does the whole work', async () => {
      const ada = await mentorWith('restricted', 1);
      const activated = flip(ada.account, 'active');
      // A 500 to the SDK's every try (it retries twice).
      pipeline.stripe.failNextAccountRead(3, 500);

      const failed = await pipeline.stripeEvents([activated]);
      const redelivered = await pipeline.stripeEvents([activated], 2);

      expect(failed.batchItemFailures).toHaveLength(1);
      expect(redelivered).toEqual({ batchItemFailures: [] });
      expect(await queuedSessionIds()).toEqual(ada.sessionIds);
      expect(logs.find('WARN', 'Stripe event failed; SQS will redeliver it')).toHaveLength(1);
    });

    it('stores nothing for an account Stripe does not know, so the transfer path lets Stripe decide', async () => {
      const ada = await mentorWith('active', 1);
      const event = flip(ada.account, 'restricted');
      pipeline.stripe.reset();

      const response = await pipeline.stripeEvents([event]);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(await findStripeAccounts(db(), [ada.account])).toEqual([]);
      expect(
        logs.find('ERROR', 'Stripe has no such account; its standing stays unknown'),
      ).toHaveLength(1);
    });

    it('does not read an account no mentor is paid through', async () => {
      const stranger = newAccount();
      pipeline.stripe.setAccount(stranger, 'active');
      const event = flip(stranger, 'restricted');

      const response = await pipeline.stripeEvents([event]);

      expect(response).toEqual({ batchItemFailures: [] });
      expect(accountReads(stranger)).toEqual([]);
    });

    it('enqueues nothing while payouts are paused; the next scan after resuming covers the sessions', async () => {
      const ada = await mentorWith('restricted', 1);
      await db().updateTable('payout_controls').set({ paused: true }).where('id', '=', 1).execute();
      try {
        await pipeline.stripeEvents([flip(ada.account, 'active')]);
      } finally {
        await db()
          .updateTable('payout_controls')
          .set({ paused: false })
          .where('id', '=', 1)
          .execute();
      }

      expect(await queuedSessionIds()).toEqual([]);
      expect(await findStripeAccounts(db(), [ada.account])).toMatchObject([
        { transfers_capability: 'active', catch_up_pending: false },
      ]);
    });

    it('settles an unfinished generation of a mentor whose account is now restricted: the key is resent, nothing abandoned', async () => {
      const ada = await mentorWith('active', 1);
      const sessionId = ada.sessionIds[0] ?? '';
      const transfer = await sdk().transfers.create(
        {
          amount: 8000,
          currency: 'usd',
          destination: ada.account,
          transfer_group: `session_${sessionId}`,
          metadata: { session_id: sessionId },
        },
        { idempotencyKey: `payout-${sessionId}-1` },
      );
      await seedPayout(db(), sessionId, { destination: ada.account, leaseExpiresAt: null });
      await pipeline.stripeEvents([flip(ada.account, 'restricted')]);

      await pipeline.scan();
      await pipeline.drain();

      expect(await sessionPayoutStatus(db(), sessionId)).toBe('paid_out');
      expect(await attemptsFor(db(), sessionId)).toMatchObject([
        { outcome: 'paid', stripe_transfer_id: transfer.id },
      ]);
      expect(pipeline.stripe.transfers()).toHaveLength(1);
    });
  });

  describe('holds', () => {
    it('fails a held mentor’s sessions with mentor_on_hold, without a Stripe request', async () => {
      const ada = await mentorWith('active', 2);
      await holdMentor(db(), {
        mentorId: ada.mentorId,
        reason: 'identity re-check',
        heldBy: 'ops@example.com',
        now: new Date(),
      });

      await pipeline.scan();
      await pipeline.drain();

      expect(transferPosts(ada.account)).toEqual([]);
      for (const sessionId of ada.sessionIds) {
        expect(await attemptsFor(db(), sessionId)).toMatchObject([
          { outcome: 'failed', error_code: 'mentor_on_hold' },
        ]);
      }
      expect(logs.metric('PayoutsFailed')).toContainEqual({
        value: 1,
        dimensions: { service: 'payouts-transfer', code: 'mentor_on_hold' },
      });
    });
  });

  describe('transfer.reversed and transfer.updated', () => {
    async function paidSession() {
      const ada = await mentorWith('active', 1);
      await pipeline.scan();
      await pipeline.drain();
      const sessionId = ada.sessionIds[0] ?? '';
      const transfer = pipeline.stripe
        .transfers()
        .find((candidate) => candidate.metadata.session_id === sessionId);
      if (!transfer) throw new Error('the session was not paid');
      return { ...ada, sessionId, transfer };
    }

    it('records a reversal once (amount, reversal id, time); the payout stays paid and the session is not paid again', async () => {
      const paid = await paidSession();
      const before = pipeline.stripe.events().length;
      const reversal = await sdk().transfers.createReversal(paid.transfer.id, { amount: 3000 });
      const [reversed] = eventsSince(before);
      if (!reversed) throw new Error('no transfer.reversed');

      const response = await pipeline.stripeEvents([reversed, reversed]);
      const redelivered = await pipeline.stripeEvents([reversed]);
      await pipeline.scan();

      expect(response).toEqual({ batchItemFailures: [] });
      expect(redelivered).toEqual({ batchItemFailures: [] });
      expect(await findReversalsOfSessions(db(), [paid.sessionId])).toMatchObject([
        {
          reversal_id: reversal.id,
          transfer_id: paid.transfer.id,
          amount: 3000,
          currency: 'usd',
          reversed_at: new Date(reversal.created * 1000),
          stripe_event_id: reversed.id,
        },
      ]);
      const payout = await db()
        .selectFrom('payouts')
        .select(['state', 'stripe_transfer_id'])
        .where('session_id', '=', paid.sessionId)
        .executeTakeFirstOrThrow();
      expect(payout).toEqual({ state: 'paid', stripe_transfer_id: paid.transfer.id });
      expect(await sessionPayoutStatus(db(), paid.sessionId)).toBe('paid_out');
      expect(await queuedSessionIds()).not.toContain(paid.sessionId);
      expect(transferPosts(paid.account)).toHaveLength(1);
      expect(
        logs.find(
          'WARN',
          'Transfer reversed at Stripe; the payout stays paid and is not paid again',
        ),
      ).toHaveLength(1);
    });

    it('writes one payout.reversed event per reversal with the reversal, in its transaction; a replayed event writes nothing twice', async () => {
      const paid = await paidSession();
      const before = pipeline.stripe.events().length;
      const reversal = await sdk().transfers.createReversal(paid.transfer.id, { amount: 3000 });
      const [reversed] = eventsSince(before);
      if (!reversed) throw new Error('no transfer.reversed');
      // The same Stripe event again, under a new id (Workbench's "Resend" keeps the id; a
      // transfer.updated carries the same reversal under another): recorded once either way.
      const carriedAgain: StandInEvent = {
        ...reversed,
        id: `evt_${randomUUID().replaceAll('-', '')}`,
        type: 'transfer.updated',
      };

      await pipeline.stripeEvents([reversed]);
      await pipeline.stripeEvents([reversed, carriedAgain]);

      const events = await db()
        .selectFrom('payout_events')
        .selectAll()
        .where('session_id', '=', paid.sessionId)
        .where('event_type', '=', 'payout.reversed')
        .execute();
      const [recorded] = await findReversalsOfSessions(db(), [paid.sessionId]);
      expect(events).toHaveLength(1);
      expect(events[0]?.detail).toEqual({
        version: 1,
        eventId: events[0]?.id,
        type: 'payout.reversed',
        sessionId: paid.sessionId,
        mentorId: paid.mentorId,
        amount: 3000,
        currency: 'usd',
        code: null,
        stripeTransferId: paid.transfer.id,
        reversalId: reversal.id,
        reversedAt: new Date(reversal.created * 1000).toISOString(),
        occurredAt: recorded?.recorded_at.toISOString(),
      });
    });

    it('writes no payout.reversed event when recording the reversal fails: neither exists without the other', async () => {
      const paid = await paidSession();
      const before = pipeline.stripe.events().length;
      await sdk().transfers.createReversal(paid.transfer.id, { amount: 500 });
      const [reversed] = eventsSince(before);
      if (!reversed) throw new Error('no transfer.reversed');
      // The outbox refuses the event's row: the reversal's transaction must take the reversal back.
      await sql`alter table payout_events add constraint no_reversed_events
        check (event_type <> 'payout.reversed') not valid`.execute(db());
      let failed: Awaited<ReturnType<typeof pipeline.stripeEvents>>;
      try {
        failed = await pipeline.stripeEvents([reversed]);
      } finally {
        await sql`alter table payout_events drop constraint no_reversed_events`.execute(db());
      }
      const afterFailure = await findReversalsOfSessions(db(), [paid.sessionId]);
      const redelivered = await pipeline.stripeEvents([reversed]);

      expect(failed.batchItemFailures).toHaveLength(1);
      expect(afterFailure).toEqual([]);
      expect(redelivered).toEqual({ batchItemFailures: [] });
      expect(await findReversalsOfSessions(db(), [paid.sessionId])).toHaveLength(1);
      expect(
        await db()
          .selectFrom('payout_events')
          .select('event_type')
          .where('session_id', '=', paid.sessionId)
          .where('event_type', '=', 'payout.reversed')
          .execute(),
      ).toHaveLength(1);
    });

    it('records the reversals a transfer.updated carries that are not recorded yet, whatever the order', async () => {
      const paid = await paidSession();
      const before = pipeline.stripe.events().length;
      await sdk().transfers.createReversal(paid.transfer.id, { amount: 1000 });
      await sdk().transfers.createReversal(paid.transfer.id, { amount: 2000 });
      const [firstReversed, secondReversed] = eventsSince(before);
      if (!firstReversed || !secondReversed) throw new Error('no transfer.reversed');
      // Stripe sends transfer.updated when a transfer's description or metadata changes; it
      // carries the transfer as it is, reversals included.
      const updated: StandInEvent = {
        ...secondReversed,
        id: `evt_${randomUUID().replaceAll('-', '')}`,
        type: 'transfer.updated',
        data: { object: secondReversed.data.object, previous_attributes: { description: null } },
      };

      await pipeline.stripeEvents([updated]);
      await pipeline.stripeEvents([secondReversed, firstReversed]);

      const recorded = await findReversalsOfSessions(db(), [paid.sessionId]);
      expect(
        recorded
          .map((row) => [row.amount, row.stripe_event_id])
          .sort(([a], [b]) => Number(a) - Number(b)),
      ).toEqual([
        [1000, updated.id],
        [2000, updated.id],
      ]);
    });

    it('ignores the reversal of a transfer payouts did not make', async () => {
      const ada = await mentorWith('active', 0);
      const foreign = await sdk().transfers.create({
        amount: 500,
        currency: 'usd',
        destination: ada.account,
      });
      const before = pipeline.stripe.events().length;
      await sdk().transfers.createReversal(foreign.id);

      const response = await pipeline.stripeEvents(eventsSince(before));

      expect(response).toEqual({ batchItemFailures: [] });
      expect(
        await db()
          .selectFrom('payout_reversals')
          .selectAll()
          .where('transfer_id', '=', foreign.id)
          .execute(),
      ).toEqual([]);
    });
  });

  describe('messages that are not Stripe events from our source', () => {
    it('never acknowledges an event from another source or a body that is not an event: they end in the DLQ', async () => {
      const ada = await mentorWith('active', 1);
      const event = flip(ada.account, 'restricted');
      const forged = stripeEventBridgeEvent(event, 'aws.partner/stripe.com/ed_someone_else');
      const mislabelled = {
        ...stripeEventBridgeEvent(event, LOCAL_STRIPE_EVENT_SOURCE),
        'detail-type': 'transfer.reversed',
      };

      const refused = await invoke([JSON.stringify(forged), JSON.stringify(mislabelled), '{']);

      expect(refused.batchItemFailures).toHaveLength(3);
      expect(accountReads(ada.account)).toEqual([]);
      expect(
        logs
          .find('ERROR', 'Malformed Stripe event message; it will go to the DLQ')
          .map((line) => line.reason),
      ).toEqual([
        'source aws.partner/stripe.com/ed_someone_else is not the configured Stripe event source',
        'detail-type differs from the Stripe event type',
        'body is not JSON',
      ]);
    });

    /** The handler with raw SQS bodies, as the queue would hand any message over. */
    async function invoke(bodies: string[]) {
      const { handler } = await import('../../lambdas/stripe-events/handler.ts');
      return handler(sqsEvent(bodies), lambdaContext('payouts-stripe-events'));
    }
  });
});
