import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { METRIC } from '../../shared/metric-names.ts';
import { eventsDeps, log, metrics } from './events-deps.ts';
import { type SweepSummary, sweepPayoutEvents } from './sweep-payout-events.ts';

/** Its schedule → one sweep that publishes the payout events left unpublished. */
export async function handler(_event: ScheduledEvent, context: Context): Promise<SweepSummary> {
  log.addContext(context);
  const summary = await sweepPayoutEvents(await eventsDeps());
  metrics.addMetric(METRIC.payoutEventsPublished, MetricUnit.Count, summary.published);
  // Emitted on every sweep, 0 included: its absence is what the alarm reads as "not swept".
  metrics.addMetric(METRIC.payoutEventsUnpublished, MetricUnit.Count, summary.waiting);
  metrics.publishStoredMetrics();
  return summary;
}
