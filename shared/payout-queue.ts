import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import pMap from 'p-map';
import type { Log } from './logger.ts';

/** SendMessageBatch takes at most this many entries. */
export const SQS_BATCH_LIMIT = 10;

export interface PayoutQueue {
  /** Sends up to SQS_BATCH_LIMIT session ids; resolves to the ids SQS did not accept. */
  sendBatch(sessionIds: readonly string[]): Promise<{ failedIds: string[] }>;
}

/** The message attribute that counts how often a payout was handed back to its queue. */
export const HAND_BACKS_ATTRIBUTE = 'payoutHandBacks';

export interface PayoutHandBack {
  /**
   * Puts the session on the queue again as a fresh message, visible after `delaySeconds`, carrying
   * how many times it has been handed back; throws if SQS did not take it.
   */
  handBack(sessionId: string, options: { delaySeconds: number; handBacks: number }): Promise<void>;
}

export function payoutMessageBody(sessionId: string): string {
  return JSON.stringify({ sessionId });
}

export function createSqsPayoutQueue(
  sqs: SQSClient,
  queueUrl: string,
): PayoutQueue & PayoutHandBack {
  return {
    async handBack(sessionId, { delaySeconds, handBacks }) {
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: payoutMessageBody(sessionId),
          DelaySeconds: delaySeconds,
          MessageAttributes: {
            [HAND_BACKS_ATTRIBUTE]: { DataType: 'Number', StringValue: String(handBacks) },
          },
        }),
      );
    },
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

export interface EnqueueDeps {
  queue: PayoutQueue;
  log: Log;
  sleep: (ms: number) => Promise<void>;
  /** SendMessageBatch calls in flight at once. */
  sendConcurrency: number;
  /** Extra tries for entries SQS refused or calls that threw. */
  sendRetries: number;
}

/**
 * One message per session id, in batches of SQS_BATCH_LIMIT, entries SQS refused (or whole calls
 * that threw) tried again with a backoff; resolves to the ids still unsent after every retry.
 */
export async function enqueueSessionIds(
  deps: EnqueueDeps,
  ids: readonly string[],
): Promise<string[]> {
  const batches: string[][] = [];
  for (let index = 0; index < ids.length; index += SQS_BATCH_LIMIT) {
    batches.push(ids.slice(index, index + SQS_BATCH_LIMIT));
  }
  const unsent = await pMap(batches, (batch) => sendWithRetries(deps, batch), {
    concurrency: deps.sendConcurrency,
  });
  return unsent.flat();
}

async function sendWithRetries(deps: EnqueueDeps, batch: string[]): Promise<string[]> {
  let pending = batch;
  for (let attempt = 0; pending.length > 0 && attempt <= deps.sendRetries; attempt += 1) {
    if (attempt > 0) await deps.sleep(100 * 2 ** attempt);
    try {
      pending = (await deps.queue.sendBatch(pending)).failedIds;
    } catch (error) {
      deps.log.warn('SendMessageBatch failed; retrying', {
        attempt,
        size: pending.length,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }
  return pending;
}
