import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { handlePayoutRecord } from './handle-payout-record.ts';
import { log, metrics, transferDeps } from './transfer-deps.ts';

/**
 * SQS → one paySession per record, reported as a partial batch response. Records run one after
 * another, so the event source's maxConcurrency bounds the Stripe request rate (see README).
 */
export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  log.addContext(context);
  const deps = await transferDeps();
  // A processor per invocation: it holds the batch's state, and invocations may overlap locally.
  const processor = new BatchProcessor(EventType.SQS);
  try {
    return await processPartialResponse(
      event,
      (record: SQSRecord) =>
        handlePayoutRecord(deps, record, () => context.getRemainingTimeInMillis()),
      processor,
      { context, throwOnFullBatchFailure: false, processInParallel: false },
    );
  } finally {
    if (metrics.hasStoredMetrics()) metrics.publishStoredMetrics();
  }
}
