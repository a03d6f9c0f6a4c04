import type { Kysely } from 'kysely';
import type { Clock } from '../../shared/clock.ts';
import type { Database } from '../../shared/db/database.ts';
import { readPayoutControls } from '../../shared/db/payout-controls.repository.ts';
import { findUnfinishedPayoutsOutsideScan } from '../../shared/db/payouts.repository.ts';
import { finishScanRun, startScanRun } from '../../shared/db/scan-runs.repository.ts';
import {
  type EligibleCursor,
  findEligibleSessionPage,
} from '../../shared/db/sessions.repository.ts';
import { ScanIncompleteError } from '../../shared/errors.ts';
import type { Log } from '../../shared/logger.ts';
import { eligibilityCutoff } from '../../shared/payout-policy.ts';
import { enqueueSessionIds, type PayoutQueue } from '../../shared/payout-queue.ts';

/**
 * Pages through the eligible sessions in (session_end_time, id) order, keyset only, and puts one
 * message per session on the payout queue; then one per session whose payout generation is
 * unfinished although the session is no longer eligible (it is settled first whatever the session
 * says, docs/payout-protocol.md). Every id is either enqueued or named in the error thrown after
 * the rest were sent: an id is never dropped silently.
 */

export interface ScanDeps {
  db: Kysely<Database>;
  queue: PayoutQueue;
  clock: Clock;
  log: Log;
  sleep: (ms: number) => Promise<void>;
  config: {
    graceHours: number;
    paused: boolean;
    pageSize: number;
    /** SendMessageBatch calls in flight at once. */
    sendConcurrency: number;
    /** Extra tries for entries SQS refused or calls that threw. */
    sendRetries: number;
  };
}

export interface ScanSummary {
  /** Messages sent: eligible sessions and unfinished generations. */
  enqueued: number;
  /** Of those, sessions no longer eligible whose unfinished generation must be settled. */
  unfinished: number;
  failed: number;
  pages: number;
  paused: boolean;
  cutoff: string;
  durationMs: number;
}

export async function scanEligibleSessions(deps: ScanDeps): Promise<ScanSummary> {
  const startedAt = deps.clock.now();
  const cutoff = eligibilityCutoff(startedAt, deps.config.graceHours);
  const controls = await readPayoutControls(deps.db);
  const paused = deps.config.paused || controls.paused;
  const runId = await startScanRun(deps.db, { startedAt, cutoff, paused });
  const summary = {
    enqueued: 0,
    unfinished: 0,
    failed: 0,
    pages: 0,
    paused,
    cutoff: cutoff.toISOString(),
  };
  const finish = (error: string | null) =>
    finishScanRun(deps.db, runId, { ...summary, finishedAt: deps.clock.now(), error });
  if (paused) {
    deps.log.warn('Payouts paused; scan enqueued nothing', {
      cutoff: summary.cutoff,
      reason: deps.config.paused ? 'PAYOUTS_PAUSED=true' : controls.reason,
    });
    await finish(null);
    return { ...summary, durationMs: 0 };
  }
  const failedIds: string[] = [];
  try {
    const readPage = (after: EligibleCursor | undefined) => {
      const reading = findEligibleSessionPage(deps.db, {
        cutoff,
        after,
        limit: deps.config.pageSize,
      });
      // Awaited below; until then a failure must not count as unhandled.
      reading.catch(() => {});
      return reading;
    };
    // The next page is read while this one is sent: the database's time hides behind SQS's.
    let reading = readPage(undefined);
    for (;;) {
      const page = await reading;
      if (page.next) reading = readPage(page.next);
      if (page.ids.length > 0) summary.pages += 1;
      const failedOnPage = await enqueueSessions(deps, page.ids);
      summary.enqueued += page.ids.length - failedOnPage.length;
      failedIds.push(...failedOnPage);
      if (!page.next) break;
    }
    const unfinished = await findUnfinishedPayoutsOutsideScan(deps.db, cutoff);
    const failedUnfinished = await enqueueSessions(deps, unfinished);
    summary.unfinished = unfinished.length - failedUnfinished.length;
    summary.enqueued += summary.unfinished;
    failedIds.push(...failedUnfinished);
  } catch (error) {
    await finish(error instanceof Error ? error.message : String(error)).catch(() => {});
    throw error;
  }
  summary.failed = failedIds.length;
  const result = { ...summary, durationMs: deps.clock.now().getTime() - startedAt.getTime() };
  if (failedIds.length > 0) {
    const incomplete = new ScanIncompleteError(failedIds, summary.enqueued);
    deps.log.error('Scan could not enqueue every eligible session', { ...result, failedIds });
    await finish(incomplete.message);
    throw incomplete;
  }
  await finish(null);
  deps.log.info('Scan finished', result);
  return result;
}

/** Resolves to the ids that stayed unsent after every retry. */
function enqueueSessions(deps: ScanDeps, ids: readonly string[]): Promise<string[]> {
  const { queue, log, sleep, config } = deps;
  return enqueueSessionIds({ queue, log, sleep, ...config }, ids);
}
