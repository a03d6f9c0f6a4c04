import { SendMessageBatchCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** SendMessageBatch takes at most this many entries. */
export const SQS_BATCH_LIMIT = 10;

export interface PayoutQueue {
  /** Sends up to SQS_BATCH_LIMIT session ids; resolves to the ids SQS did not accept. */
  sendBatch(sessionIds: readonly string[]): Promise<{ failedIds: string[] }>;
}

export function payoutMessageBody(sessionId: string): string {
  return JSON.stringify({ sessionId });
}

export function createSqsPayoutQueue(sqs: SQSClient, queueUrl: string): PayoutQueue {
  return {
    async sendBatch(sessionIds) {
      if (sessionIds.length > SQS_BATCH_LIMIT) {
        throw new RangeError(`sendBatch takes at most ${SQS_BATCH_LIMIT} ids`);
      }
      const entries = sessionIds.map((sessionId, index) => ({
        Id: String(index),
        MessageBody: payoutMessageBody(sessionId),
      }));
      const result = await sqs.send(
        new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }),
      );
      // SQS answers 200 even when some entries failed; those are listed in Failed.
      const failedIds = (result.Failed ?? []).map((entry) => sessionIds[Number(entry.Id)] ?? '');
      return { failedIds: failedIds.filter(Boolean) };
    },
  };
}
