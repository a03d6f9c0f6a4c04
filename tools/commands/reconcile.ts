import { setTimeout as sleepFor } from 'node:timers/promises';
import { type ReconcileReport, reconcile } from '../../lambdas/reconcile/reconcile.ts';
import { recordReconciledTransfer } from '../../lambdas/transfer/pay-session.ts';
import type { CliDeps, Output } from '../cli-deps.ts';
import { printJson, printTable } from './format.ts';

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
  else printReconcile(deps.out, report);
  return report.open > 0 ? 1 : 0;
}

function printReconcile(out: Output, report: ReconcileReport): void {
  out.log(
    `Reconciled ${report.since} → ${report.until}: ${report.stripeTransfers} transfer(s) at Stripe, ${report.paidPayouts} payout(s) marked paid here.`,
  );
  if (report.mismatches.length === 0) {
    out.log('No mismatches.');
    return;
  }
  printTable(
    out,
    report.mismatches.map((mismatch) => ({
      kind: mismatch.kind,
      session: mismatch.sessionId,
      transfer: 'transferId' in mismatch ? mismatch.transferId : mismatch.transferIds.join(' '),
      detail:
        'recorded' in mismatch
          ? `here ${mismatch.recorded}, Stripe ${mismatch.atStripe}`
          : 'fixed' in mismatch
            ? `${mismatch.amount} ${mismatch.currency}${mismatch.fixed ? ' (fixed)' : ''}`
            : '',
    })),
  );
  out.log(`${report.open} mismatch(es) open.`);
}
