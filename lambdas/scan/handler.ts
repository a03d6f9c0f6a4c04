import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { METRIC } from '../../shared/metric-names.ts';
import { log, metrics, scanDeps } from './scan-deps.ts';
import { type ScanSummary, scanEligibleSessions } from './scan-eligible-sessions.ts';

/** The daily schedule → one scan that enqueues every eligible session. */
export async function handler(_event: ScheduledEvent, context: Context): Promise<ScanSummary> {
  log.addContext(context);
  const summary = await scanEligibleSessions(await scanDeps());
  // A paused run is not a completed one: the "scan did not run" alarm should notice a long pause.
  if (!summary.paused) {
    metrics.addMetric(METRIC.scanCompleted, MetricUnit.Count, 1);
    metrics.addMetric(METRIC.sessionsEnqueued, MetricUnit.Count, summary.enqueued);
    metrics.publishStoredMetrics();
  }
  return summary;
}
