import { readPayoutControls } from '../../shared/db/payout-controls.repository.ts';
import { findPayoutsAndPayees } from '../../shared/db/payouts.repository.ts';
import {
  type EligibleCursor,
  findEligibleSessionsForPayout,
} from '../../shared/db/sessions.repository.ts';
import type { PayeeFailureCode, PolicyFailureCode, SkipCode } from '../../shared/payout-codes.ts';
import { planPayout } from '../../shared/payout-plan.ts';
import { eligibilityCutoff } from '../../shared/payout-policy.ts';
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

type WouldFailCode = PolicyFailureCode | PayeeFailureCode;

export interface PreviewReport {
  cutoff: string;
  /** The rules it planned with: the deployed transfer function's under --env. */
  feeBps: number;
  graceHours: number;
  paused: boolean;
  wouldPay: { count: number; totals: Record<string, number> };
  largest: { sessionId: string; amount: number; currency: string; destination: string }[];
  /** Not paid, held for admin review, without a Stripe request (a hold, an account not ready, …). */
  wouldFail: { code: WouldFailCode; count: number; owed: Record<string, number> }[];
  /** Nothing to pay. */
  wouldSkip: { code: SkipCode; count: number }[];
  /** An earlier request is settled first (its key resent, or Stripe searched), or is being paid. */
  unfinished: number;
}

/**
 * A dry run of the next scan and of the decisions the transfer Lambda would take, from the
 * database alone (it reads only; whether Stripe accepts an account it has not described shows on
 * the day). It pages through the scan's own query and asks the transfer Lambda's own planPayout,
 * with each session's payout and payee standing (a held mentor, an account Stripe said is not
 * ready), so the three cannot disagree. It plans as if not paused, and says when payouts are.
 */
async function previewNextRun(deps: CliDeps): Promise<PreviewReport> {
  const now = deps.clock.now();
  const cutoff = eligibilityCutoff(now, deps.config.graceHours);
  const payable: PreviewReport['largest'] = [];
  const failed = new Map<WouldFailCode, { amount: number; currency: string }[]>();
  const skipped = new Map<SkipCode, number>();
  let unfinished = 0;
  let after: EligibleCursor | undefined;
  do {
    const page = await findEligibleSessionsForPayout(deps.db, {
      cutoff,
      after,
      limit: PAGE_SIZE,
    });
    const stored = await findPayoutsAndPayees(
      deps.db,
      page.sessions.map((session) => session.id),
    );
    for (const session of page.sessions) {
      const { payout, payee } = stored.get(session.id) ?? { payout: undefined, payee: undefined };
      const plan = planPayout({ session, payout, now, paused: false, config: deps.config, payee });
      if (plan.step === 'start') {
        payable.push({
          sessionId: session.id,
          amount: plan.terms.amount,
          currency: plan.terms.currency,
          destination: plan.terms.destination,
        });
      } else if (plan.step === 'stop' && plan.stop.kind === 'failed') {
        const owed = failed.get(plan.stop.code) ?? [];
        if (plan.stop.owed) owed.push(plan.stop.owed);
        else owed.push({ amount: 0, currency: session.currency });
        failed.set(plan.stop.code, owed);
      } else if (plan.step === 'stop' && plan.stop.kind === 'not_payable') {
        skipped.set('net_not_positive', (skipped.get('net_not_positive') ?? 0) + 1);
      } else {
        // resend, search, in_progress, unsettled, or a row changed since the page was read.
        unfinished += 1;
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
    wouldFail: [...failed]
      .map(([code, owed]) => ({
        code,
        count: owed.length,
        owed: sumByCurrency(owed.filter((item) => item.amount > 0)),
      }))
      .sort((a, b) => b.count - a.count),
    wouldSkip: [...skipped]
      .map(([code, count]) => ({ code, count }))
      .sort((a, b) => b.count - a.count),
    unfinished,
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
  for (const failure of report.wouldFail) {
    deps.out.log(
      paint(
        colour,
        'warning',
        `Would fail ${failure.count} (held for admin review, no Stripe request): ${failure.code}, owed ${formatTotals(failure.owed)}`,
      ),
    );
  }
  for (const skip of report.wouldSkip) {
    deps.out.log(`Would skip ${skip.count} (nothing to pay): ${skip.code}`);
  }
  if (report.unfinished > 0) {
    deps.out.log(
      `Would settle ${report.unfinished} earlier request(s) first (same key and terms, or a search at Stripe)`,
    );
  }
  return 0;
}
