import { readPayoutControls } from '../../shared/db/payout-controls.repository.ts';
import {
  type EligibleCursor,
  findEligibleSessionsForPayout,
} from '../../shared/db/sessions.repository.ts';
import type { PolicyFailureCode, SkipCode } from '../../shared/payout-codes.ts';
import { eligibilityCutoff, payoutDecision } from '../../shared/payout-policy.ts';
import type { CliDeps } from '../cli-deps.ts';
import {
  formatMoney,
  formatTotals,
  formatWhen,
  paint,
  printJson,
  printTable,
  sumByCurrency,
} from './format.ts';

/** Sessions read per page, as the scan's default SCAN_PAGE_SIZE. */
const PAGE_SIZE = 1000;

export interface PreviewReport {
  cutoff: string;
  /** The rules it planned with: the deployed transfer function's under --env. */
  feeBps: number;
  graceHours: number;
  paused: boolean;
  wouldPay: { count: number; totals: Record<string, number> };
  largest: { sessionId: string; amount: number; currency: string; destination: string }[];
  wouldSkip: { code: PolicyFailureCode | SkipCode; count: number }[];
}

/**
 * A dry run of the next scan and of the decisions the transfer Lambda would take, from the
 * database alone (it reads only; whether Stripe accepts each account shows on the day). It pages
 * through the scan's own query, so the two cannot disagree on which sessions are eligible.
 */
async function previewNextRun(deps: CliDeps): Promise<PreviewReport> {
  const cutoff = eligibilityCutoff(deps.clock.now(), deps.config.graceHours);
  const payable: PreviewReport['largest'] = [];
  const skipped = new Map<PolicyFailureCode | SkipCode, number>();
  let after: EligibleCursor | undefined;
  do {
    const page = await findEligibleSessionsForPayout(deps.db, {
      cutoff,
      after,
      limit: PAGE_SIZE,
    });
    for (const session of page.sessions) {
      const decision = payoutDecision(session, deps.config);
      if (decision.kind === 'pay') {
        payable.push({
          sessionId: session.id,
          amount: decision.net,
          currency: session.currency,
          destination: decision.destination,
        });
      } else {
        const code = decision.kind === 'not_payable' ? 'net_not_positive' : decision.code;
        skipped.set(code, (skipped.get(code) ?? 0) + 1);
      }
    }
    after = page.next;
  } while (after);
  return {
    cutoff: cutoff.toISOString(),
    feeBps: deps.config.feeBps,
    graceHours: deps.config.graceHours,
    paused: (await readPayoutControls(deps.db)).paused || deps.config.paused,
    wouldPay: { count: payable.length, totals: sumByCurrency(payable) },
    largest: [...payable].sort((a, b) => b.amount - a.amount).slice(0, 5),
    wouldSkip: [...skipped]
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count),
  };
}

export async function previewCommand(deps: CliDeps, options: { json: boolean }): Promise<number> {
  const report = await previewNextRun(deps);
  if (options.json) {
    printJson(deps.out, report);
    return 0;
  }
  const { colour } = deps.out;
  if (report.paused) {
    deps.out.log(
      paint(colour, 'alert', 'Payouts are PAUSED: the next scan would enqueue nothing.'),
    );
  }
  deps.out.log(
    `Sessions that ended before ${formatWhen(new Date(report.cutoff), deps.clock.now())}, at a fee of ${report.feeBps / 100} %:`,
  );
  deps.out.log(
    `Would pay ${report.wouldPay.count} session(s): ${formatTotals(report.wouldPay.totals)}`,
  );
  if (report.largest.length > 0) deps.out.log('The largest:');
  printTable(
    deps.out,
    [{ header: 'session' }, { header: 'amount' }, { header: 'destination' }],
    report.largest.map((row) => [
      row.sessionId,
      formatMoney(row.amount, row.currency),
      row.destination,
    ]),
  );
  for (const skip of report.wouldSkip) {
    deps.out.log(paint(colour, 'warning', `Would skip ${skip.count}: ${skip.code}`));
  }
  return 0;
}
