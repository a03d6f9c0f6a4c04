import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import {
  DeferredPayoutError,
  MalformedMessageError,
  PayoutInProgressError,
  TransientPayoutError,
} from '../../shared/errors.ts';
import { HAND_BACKS_ATTRIBUTE, type PayoutHandBack } from '../../shared/payout-queue.ts';
import { MAX_RECEIVE_COUNT, MIN_TIME_FOR_PAYOUT_MS } from '../../shared/runtime-limits.ts';
import { type PayoutResult, type PaySessionDeps, paySession } from './pay-session.ts';
import { parsePayoutMessage } from './payout-message.ts';
import { recordPayoutOutcome, recordPayoutRetry } from './payout-metrics.ts';

export type TransferDeps = PaySessionDeps & { metrics: Metrics; queue: PayoutHandBack };

/**
 * A deferred payout goes back to the queue as a fresh message instead of a batch item failure, so
 * waiting burns no receive and never dead-letters; after this many hand-backs it counts receives
 * again, so a payout that can never start still reaches the DLQ and pages.
 */
export const MAX_HAND_BACKS = 24;
const HAND_BACK_DELAY_SECONDS = { deferred: 5, rate_limited: 60 } as const;

export type RecordResult =
  | PayoutResult
  | { outcome: 'handed_back'; sessionId: string; code: 'deferred' | 'rate_limited' };

/**
 * One SQS record: returning acknowledges it, throwing makes it a batch item failure that SQS
 * redelivers and, after MAX_RECEIVE_COUNT receives, moves to the DLQ.
 */
export async function handlePayoutRecord(
  deps: TransferDeps,
  record: SQSRecord,
  remainingTimeMs: () => number,
): Promise<RecordResult> {
  const receiveCount = Number(record.attributes.ApproximateReceiveCount ?? '1');
  const lastReceive = receiveCount >= MAX_RECEIVE_COUNT;
  let sessionId: string;
  try {
    sessionId = parsePayoutMessage(record.body).sessionId;
  } catch (error) {
    if (!(error instanceof MalformedMessageError)) throw error;
    // Never acknowledged: the DLQ keeps it for on-call to inspect.
    deps.log.error('Malformed payout message; it will go to the DLQ', {
      messageId: record.messageId,
      reason: error.message,
      body: record.body.slice(0, 200),
      receiveCount,
    });
    throw error;
  }
  if (remainingTimeMs() < MIN_TIME_FOR_PAYOUT_MS) {
    // Records run one after another; one started now could be cut off by the function timeout.
    deps.log.info('Too little time left in this invocation; payout deferred to a redelivery', {
      sessionId,
      remainingMs: remainingTimeMs(),
    });
    return handBack(
      deps,
      record,
      sessionId,
      new DeferredPayoutError('Deferred: too little time left in this invocation', 'deferred'),
    );
  }
  try {
    const result = await paySession({ ...deps, timeLeftMs: remainingTimeMs }, sessionId);
    recordPayoutOutcome(deps.metrics, result);
    return result;
  } catch (error) {
    if (error instanceof DeferredPayoutError) return handBack(deps, record, sessionId, error);
    recordPayoutRetry(deps.metrics);
    const code = error instanceof TransientPayoutError ? error.code : 'unexpected_error';
    const details = {
      sessionId,
      messageId: record.messageId,
      code,
      receiveCount,
      error: error instanceof Error ? error.message : String(error),
    };
    if (lastReceive) {
      deps.log.error('Payout message exhausted its receives; it goes to the DLQ', details);
    } else if (error instanceof PayoutInProgressError) {
      deps.log.info('Payout in progress elsewhere; message will be redelivered', details);
    } else if (!(error instanceof TransientPayoutError)) {
      deps.log.error(
        'Unexpected error while paying a session; message will be redelivered',
        details,
      );
    }
    throw error;
  }
}

/** Hands a deferred payout back to the queue; if it cannot (SQS down, too many hand-backs), SQS retries it. */
async function handBack(
  deps: TransferDeps,
  record: SQSRecord,
  sessionId: string,
  deferral: DeferredPayoutError,
): Promise<RecordResult> {
  const handBacks = Number(record.messageAttributes[HAND_BACKS_ATTRIBUTE]?.stringValue ?? '0') + 1;
  const code = deferral.code as 'deferred' | 'rate_limited';
  const details = { sessionId, messageId: record.messageId, code, handBacks };
  if (handBacks > MAX_HAND_BACKS) {
    deps.log.warn('Payout deferred too often; SQS counts its receives again', details);
    recordPayoutRetry(deps.metrics);
    throw deferral;
  }
  try {
    await deps.queue.handBack(sessionId, {
      delaySeconds: HAND_BACK_DELAY_SECONDS[code],
      handBacks,
    });
  } catch (error) {
    deps.log.warn('Could not hand the payout back to the queue; SQS will redeliver it', {
      ...details,
      error: error instanceof Error ? error.message : String(error),
    });
    recordPayoutRetry(deps.metrics);
    throw deferral;
  }
  deps.log.info('Payout handed back to the queue for later', details);
  return { outcome: 'handed_back', sessionId, code };
}
