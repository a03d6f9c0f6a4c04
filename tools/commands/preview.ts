import { readPayoutControls } from '../../shared/db/payout-controls.repository.ts';
import { eligibilityCutoff, payoutDecision } from '../../shared/payout-policy.ts';
import type { CliDeps } from '../cli-deps.ts';
import { formatTotals, printJson, printTable, sumByCurrency } from './format.ts';

export interface PreviewReport {
  cutoff: string;
  paused: boolean;
  wouldPay: { count: number; totals: Record<string, number> };
  largest: { sessionId: string; amount: number; currency: string; destination: string }[];
  wouldSkip: { code: string; count: number }[];
}

/**
 * A dry run of the next scan and of the decisions the transfer Lambda would take, from the
 * database alone (it reads only; whether Stripe accepts each account shows on the day).
 */
export async function previewNextRun(deps: CliDeps): Promise<PreviewReport> {
  const cutoff = eligibilityCutoff(deps.clock.now(), deps.config.graceHours);
  const rows = await deps.db
    .selectFrom('sessions')
    .leftJoin('mentors', 'mentors.id', 'sessions.mentor_id')
    .select([
      'sessions.id',
      'sessions.price_amount',
      'sessions.refunded_amount',
      'sessions.currency',
      'mentors.stripe_account_id',
    ])
    .where('sessions.status', '=', 'confirmed')
    .where('sessions.payout_status', '=', 'pending')
    .where('sessions.session_end_time', '<', cutoff)
    .execute();
  const payable: PreviewReport['largest'] = [];
  const skipped = new Map<string, number>();
  for (const row of rows) {
    const decision = payoutDecision(
      {
        priceAmount: row.price_amount,
        refundedAmount: row.refunded_amount,
        currency: row.currency,
        stripeAccountId: row.stripe_account_id,
      },
      deps.config,
    );
    if (decision.kind === 'pay') {
      payable.push({
        sessionId: row.id,
        amount: decision.net,
        currency: row.currency,
        destination: decision.destination,
      });
    } else {
      const code = decision.kind === 'not_payable' ? 'net_not_positive' : decision.code;
      skipped.set(code, (skipped.get(code) ?? 0) + 1);
    }
  }
  return {
    cutoff: cutoff.toISOString(),
    paused: (await readPayoutControls(deps.db)).paused,
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
  if (report.paused) deps.out.log('Payouts are PAUSED: the next scan would enqueue nothing.');
  deps.out.log(`Sessions that ended before ${report.cutoff}:`);
  deps.out.log(
    `Would pay ${report.wouldPay.count} session(s): ${formatTotals(report.wouldPay.totals)}`,
  );
  printTable(
    deps.out,
    report.largest.map((row) => ({
      session: row.sessionId,
      amount: `${row.amount} ${row.currency}`,
      destination: row.destination,
    })),
  );
  for (const skip of report.wouldSkip) deps.out.log(`Would skip ${skip.count}: ${skip.code}`);
  return 0;
}
