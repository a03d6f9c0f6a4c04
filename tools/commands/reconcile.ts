import { setTimeout as sleepFor } from 'node:timers/promises';
import { type ReconcileReport, reconcile } from '../../lambdas/reconcile/reconcile.ts';
import { recordReconciledTransfer } from '../../lambdas/transfer/pay-session.ts';
import type { CliDeps, Output } from '../cli-deps.ts';
import { formatMoney, formatWhen, paint, printJson, printTable } from './format.ts';

export async function reconcileCommand(
  deps: CliDeps,
  options: { since: Date; until?: Date; fix: boolean; json: boolean },
): Promise<number> {
  const recordDeps = { db: deps.db, clock: deps.clock, log: deps.log, config: deps.config };
  const report = await reconcile(
    {
      db: deps.db,
      stripe: await deps.stripe(),
      clock: deps.clock,
      log: deps.log,
      pacing: {
        db: deps.db,
        sleep: (ms) => sleepFor(ms),
        budget: deps.config.stripeBudget,
      },
    },
    {
      since: options.since,
      until: options.until,
      // --fix records a transfer found at Stripe exactly as the transfer Lambda would.
      ...(options.fix && {
        fix: async (sessionId, transfer) =>
          (await recordReconciledTransfer(recordDeps, sessionId, transfer)).outcome === 'paid',
      }),
    },
  );
  if (options.json) printJson(deps.out, report);
  else printReconcile(deps.out, report, deps.clock.now());
  return report.open > 0 ? 1 : 0;
}

function printReconcile(out: Output, report: ReconcileReport, now: Date): void {
  out.log(
    `Reconciled ${formatWhen(new Date(report.since), now)} → ${formatWhen(new Date(report.until), now)}: ${report.stripeTransfers} transfer(s) at Stripe, ${report.paidPayouts} payout(s) marked paid here.`,
  );
  printReversed(out, report);
  if (report.mismatches.length === 0) {
    out.log(paint(out.colour, 'good', 'No mismatches.'));
    return;
  }
  printTable(
    out,
    [
      { header: 'kind', wrap: true },
      { header: 'session' },
      { header: 'transfer', wrap: true },
      { header: 'detail', wrap: true },
    ],
    report.mismatches.map((mismatch) => [
      mismatch.kind,
      mismatch.sessionId,
      'transferId' in mismatch ? mismatch.transferId : mismatch.transferIds.join(' '),
      'recorded' in mismatch
        ? `here ${mismatch.recorded}, Stripe ${mismatch.atStripe}`
        : 'fixed' in mismatch
          ? `${formatMoney(mismatch.amount, mismatch.currency)}${mismatch.fixed ? ' (fixed)' : ''}`
          : '',
    ]),
  );
  const open = `${report.open} mismatch(es) open.`;
  out.log(report.open > 0 ? paint(out.colour, 'alert', open) : open);
}

/** Reversed transfers, apart from the mismatches: nothing to fix, and --fix pays nothing again. */
function printReversed(out: Output, report: ReconcileReport): void {
  if (report.reversed.length === 0) return;
  out.log(
    paint(
      out.colour,
      'warning',
      `${report.reversed.length} transfer(s) reversed at Stripe (not mismatches; nothing to fix, none is paid again):`,
    ),
  );
  printTable(
    out,
    [
      { header: 'session' },
      { header: 'transfer', wrap: true },
      { header: 'reversed' },
      { header: 'recorded here', wrap: true },
    ],
    report.reversed.map((row) => [
      row.sessionId,
      row.transferId,
      `${formatMoney(row.amountReversed, row.currency)} of ${formatMoney(row.amount, row.currency)}`,
      [
        ...row.recordedReversalIds,
        ...(row.unrecordedAmount > 0
          ? [`${formatMoney(row.unrecordedAmount, row.currency)} not recorded yet`]
          : []),
      ].join(' ') || 'none',
    ]),
  );
}
