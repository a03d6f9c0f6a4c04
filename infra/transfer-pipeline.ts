import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SERVICE } from '../shared/metric-names.ts';
import {
  MAX_RECEIVE_COUNT,
  MIN_TIME_FOR_PAYOUT_MS,
  TRANSFER_BATCH_SIZE,
} from '../shared/runtime-limits.ts';
import type { PayoutsEnvironment } from './environments.ts';
import type { PayoutEvents } from './payout-events.ts';
import { PayoutsFunction, type PayoutsFunctionSettings } from './payouts-function.ts';
import { deadLetterQueue, secureQueueProps } from './queues.ts';

/** Before the first record: cold start, reading the secrets, the first database connection. */
export const INVOCATION_START_MARGIN = Duration.seconds(60);
/** TRANSFER_BATCH_SIZE × MIN_TIME_FOR_PAYOUT_MS (80 s) + INVOCATION_START_MARGIN = 300 s. */
export const TRANSFER_TIMEOUT = Duration.minutes(5);
/** AWS's guidance: at least 6× the consuming function's timeout. */
export const PAYOUT_VISIBILITY_TIMEOUT = Duration.seconds(TRANSFER_TIMEOUT.toSeconds() * 6);
export const PAYOUT_QUEUE_RETENTION = Duration.days(4);

export interface TransferPipelineProps {
  settings: PayoutsFunctionSettings;
  transfer: PayoutsEnvironment['transfer'];
  stripeSecret: secretsmanager.ISecret;
  /** Each outcome's event is published right after its commit, to this bus. */
  payoutEvents: PayoutEvents;
  /** Of the queues: prod keeps them when the stack is deleted. */
  removalPolicy: RemovalPolicy;
}

/**
 * The payout queue, its DLQ and the transfer Lambda that consumes it: one message per session,
 * partial batch responses, and after MAX_RECEIVE_COUNT receives the message waits in the DLQ.
 */
export class TransferPipeline extends Construct {
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly function: PayoutsFunction;

  constructor(scope: Construct, id: string, props: TransferPipelineProps) {
    super(scope, id);
    const { settings, transfer, stripeSecret, payoutEvents, removalPolicy } = props;
    const fullBatchMs =
      TRANSFER_BATCH_SIZE * MIN_TIME_FOR_PAYOUT_MS + INVOCATION_START_MARGIN.toMilliseconds();
    if (TRANSFER_TIMEOUT.toMilliseconds() < fullBatchMs) {
      throw new Error(`TRANSFER_TIMEOUT must hold a full batch: at least ${fullBatchMs} ms`);
    }

    this.deadLetterQueue = deadLetterQueue(this, 'PayoutDeadLetterQueue', removalPolicy);
    this.queue = new sqs.Queue(this, 'PayoutQueue', {
      ...secureQueueProps(removalPolicy),
      visibilityTimeout: PAYOUT_VISIBILITY_TIMEOUT,
      retentionPeriod: PAYOUT_QUEUE_RETENTION,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    this.function = new PayoutsFunction(this, 'Function', {
      entry: '../lambdas/transfer/handler.ts',
      description: 'Pays one session per SQS message with a Stripe Connect transfer',
      serviceName: SERVICE.transfer,
      timeout: TRANSFER_TIMEOUT,
      settings,
      environment: {
        STRIPE_SECRET_ARN: stripeSecret.secretArn,
        PLATFORM_FEE_BPS: String(transfer.platformFeeBps),
        PAYOUT_MAX_TRANSFER_AMOUNTS: transfer.maxTransferAmounts,
        PAYOUT_MAX_DAILY_TOTALS: transfer.maxDailyTotals,
        STRIPE_CREATES_PER_SECOND: String(transfer.stripeBudget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(transfer.stripeBudget.readsPerSecond),
        // A deferred payout goes back on this queue as a fresh message (no receive burnt).
        PAYOUT_QUEUE_URL: this.queue.queueUrl,
        ...payoutEvents.publisherEnvironment(),
      },
    });
    stripeSecret.grantRead(this.function);
    payoutEvents.grantPublish(this.function);
    this.queue.grantSendMessages(this.function);
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: TRANSFER_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: transfer.maxConcurrency,
      }),
    );
  }
}
