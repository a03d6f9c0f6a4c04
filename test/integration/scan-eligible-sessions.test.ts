import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type ScanDeps, scanEligibleSessions } from '../../lambdas/scan/scan-eligible-sessions.ts';
import { ScanIncompleteError } from '../../shared/errors.ts';
import type { PayoutQueue } from '../../shared/payout-queue.ts';
import { insertMentor, insertSession, seedPayout } from '../helpers/factories.ts';
import { fixedClock, recordingLog } from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/** A queue that refuses what `refuse` says, and remembers what it accepted. */
function flakyQueue(refuse: (sessionId: string, call: number) => boolean | 'throw') {
  const accepted: string[] = [];
  let calls = 0;
  const queue: PayoutQueue = {
    async sendBatch(ids) {
      calls += 1;
      if (ids.some((id) => refuse(id, calls) === 'throw')) throw new Error('connection reset');
      const failedIds = ids.filter((id) => refuse(id, calls) === true);
      accepted.push(...ids.filter((id) => !failedIds.includes(id)));
      return { failedIds };
    },
  };
  return { queue, accepted, calls: () => calls };
}

describe('scanEligibleSessions', () => {
  const now = new Date('2026-11-25T06:00:00Z');
  let database: TestDatabase;
  let ids: string[];

  beforeAll(async () => {
    database = await createTestDatabase();
    const mentorId = await insertMentor(database.db);
    ids = [];
    for (let index = 0; index < 25; index += 1) {
      ids.push(await insertSession(database.db, mentorId, { now, endedHoursAgo: 30 + index }));
    }
  });
  afterAll(async () => database.close());

  let log: ReturnType<typeof recordingLog>;
  beforeEach(() => {
    log = recordingLog();
  });

  function deps(queue: PayoutQueue, overrides: Partial<ScanDeps['config']> = {}): ScanDeps {
    return {
      db: database.dbAs('scan'),
      queue,
      clock: fixedClock(now),
      log,
      sleep: async () => {},
      config: {
        graceHours: 24,
        paused: false,
        pageSize: 10,
        sendConcurrency: 3,
        sendRetries: 3,
        ...overrides,
      },
    };
  }

  it('sends in batches of at most ten', async () => {
    const sizes: number[] = [];
    const queue: PayoutQueue = {
      async sendBatch(batch) {
        sizes.push(batch.length);
        return { failedIds: [] };
      },
    };

    const summary = await scanEligibleSessions(deps(queue, { pageSize: 25 }));

    expect(summary.enqueued).toBe(25);
    expect(sizes.sort()).toEqual([10, 10, 5].sort());
  });

  it('retries the entries SQS refused until they are accepted', async () => {
    const refusedOnce = new Set(ids.slice(0, 4));
    const flaky = flakyQueue((id) => {
      if (!refusedOnce.has(id)) return false;
      refusedOnce.delete(id);
      return true;
    });

    const summary = await scanEligibleSessions(deps(flaky.queue));

    expect(summary).toMatchObject({ enqueued: 25, failed: 0 });
    expect(flaky.accepted.sort()).toEqual([...ids].sort());
  });

  it('retries a batch whose call threw', async () => {
    const flaky = flakyQueue((_id, call) => (call === 1 ? 'throw' : false));

    const summary = await scanEligibleSessions(deps(flaky.queue, { sendConcurrency: 1 }));

    expect(summary.enqueued).toBe(25);
    expect(new Set(flaky.accepted).size).toBe(25);
  });

  it('sends every other id, then fails loudly naming the ones it could not enqueue', async () => {
    const poisoned = ids[7] ?? '';
    const flaky = flakyQueue((id) => id === poisoned);

    const scan = scanEligibleSessions(deps(flaky.queue));

    const error = await scan.catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ScanIncompleteError);
    expect((error as ScanIncompleteError).failedSessionIds).toEqual([poisoned]);
    expect((error as ScanIncompleteError).enqueued).toBe(24);
    expect((error as Error).message).toContain(poisoned);
    expect(flaky.accepted.sort()).toEqual(ids.filter((id) => id !== poisoned).sort());
    const logged = log.entries.find(
      (entry) => entry.message === 'Scan could not enqueue every eligible session',
    );
    expect(logged?.level).toBe('error');
    expect(logged?.data.failedIds).toEqual([poisoned]);
  });

  it('takes the cutoff once, from the clock at the start of the run', async () => {
    const accepted: string[] = [];
    const queue: PayoutQueue = {
      async sendBatch(batch) {
        accepted.push(...batch);
        return { failedIds: [] };
      },
    };

    const summary = await scanEligibleSessions(deps(queue, { graceHours: 40 }));

    // Sessions ended 30..54 h before now; with 40 h grace only those that ended 41..54 h ago qualify.
    expect(summary.cutoff).toBe('2026-11-23T14:00:00.000Z');
    expect(accepted.sort()).toEqual(ids.slice(11).sort());
  });
});

describe('scanEligibleSessions and unfinished generations', () => {
  const now = new Date('2026-11-25T06:00:00Z');
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  it('also enqueues a session no longer eligible whose transfer request is unfinished, once', async () => {
    const mentorId = await insertMentor(database.db, { stripeAccountId: 'acct_1Unfinished' });
    const eligible = await insertSession(database.db, mentorId, { now });
    const cancelled = await insertSession(database.db, mentorId, { now, status: 'cancelled' });
    const eligibleUnfinished = await insertSession(database.db, mentorId, { now });
    const settled = await insertSession(database.db, mentorId, { now, status: 'cancelled' });
    const payout = { destination: 'acct_1Unfinished', keyFirstUsedAt: now };
    await seedPayout(database.db, cancelled, payout);
    await seedPayout(database.db, eligibleUnfinished, payout);
    await seedPayout(database.db, settled, { ...payout, state: 'refused' });
    const { queue, accepted } = flakyQueue(() => false);

    const summary = await scanEligibleSessions({
      db: database.dbAs('scan'),
      queue,
      clock: fixedClock(now),
      log: recordingLog(),
      sleep: async () => {},
      config: { graceHours: 24, paused: false, pageSize: 10, sendConcurrency: 1, sendRetries: 0 },
    });

    expect(accepted.sort()).toEqual([eligible, cancelled, eligibleUnfinished].sort());
    expect(summary).toMatchObject({ enqueued: 3, unfinished: 1 });
  });
});
