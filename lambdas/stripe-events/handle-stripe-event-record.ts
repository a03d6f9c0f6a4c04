import { type Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { MalformedMessageError } from '../../shared/errors.ts';
import { METRIC } from '../../shared/metric-names.ts';
import { MAX_RECEIVE_COUNT } from '../../shared/runtime-limits.ts';
import {
  handleStripeEvent,
  type StripeEventDeps,
  type StripeEventResult,
} from './handle-stripe-event.ts';
import { parseStripeEventMessage } from './stripe-event-message.ts';

export type StripeEventsDeps = StripeEventDeps & { metrics: Metrics; eventSource: string };

/**
 * One SQS record of the stripe-events queue: returning acknowledges it, throwing makes it a batch
 * item failure that SQS redelivers and, after MAX_RECEIVE_COUNT receives, moves to the DLQ.
 */
export async function handleStripeEventRecord(
  deps: StripeEventsDeps,
  record: SQSRecord,
  remainingTimeMs: () => number,
): Promise<StripeEventResult> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  const details = { messageId: record.messageId, receiveCount };
  try {
    const message = parseStripeEventMessage(record.body, deps.eventSource);
    const result = await handleStripeEvent({ ...deps, timeLeftMs: remainingTimeMs }, message);
    recordMetrics(deps.metrics, result);
    return result;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    if (error instanceof MalformedMessageError) {
      deps.log.error('Malformed Stripe event message; it will go to the DLQ', {
        ...details,
        reason,
      });
    } else if (receiveCount >= MAX_RECEIVE_COUNT) {
      deps.log.error('Stripe event exhausted its receives; it goes to the DLQ', {
        ...details,
        error: reason,
      });
    } else {
      deps.log.warn('Stripe event failed; SQS will redeliver it', { ...details, error: reason });
    }
    throw error;
  }
}

function recordMetrics(metrics: Metrics, result: StripeEventResult): void {
  if (result.outcome === 'account' && result.refresh.kind === 'stored') {
    metrics.addMetric(METRIC.sessionsEnqueued, MetricUnit.Count, result.refresh.enqueued);
  }
  if (result.outcome === 'transfer') {
    metrics.addMetric(METRIC.payoutsReversed, MetricUnit.Count, result.reversalsRecorded);
  }
}
