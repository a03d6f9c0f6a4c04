import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';

/**
 * The cold-start yardstick: the smallest Powertools SQS handler (Logger + BatchProcessor), bundled
 * by the same PayoutsFunction construct as the payouts Lambdas. Each bundle's import is measured
 * as a multiple of this one's, in the same run.
 */
const logger = new Logger({ serviceName: 'bench-minimal' });
const processor = new BatchProcessor(EventType.SQS);

export async function handler(event: SQSEvent, context: Context): Promise<SQSBatchResponse> {
  return processPartialResponse(
    event,
    async (record: SQSRecord) => logger.info('Record', { messageId: record.messageId }),
    processor,
    { context },
  );
}
