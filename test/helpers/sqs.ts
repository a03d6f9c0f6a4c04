import { ReceiveMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';

/** Receives every message currently on a queue (hiding each for a minute) and returns the bodies. */
export async function receiveAllBodies(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        WaitTimeSeconds: 0,
      }),
    );
    if (Messages.length === 0) return bodies;
    bodies.push(...Messages.map((message) => message.Body ?? ''));
  }
}

export async function receiveAllSessionIds(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies = await receiveAllBodies(sqs, queueUrl);
  return bodies.map((body) => (JSON.parse(body) as { sessionId: string }).sessionId);
}
