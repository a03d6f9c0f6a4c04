import type { Metrics } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import {
  MalformedMessageError,
  PayoutInProgressError,
  TransientPayoutError,
} from '../../shared/errors.ts';
import { MAX_RECEIVE_COUNT, MIN_TIME_FOR_PAYOUT_MS } from '../../shared/runtime-limits.ts';
import { type PayoutResult, type PaySessionDeps, paySession } from './pay-session.ts';
import { parsePayoutMessage } from './payout-message.ts';
import { recordPayoutOutcome, recordPayoutRetry } from './payout-metrics.ts';

export type TransferDeps = PaySessionDeps & { metrics: Metrics };

/**
 * One SQS record: returning acknowledges it, throwing makes it a batch item failure that SQS
 * redelivers and, after MAX_RECEIVE_COUNT receives, moves to the DLQ.
 */
export async function handlePayoutRecord(
  deps: TransferDeps,
  record: SQSRecord,
  remainingTimeMs: () => number,
): Promise<PayoutResult> {
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
    throw new TransientPayoutError('Deferred: too little time left in this invocation', 'deferred');
  }
  try {
    const result = await paySession({ ...deps, timeLeftMs: remainingTimeMs }, sessionId);
    recordPayoutOutcome(deps.metrics, result);
    return result;
  } catch (error) {
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
