import type { Message } from '@aws-sdk/client-sqs';
import type { Context, ScheduledEvent, SQSRecord } from 'aws-lambda';

/** What the daily schedule delivers to the scan Lambda. */
export function scheduledEvent(time = new Date()): ScheduledEvent {
  return {
    id: crypto.randomUUID(),
    version: '0',
    account: '000000000000',
    time: time.toISOString(),
    region: 'us-east-1',
    resources: ['arn:aws:scheduler:us-east-1:000000000000:schedule/default/payouts-daily-scan'],
    source: 'aws.scheduler',
    'detail-type': 'Scheduled Event',
    detail: {},
  };
}

/**
 * A Stripe event as an event destination of type Amazon EventBridge delivers it, and as the
 * stripe-events queue then holds it: `detail-type` is the event's type, `detail` the event,
 * `source` the partner event source.
 */
export function stripeEventBridgeEvent(
  stripeEvent: { type: string; created: number },
  source: string,
  options: { region?: string; account?: string } = {},
) {
  const region = options.region ?? 'us-east-1';
  return {
    version: '0',
    id: crypto.randomUUID(),
    'detail-type': stripeEvent.type,
    source,
    account: options.account ?? '000000000000',
    time: new Date(stripeEvent.created * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:events:${region}::event-source/${source}`],
    detail: stripeEvent,
  };
}

/** Enough of a Lambda context for Powertools and our handlers. */
export function lambdaContext(functionName: string, remainingTimeMs = 300_000): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${functionName}`,
    memoryLimitInMB: '512',
    awsRequestId: crypto.randomUUID(),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => remainingTimeMs,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

/**
 * A received SQS message as Lambda's event source mapping hands it to the handler; attributes SQS
 * did not return are filled in as for a first receive.
 */
export function sqsRecord(message: Message, queueArn: string): SQSRecord {
  const attributes = message.Attributes ?? {};
  return {
    messageId: message.MessageId ?? '',
    receiptHandle: message.ReceiptHandle ?? '',
    body: message.Body ?? '',
    attributes: {
      ApproximateReceiveCount: attributes.ApproximateReceiveCount ?? '1',
      SentTimestamp: attributes.SentTimestamp ?? String(Date.now()),
      SenderId: attributes.SenderId ?? 'local',
      ApproximateFirstReceiveTimestamp:
        attributes.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: Object.fromEntries(
      Object.entries(message.MessageAttributes ?? {}).map(([name, value]) => [
        name,
        {
          dataType: value.DataType ?? 'String',
          stringValue: value.StringValue,
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    ),
    md5OfBody: message.MD5OfBody ?? '',
    eventSource: 'aws:sqs',
    eventSourceARN: queueArn,
    awsRegion: 'us-east-1',
  };
}
