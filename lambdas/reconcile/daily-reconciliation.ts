import {
  finishReconciliationRun,
  lastCompletedReconciliationRun,
  startReconciliationRun,
} from '../../shared/db/reconciliation-runs.repository.ts';
import { ReconciliationIncompleteError } from '../../shared/errors.ts';
import { HOUR_MS, REQUEST_SETTLE_MS } from '../../shared/runtime-limits.ts';
import { type Mismatch, type ReconcileDeps, reconcile } from './reconcile.ts';

/**
 * The daily reconciliation (README, "Operate"): `payouts reconcile` without --fix, on a schedule.
 * - The range ends an hour ago (REQUEST_SETTLE_MS): a transfer Stripe made since may still be on
 *   its way to being recorded.
 * - It starts where the last completed run ended, less an hour for clock skew, so a day that could
 *   not be reconciled (Stripe down) is reconciled by the next run; at most MAX_RANGE back.
 * - It repairs nothing: every mismatch is logged and counted for the alarm, and `reconcile --fix`
 *   stays the manual repair. Reversed transfers are logged and counted apart (not mismatches). A run that cannot complete is recorded and thrown (Lambda error).
 */

/** The first run, or one after a long outage: the last day and its overlap. */
const FIRST_RANGE_MS = 26 * HOUR_MS;
/** Older ranges are on-call's, with the CLI (runbook, reconciliation-did-not-run). */
const MAX_RANGE_MS = 7 * 24 * HOUR_MS;
const OVERLAP_MS = HOUR_MS;

export interface ReconciliationSummary {
  since: string;
  until: string;
  stripeTransfers: number;
  paidPayouts: number;
  /** Every mismatch found: the alarm's metric (nothing is repaired). */
  mismatches: number;
  byKind: Partial<Record<Mismatch['kind'], number>>;
  /** Transfers Stripe shows reversed: counted apart, never as mismatches (nothing to repair). */
  reversed: number;
}

export async function reconcileDay(deps: ReconcileDeps): Promise<ReconciliationSummary> {
  const startedAt = deps.clock.now();
  const until = new Date(startedAt.getTime() - REQUEST_SETTLE_MS);
  const last = await lastCompletedReconciliationRun(deps.db);
  const since = new Date(
    last
      ? Math.max(last.until.getTime() - OVERLAP_MS, until.getTime() - MAX_RANGE_MS)
      : until.getTime() - FIRST_RANGE_MS,
  );
  const runId = await startReconciliationRun(deps.db, { startedAt, since, until });

  let report: Awaited<ReturnType<typeof reconcile>>;
  try {
    report = await reconcile(deps, { since, until });
  } catch (error) {
    const incomplete = new ReconciliationIncompleteError(since, until, { cause: error });
    await finishReconciliationRun(deps.db, runId, {
      finishedAt: deps.clock.now(),
      error: incomplete.message,
    }).catch(() => undefined);
    throw incomplete;
  }
  await finishReconciliationRun(deps.db, runId, {
    finishedAt: deps.clock.now(),
    stripeTransfers: report.stripeTransfers,
    paidPayouts: report.paidPayouts,
    mismatches: report.mismatches,
    open: report.open,
  });

  const byKind: ReconciliationSummary['byKind'] = {};
  for (const mismatch of report.mismatches) {
    byKind[mismatch.kind] = (byKind[mismatch.kind] ?? 0) + 1;
    deps.log.error('Reconciliation mismatch; nothing was repaired', { ...mismatch });
  }
  for (const reversed of report.reversed) {
    deps.log.warn('Transfer reversed at Stripe; not a mismatch, nothing to repair', {
      ...reversed,
    });
  }
  const summary = {
    since: report.since,
    until: report.until,
    stripeTransfers: report.stripeTransfers,
    paidPayouts: report.paidPayouts,
    mismatches: report.mismatches.length,
    byKind,
    reversed: report.reversed.length,
  };
  deps.log.info('Reconciliation completed', summary);
  return summary;
}
