import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

export interface PeekedMessage {
  messageId: string;
  body: string;
  receiveCount: number;
}

/** Receives every message on a queue, each hidden for a minute so none is read twice. */
export async function receiveAll(sqs: SQSClient, queueUrl: string): Promise<PeekedMessage[]> {
  const messages: PeekedMessage[] = [];
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
    if (Messages.length === 0) return messages;
    for (const message of Messages) {
      messages.push({
        messageId: message.MessageId ?? '',
        body: message.Body ?? '',
        receiveCount: Number(message.Attributes?.ApproximateReceiveCount ?? 0),
      });
    }
  }
}
