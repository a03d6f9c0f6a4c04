import { GetQueueAttributesCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { parsePayoutMessage } from '../../lambdas/transfer/payout-message.ts';
import { receiveAll } from '../../local/queue-peek.ts';

export async function receiveAllBodies(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  return (await receiveAll(sqs, queueUrl)).map((message) => message.body);
}

export async function receiveAllSessionIds(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies = await receiveAllBodies(sqs, queueUrl);
  return bodies.map((body) => parsePayoutMessage(body).sessionId);
}

/** Messages on a queue, visible or held by a reader (not delayed ones). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const { Attributes = {} } = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(Attributes.ApproximateNumberOfMessages) +
    Number(Attributes.ApproximateNumberOfMessagesNotVisible)
  );
}
