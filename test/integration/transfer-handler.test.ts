import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  DEMO_ACCOUNTS,
  DEMO_CHARGE_ID,
  DEMO_SESSIONS,
  seedDemoData,
} from '../../local/demo-data.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import { captureLogs, type LogCapture } from '../helpers/log-capture.ts';
import { type Pipeline, sqsEvent, startPipeline } from '../helpers/pipeline.ts';

describe('transfer handler on the demo marketplace', () => {
  let pipeline: Pipeline;
  let logs: LogCapture;

  beforeAll(async () => {
    pipeline = await startPipeline();
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.restricted, 'restricted');
    await seedDemoData(pipeline.database.db, new Date());
    logs = captureLogs();
    await pipeline.scan();
    await pipeline.drain();
    logs.stop();
  });
  afterAll(async () => pipeline.stop());

  it('pays each eligible session its net amount and marks it paid_out', async () => {
    const { db } = pipeline.database;
    const transfers = pipeline.stripe.transfers();
    const bySession = new Map(
      transfers.map((transfer) => [transfer.metadata.session_id, transfer]),
    );

    // 12000 usd at 20 % → 9600; 8000 - 2000 eur → 4800; ¥5000 → 4000.
    expect(bySession.get(DEMO_SESSIONS.adaUsd)).toMatchObject({
      amount: 9600,
      currency: 'usd',
      destination: DEMO_ACCOUNTS.active,
      transfer_group: `session_${DEMO_SESSIONS.adaUsd}`,
      source_transaction: DEMO_CHARGE_ID,
    });
    expect(bySession.get(DEMO_SESSIONS.adaEurRefunded)).toMatchObject({
      amount: 4800,
      currency: 'eur',
      source_transaction: null,
    });
    expect(bySession.get(DEMO_SESSIONS.adaJpy)).toMatchObject({ amount: 4000, currency: 'jpy' });
    expect(transfers).toHaveLength(3);
    for (const sessionId of [
      DEMO_SESSIONS.adaUsd,
      DEMO_SESSIONS.adaEurRefunded,
      DEMO_SESSIONS.adaJpy,
    ]) {
      expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
      const attempts = await attemptsFor(db, sessionId);
      expect(attempts).toMatchObject([
        { outcome: 'paid', stripe_transfer_id: bySession.get(sessionId)?.id, error_code: null },
      ]);
    }
  });

  it('runs the scan and the transfer Lambda as their own database roles, never as the owner', async () => {
    const { rows } = await sql<{ usename: string }>`
      select distinct usename from pg_stat_activity
      where datname = current_database() and pid <> pg_backend_pid()
      order by usename`.execute(pipeline.database.db);
    const owner = new URL(pipeline.database.url).username;

    // The handlers' pools keep their connections for 30 s; the owner's are this test's own.
    expect(rows.map((row) => row.usename).filter((user) => user !== owner)).toEqual([
      'payouts_scan_login',
      'payouts_transfer_login',
    ]);
  });

  it('sends exactly the contract parameters with a per-session idempotency key', () => {
    const posts = pipeline.stripe.requests().filter((request) => request.method === 'POST');
    const usd = posts.find(
      (request) =>
        (request.params.metadata as Record<string, string> | undefined)?.session_id ===
        DEMO_SESSIONS.adaUsd,
    );

    expect(usd?.params).toEqual({
      amount: '9600',
      currency: 'usd',
      destination: DEMO_ACCOUNTS.active,
      transfer_group: `session_${DEMO_SESSIONS.adaUsd}`,
      metadata: { session_id: DEMO_SESSIONS.adaUsd },
      source_transaction: DEMO_CHARGE_ID,
    });
    expect(usd?.idempotencyKey).toBe(`payout-${DEMO_SESSIONS.adaUsd}-1`);
  });

  it('a restricted account fails the payout for admin review and leaves the session pending', async () => {
    const { db } = pipeline.database;

    const attempts = await attemptsFor(db, DEMO_SESSIONS.benRestricted);

    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.benRestricted)).toBe('pending');
    expect(attempts).toHaveLength(1);
    expect(attempts[0]).toMatchObject({
      outcome: 'failed',
      error_code: 'insufficient_capabilities_for_transfer',
      stripe_transfer_id: null,
    });
    expect(attempts[0]?.error_message).toContain('capabilities');
    const errorLines = logs.find(
      'ERROR',
      'Payout failed: Stripe refused the transfer; held for admin review',
    );
    expect(errorLines).toMatchObject([
      { sessionId: DEMO_SESSIONS.benRestricted, code: 'insufficient_capabilities_for_transfer' },
    ]);
  });

  it('emits EMF metrics: paid count and amount per currency, failures by code', () => {
    const paidAmounts = logs
      .metric('PaidAmount')
      .map(({ value, dimensions }) => [dimensions.currency, value]);
    const failedByCode = logs
      .metric('PayoutsFailed')
      .filter(({ dimensions }) => 'code' in dimensions)
      .map(({ dimensions }) => dimensions.code);

    expect(paidAmounts.sort()).toEqual([
      ['eur', 4800],
      ['jpy', 4000],
      ['usd', 9600],
    ]);
    expect(logs.metric('PayoutsPaid').reduce((sum, { value }) => sum + Number(value), 0)).toBe(3);
    expect(failedByCode.sort()).toEqual([
      'insufficient_capabilities_for_transfer',
      'no_connected_account',
    ]);
    expect(
      logs
        .metric('PayoutsFailed')
        .every(({ dimensions }) => dimensions.service === 'payouts-transfer'),
    ).toBe(true);
  });

  it('acknowledges a payout Stripe refused: asked once, nothing retried or dead-lettered', async () => {
    const posts = pipeline.stripe
      .requests()
      .filter(
        (request) =>
          request.method === 'POST' && request.params.destination === DEMO_ACCOUNTS.restricted,
      );
    expect(posts).toHaveLength(1);
    expect(await pipeline.deadLetters()).toEqual([]);
    expect(await pipeline.queueDepth()).toBe(0);
  });

  it('fails a mentor without a connected account, for admin review', async () => {
    const { db } = pipeline.database;
    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.cleoNoAccount)).toBe('pending');
    expect(await attemptsFor(db, DEMO_SESSIONS.cleoNoAccount)).toMatchObject([
      { outcome: 'failed', error_code: 'no_connected_account' },
    ]);
    expect(
      logs.find('ERROR', 'Payout failed before calling Stripe; held for admin review'),
    ).toMatchObject([{ sessionId: DEMO_SESSIONS.cleoNoAccount, code: 'no_connected_account' }]);
  });

  it('marks a fully refunded session not_payable with a skipped attempt', async () => {
    const { db } = pipeline.database;
    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.adaFullyRefunded)).toBe('not_payable');
    expect(await attemptsFor(db, DEMO_SESSIONS.adaFullyRefunded)).toMatchObject([
      { outcome: 'skipped', error_code: 'net_not_positive' },
    ]);
  });

  it('leaves ineligible sessions alone', async () => {
    const { db } = pipeline.database;
    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.adaTooRecent)).toBe('pending');
    expect(await sessionPayoutStatus(db, DEMO_SESSIONS.adaCancelled)).toBe('pending');
    expect(await attemptsFor(db, DEMO_SESSIONS.adaTooRecent)).toEqual([]);
    expect(await attemptsFor(db, DEMO_SESSIONS.adaCancelled)).toEqual([]);
    expect(await attemptsFor(db, DEMO_SESSIONS.adaAlreadyPaid)).toEqual([]);
  });

  it('pays nothing more when the next day runs again', async () => {
    const before = pipeline.stripe.transfers().length;
    const nextDayLogs = captureLogs();

    await pipeline.scan();
    await pipeline.drain();
    nextDayLogs.stop();

    expect(pipeline.stripe.transfers()).toHaveLength(before);
  });
});

describe('transfer handler under faults and duplicates', () => {
  let pipeline: Pipeline;
  let logs: LogCapture;
  let mentorId: string;
  const account = 'acct_1FaultsActive';

  beforeAll(async () => {
    pipeline = await startPipeline();
    mentorId = await insertMentor(pipeline.database.db, { stripeAccountId: account });
  });
  afterAll(async () => pipeline.stop());
  beforeEach(async () => {
    pipeline.stripe.reset();
    pipeline.stripe.setAccount(account, 'active');
    await pipeline.coldStart();
    logs = captureLogs();
  });
  afterEach(() => logs.stop());

  const transfersFor = (sessionId: string) =>
    pipeline.stripe.transfers().filter((transfer) => transfer.metadata.session_id === sessionId);

  it('retries a transient Stripe 500 and dead-letters the message after 5 receives', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    pipeline.stripe.failNext(1000, 500);
    await pipeline.enqueue(payoutMessageBody(sessionId));

    const report = await pipeline.drain();

    expect(report.invocations).toBe(5);
    expect(await pipeline.deadLetters()).toEqual([payoutMessageBody(sessionId)]);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('pending');
    const attempts = await attemptsFor(db, sessionId);
    expect(attempts.map((attempt) => attempt.outcome)).toEqual(Array(5).fill('retrying'));
    expect(attempts[0]?.error_code).toBe('stripe_api_error');
    expect(
      logs.find('ERROR', 'Payout message exhausted its receives; it goes to the DLQ'),
    ).toHaveLength(1);
    expect(transfersFor(sessionId)).toEqual([]);
  });

  it('pays after 429s within the same delivery, backing off as Stripe-Rate-Limited-Reason says', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    // The SDK leaves 429s without Stripe-Should-Retry to us: backed off here, they cost no receive.
    pipeline.stripe.failNext(2, 429);
    await pipeline.enqueue(payoutMessageBody(sessionId));

    const report = await pipeline.drain();

    expect(report.invocations).toBe(1);
    expect(
      logs.find('WARN', 'Stripe rate-limited the transfer request; the same key goes again'),
    ).toMatchObject([
      { sessionId, reason: 'endpoint-rate', backoffMs: 1_000 },
      { sessionId, reason: 'endpoint-rate', backoffMs: 2_000 },
    ]);
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    expect(await pipeline.deadLetters()).toEqual([]);
  });

  it('makes one transfer when a message arrives twice in one batch', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    pipeline.stripe.setLatency(100);

    const first = await pipeline.transfer(
      sqsEvent([payoutMessageBody(sessionId), payoutMessageBody(sessionId)]),
    );
    const redelivery = await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)], 2));

    // Records run one after another: the second copy finds the session already paid out.
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(first.batchItemFailures).toEqual([]);
    expect(redelivery.batchItemFailures).toEqual([]);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    expect((await attemptsFor(db, sessionId)).map((attempt) => attempt.outcome)).toEqual(['paid']);
  });

  it('makes one transfer when a message arrives again in a later batch', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);

    const first = await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));
    const second = await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));

    expect(first.batchItemFailures).toEqual([]);
    expect(second.batchItemFailures).toEqual([]);
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(logs.find('INFO', 'Session not eligible; message acknowledged')).toMatchObject([
      { sessionId, reason: 'already_paid_out' },
    ]);
  });

  it('makes one transfer when 5 Lambdas receive the same session at the same moment', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    pipeline.stripe.setLatency(200);

    const responses = await Promise.all(
      Array.from({ length: 5 }, () => pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]))),
    );
    const redelivered = responses.filter((response) => response.batchItemFailures.length > 0);
    const retries = await Promise.all(
      redelivered.map(() => pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)], 2))),
    );

    expect(redelivered).toHaveLength(4);
    expect(retries.every((response) => response.batchItemFailures.length === 0)).toBe(true);
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    expect((await attemptsFor(db, sessionId)).map((attempt) => attempt.outcome)).toEqual(['paid']);
  });

  it('makes exactly one transfer and pays the session when the connection drops after Stripe created it', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    pipeline.stripe.dropNextAfterCreate();
    await pipeline.enqueue(payoutMessageBody(sessionId));

    await pipeline.drain();

    const transfers = transfersFor(sessionId);
    expect(transfers).toHaveLength(1);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    expect(await attemptsFor(db, sessionId)).toMatchObject([
      { outcome: 'paid', stripe_transfer_id: transfers[0]?.id },
    ]);
  });

  it('pays once when every SDK retry loses its answer too and SQS has to redeliver', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    // The first try creates the transfer; it and both SDK retries (replays) lose their answers.
    pipeline.stripe.dropNextAfterCreate(3);
    await pipeline.enqueue(payoutMessageBody(sessionId));

    const report = await pipeline.drain();

    expect(report.invocations).toBe(2);
    expect(transfersFor(sessionId)).toHaveLength(1);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
    expect((await attemptsFor(db, sessionId)).map((attempt) => attempt.outcome)).toEqual([
      'retrying',
      'paid',
    ]);
    // The redelivery resent the same key (outcome unknown) and Stripe replayed the transfer.
    const requests = pipeline.stripe.requests();
    const keys = requests.filter((r) => r.method === 'POST').map((r) => r.idempotencyKey);
    expect(new Set(keys)).toEqual(new Set([`payout-${sessionId}-1`]));
    expect(requests.at(-1)).toMatchObject({ method: 'POST', replayed: true });
  });

  it('hands the records it has no time left for back to the queue as fresh messages, paying nothing it could not finish', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    const event = sqsEvent([payoutMessageBody(sessionId)]);

    const response = await pipeline.transfer(event, 30_000);

    // Acknowledged, not failed: waiting for time burns none of the message's receives.
    expect(response.batchItemFailures).toEqual([]);
    expect(pipeline.stripe.requests()).toEqual([]);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('pending');
    expect(logs.find('INFO', 'Payout handed back to the queue for later')).toMatchObject([
      { sessionId, code: 'deferred', handBacks: 1 },
    ]);
    const report = await pipeline.drain();
    expect(report.invocations).toBe(1);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('paid_out');
  });

  it('moves no money while paused, acknowledges the message and leaves the session pending', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    await pipeline.coldStart({ PAYOUTS_PAUSED: 'true' });

    const response = await pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));

    expect(response.batchItemFailures).toEqual([]);
    expect(pipeline.stripe.requests()).toEqual([]);
    expect(await sessionPayoutStatus(db, sessionId)).toBe('pending');
    expect(logs.find('WARN', 'Payouts paused; message acknowledged without paying')).toMatchObject([
      { sessionId },
    ]);
  });

  it('survives malformed bodies: logs each clearly, fails only them, still pays the good one', async () => {
    const { db } = pipeline.database;
    const sessionId = await insertSession(db, mentorId);
    const event = sqsEvent([
      'not json',
      '{"id":"x"}',
      '{"sessionId":"42"}',
      payoutMessageBody(sessionId),
    ]);

    const response = await pipeline.transfer(event);

    const failedIds = response.batchItemFailures.map((failure) => failure.itemIdentifier);
    expect(failedIds.sort()).toEqual(
      event.Records.slice(0, 3)
        .map((record) => record.messageId)
        .sort(),
    );
    expect(transfersFor(sessionId)).toHaveLength(1);
    const reasons = logs
      .find('ERROR', 'Malformed payout message; it will go to the DLQ')
      .map((line) => line.reason);
    expect(reasons.sort()).toEqual([
      'body is not JSON',
      'sessionId is missing',
      'sessionId must be a uuid',
    ]);
  });

  it('acknowledges an unknown session id with a failed attempt and an error line', async () => {
    const unknownId = crypto.randomUUID();

    const response = await pipeline.transfer(sqsEvent([payoutMessageBody(unknownId)]));

    expect(response.batchItemFailures).toEqual([]);
    expect(await attemptsFor(pipeline.database.db, unknownId)).toMatchObject([
      { outcome: 'failed', error_code: 'session_not_found' },
    ]);
    expect(
      logs.find('ERROR', 'Payout failed before calling Stripe; held for admin review'),
    ).toMatchObject([{ sessionId: unknownId, code: 'session_not_found' }]);
  });

  it('fails at start with one line naming a malformed variable, and pays nothing', async () => {
    await pipeline.coldStart({ PLATFORM_FEE_BPS: 'twenty percent' });
    const sessionId = await insertSession(pipeline.database.db, mentorId);

    const invocation = pipeline.transfer(sqsEvent([payoutMessageBody(sessionId)]));

    await expect(invocation).rejects.toThrow(
      'Invalid configuration: PLATFORM_FEE_BPS must be a whole number from 0 to 10000',
    );
    expect(pipeline.stripe.requests()).toEqual([]);
  });
});
