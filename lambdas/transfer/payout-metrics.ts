import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { METRIC } from '../../shared/metric-names.ts';
import type { PayoutResult } from './pay-session.ts';

/** Counts each payout outcome; the per-code and per-currency series feed the dashboard. */
export function recordPayoutOutcome(metrics: Metrics, result: PayoutResult): void {
  if (result.outcome === 'paid') {
    metrics.addMetric(METRIC.payoutsPaid, MetricUnit.Count, 1);
    const amount = metrics.singleMetric();
    amount.addDimension('currency', result.currency);
    amount.addMetric(METRIC.paidAmount, MetricUnit.NoUnit, result.amount);
  } else if (result.outcome === 'failed') {
    metrics.addMetric(METRIC.payoutsFailed, MetricUnit.Count, 1);
    const byCode = metrics.singleMetric();
    byCode.addDimension('code', result.code);
    byCode.addMetric(METRIC.payoutsFailed, MetricUnit.Count, 1);
  }
}

export function recordPayoutRetry(metrics: Metrics): void {
  metrics.addMetric(METRIC.payoutsRetrying, MetricUnit.Count, 1);
}
