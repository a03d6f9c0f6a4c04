import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { handleStripeEventRecord } from './handle-stripe-event-record.ts';
import { log, metrics, stripeEventsDeps } from './stripe-events-deps.ts';

/**
 * The stripe-events queue (Stripe's events through EventBridge) → one handleStripeEvent per
 * record, one after another, reported as a partial batch response.
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  log.addContext(context);
  const deps = await stripeEventsDeps();
  const processor = new BatchProcessor(EventType.SQS);
  try {
    return await processPartialResponse(
      event,
      (record: SQSRecord) =>
        handleStripeEventRecord(deps, record, () => context.getRemainingTimeInMillis()),
      processor,
      { context, throwOnFullBatchFailure: false, processInParallel: false },
    );
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
