import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { lambdaContext, scheduledEvent } from '../../local/lambda-events.ts';
import { type LocalSqs, startLocalSqs } from '../../local/local-sqs.ts';
import { localPipelineEnv } from '../../local/pipeline-env.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import { stubEnv } from '../helpers/env.ts';
import { insertMentor, insertSession } from '../helpers/factories.ts';
import { captureLogs, type LogCapture } from '../helpers/log-capture.ts';
import { receiveAllSessionIds } from '../helpers/sqs.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

describe('scan handler', () => {
  let database: TestDatabase;
  let queue: LocalSqs;
  let logs: LogCapture;

  beforeAll(async () => {
    queue = await startLocalSqs();
  });
  afterAll(async () => queue.stop());

  beforeEach(async () => {
    database = await createTestDatabase();
    logs = captureLogs();
    vi.resetModules();
    stubEnv({
      ...localPipelineEnv({ databaseUrl: database.urls.scan, queueUrl: queue.queueUrl }),
      PAYOUTS_PAUSED: 'false',
    });
  });
  afterEach(async () => {
    logs.stop();
    vi.unstubAllEnvs();
    await receiveAllSessionIds(queue.sqs, queue.queueUrl);
    await database.close();
  });

  async function runScan() {
    const { handler } = await import('../../lambdas/scan/handler.ts');
    return handler(scheduledEvent(), lambdaContext('payouts-scan'));
  }

  it('enqueues one message per eligible session and nothing else', async () => {
    const mentorId = await insertMentor(database.db);
    const eligible = [
      await insertSession(database.db, mentorId, { endedHoursAgo: 25 }),
      await insertSession(database.db, mentorId, { endedHoursAgo: 24 * 30 }),
    ];
    await insertSession(database.db, mentorId, { endedHoursAgo: 23 });
    await insertSession(database.db, mentorId, { status: 'cancelled' });
    await insertSession(database.db, mentorId, { status: 'pending' });
    await insertSession(database.db, mentorId, { payout_status: 'paid_out' });
    await insertSession(database.db, mentorId, { payout_status: 'not_payable' });

    const summary = await runScan();

    expect(summary).toMatchObject({ enqueued: 2, failed: 0, pages: 1, paused: false });
    expect(logs.metric('ScanCompleted')).toEqual([
      { value: 1, dimensions: { service: 'payouts-scan' } },
    ]);
    expect(logs.metric('SessionsEnqueued')).toEqual([
      { value: 2, dimensions: { service: 'payouts-scan' } },
    ]);
    expect(typeof summary.durationMs).toBe('number');
    const enqueued = await receiveAllSessionIds(queue.sqs, queue.queueUrl);
    expect(enqueued.sort()).toEqual([...eligible].sort());
  });

  it('sends the contract body {"sessionId":"<uuid>"}', async () => {
    const mentorId = await insertMentor(database.db);
    const sessionId = await insertSession(database.db, mentorId);
    await runScan();
    const { receiveAllBodies } = await import('../helpers/sqs.ts');
    expect(await receiveAllBodies(queue.sqs, queue.queueUrl)).toEqual([
      `{"sessionId":"${sessionId}"}`,
    ]);
  });

  it('pages through ties on session_end_time without skipping or repeating', async () => {
    vi.stubEnv('SCAN_PAGE_SIZE', '7');
    const mentorId = await insertMentor(database.db);
    const sameInstant = new Date(Date.now() - 48 * HOUR_MS);
    const ids: string[] = [];
    for (let index = 0; index < 23; index += 1) {
      ids.push(await insertSession(database.db, mentorId, { session_end_time: sameInstant }));
    }
    // Microseconds apart inside one millisecond: a JS Date cursor would lose them.
    for (let micro = 1; micro <= 9; micro += 1) {
      const id = await insertSession(database.db, mentorId);
      await sql`update sessions set session_end_time = ${sameInstant}::timestamptz + ${`${micro} microseconds`}::interval where id = ${id}`.execute(
        database.db,
      );
      ids.push(id);
    }

    const summary = await runScan();

    const enqueued = await receiveAllSessionIds(queue.sqs, queue.queueUrl);
    expect(summary.enqueued).toBe(32);
    expect(summary.pages).toBe(5);
    expect(new Set(enqueued).size).toBe(enqueued.length);
    expect(enqueued.sort()).toEqual(ids.sort());
  });

  it('enqueues nothing and says so when payouts are paused', async () => {
    vi.stubEnv('PAYOUTS_PAUSED', 'true');
    const mentorId = await insertMentor(database.db);
    await insertSession(database.db, mentorId);

    const summary = await runScan();

    expect(summary).toMatchObject({ enqueued: 0, paused: true });
    expect(await receiveAllSessionIds(queue.sqs, queue.queueUrl)).toEqual([]);
    expect(logs.find('WARN', 'Payouts paused; scan enqueued nothing')).toHaveLength(1);
    expect(logs.metric('ScanCompleted')).toEqual([]);
  });

  it('fails with one line naming a malformed variable', async () => {
    vi.stubEnv('PAYOUT_GRACE_HOURS', 'one day');
    await expect(runScan()).rejects.toThrow(
      'Invalid configuration: PAYOUT_GRACE_HOURS must be a whole number from 0 to 8760',
    );
  });
});
