import {
  ChangeMessageVisibilityCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';

export interface PeekedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
}

/**
 * Receives every message on a queue, each hidden for a minute so none is read twice; with
 * `release`, makes them visible again afterwards, so reading consumes nothing.
 */
export async function receiveAll(
  sqs: SQSClient,
  queueUrl: string,
  options: { release?: boolean } = {},
): Promise<PeekedMessage[]> {
  const messages: PeekedMessage[] = [];
  const handles: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        WaitTimeSeconds: 0,
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    if (Messages.length === 0) break;
    for (const message of Messages) {
      handles.push(message.ReceiptHandle ?? '');
      messages.push({
        messageId: message.MessageId ?? '',
        body: message.Body ?? '',
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      });
    }
  }
  if (options.release) {
    for (const handle of handles) {
      await sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: queueUrl,
          ReceiptHandle: handle,
          VisibilityTimeout: 0,
        }),
      );
    }
  }
  return messages;
}
