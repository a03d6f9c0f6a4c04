import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { METRIC } from '../../shared/metric-names.ts';
import { type ReconciliationSummary, reconcileDay } from './daily-reconciliation.ts';
import { log, metrics, reconcileDeps } from './reconcile-deps.ts';

/**
 * Its daily schedule → one reconciliation of the payouts recorded here against Stripe's transfers.
 * A reconciliation that cannot complete throws: a Lambda error, no metric, never a silent pass.
 */
export async function handler(
  _event: ScheduledEvent,
  context: Context,
): Promise<ReconciliationSummary> {
  log.addContext(context);
  const summary = await reconcileDay(await reconcileDeps());
  metrics.addMetric(METRIC.reconciliationCompleted, MetricUnit.Count, 1);
  metrics.addMetric(METRIC.reconciliationMismatches, MetricUnit.Count, summary.mismatches);
  metrics.addMetric(METRIC.reconciliationReversals, MetricUnit.Count, summary.reversed);
  metrics.publishStoredMetrics();
  return summary;
}
