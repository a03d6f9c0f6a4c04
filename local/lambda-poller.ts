import { setTimeout as sleep } from 'node:timers/promises';
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { Context, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { TRANSFER_BATCH_SIZE } from '../shared/runtime-limits.ts';
import { lambdaContext, sqsRecord } from './lambda-events.ts';

/**
 * Does locally what Lambda's SQS event source mapping does in AWS: receive up to 10 messages,
 * invoke the handler, delete what it acknowledged, and let the batch item failures come back.
 * A failed message is made visible again at once instead of after the visibility timeout.
 */
export interface PollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  handler: (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;
  batchSize?: number;
  /** The function the handler stands for, in its Lambda context (logs). */
  functionName?: string;
  /** Stops after this many handler invocations even if messages remain. */
  maxInvocations?: number;
}

export interface PollerReport {
  invocations: number;
  acknowledged: number;
  failed: number;
  /** Invocations that threw (the whole batch failed), by message: what Lambda would log. */
  errors: string[];
}

/** Polls until the queue is empty, nothing in flight or delayed (npm start, tests). */
export async function drainQueue(options: PollerOptions): Promise<PollerReport> {
  const report: PollerReport = { invocations: 0, acknowledged: 0, failed: 0, errors: [] };
  const maxInvocations = options.maxInvocations ?? 10_000;
  while (report.invocations < maxInvocations) {
    const messages = await receive(options, 0);
    if (messages.length === 0) {
      if (await isDrained(options)) break;
      // Messages in flight or delayed: wait a little rather than spin.
      await sleep(50);
      continue;
    }
    await invokeAndSettle(options, messages, report);
  }
  return report;
}

/**
 * Polls until `signal` aborts, as the event source mapping does for a deployed function
 * (`npm start -- --keep`); `onInvocation` hears of each batch.
 */
export async function pollQueue(
  options: PollerOptions & {
    signal: AbortSignal;
    onInvocation?(batch: PollerReport): void;
  },
): Promise<void> {
  while (!options.signal.aborted) {
    const messages = await receive(options, 1);
    if (messages.length === 0 || options.signal.aborted) continue;
    const batch: PollerReport = { invocations: 0, acknowledged: 0, failed: 0, errors: [] };
    await invokeAndSettle(options, messages, batch);
    options.onInvocation?.(batch);
  }
}

async function receive(options: PollerOptions, waitSeconds: number): Promise<Message[]> {
  const received = await options.sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: options.queueUrl,
      MaxNumberOfMessages: options.batchSize ?? TRANSFER_BATCH_SIZE,
      MessageSystemAttributeNames: ['All'],
      MessageAttributeNames: ['All'],
      WaitTimeSeconds: waitSeconds,
    }),
  );
  return received.Messages ?? [];
}

async function invokeAndSettle(
  options: PollerOptions,
  messages: Message[],
  report: PollerReport,
): Promise<void> {
  const failedIds = await invoke(options, messages, report);
  report.invocations += 1;
  await settle(options, messages, failedIds, report);
}

async function invoke(
  options: PollerOptions,
  messages: Message[],
  report: PollerReport,
): Promise<Set<string>> {
  const event: SQSEvent = {
    Records: messages.map((message) => sqsRecord(message, options.queueArn)),
  };
  try {
    const response = await options.handler(
      event,
      lambdaContext(options.functionName ?? 'payouts-transfer'),
    );
    return new Set(response.batchItemFailures.map((failure) => failure.itemIdentifier));
  } catch (error) {
    // A handler that throws fails the whole batch, as in Lambda.
    report.errors.push(error instanceof Error ? error.message : String(error));
    return new Set(messages.map((message) => message.MessageId ?? ''));
  }
}

async function settle(
  options: PollerOptions,
  messages: Message[],
  failedIds: Set<string>,
  report: PollerReport,
): Promise<void> {
  const entries = messages.map((message, index) => ({
    Id: String(index),
    ReceiptHandle: message.ReceiptHandle ?? '',
    failed: failedIds.has(message.MessageId ?? ''),
  }));
  const done = entries.filter((entry) => !entry.failed);
  const failed = entries.filter((entry) => entry.failed);
  report.acknowledged += done.length;
  report.failed += failed.length;
  if (done.length > 0) {
    await options.sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: done.map(({ Id, ReceiptHandle }) => ({ Id, ReceiptHandle })),
      }),
    );
  }
  if (failed.length > 0) {
    await options.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: options.queueUrl,
        Entries: failed.map(({ Id, ReceiptHandle }) => ({
          Id,
          ReceiptHandle,
          VisibilityTimeout: 0,
        })),
      }),
    );
  }
}

async function isDrained(options: PollerOptions): Promise<boolean> {
  const { Attributes = {} } = await options.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: options.queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        // A payout handed back for later waits out its delay before it can be received.
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return (
    Attributes.ApproximateNumberOfMessages === '0' &&
    Attributes.ApproximateNumberOfMessagesNotVisible === '0' &&
    Attributes.ApproximateNumberOfMessagesDelayed === '0'
  );
}
