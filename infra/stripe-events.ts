import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SERVICE } from '../shared/metric-names.ts';
import {
  MAX_RECEIVE_COUNT,
  MIN_TIME_FOR_STRIPE_CALL_MS,
  STRIPE_EVENTS_BATCH_SIZE,
} from '../shared/runtime-limits.ts';
import type { PayoutsEnvironment } from './environments.ts';
import { PayoutsFunction, type PayoutsFunctionSettings } from './payouts-function.ts';
import { deadLetterQueue, secureQueueProps } from './queues.ts';
import { INVOCATION_START_MARGIN } from './transfer-pipeline.ts';

/** The longest a Stripe request waits for its slot of the budget (shared/stripe-budget.ts). */
const MAX_SLOT_WAIT = Duration.seconds(10);
/** STRIPE_EVENTS_BATCH_SIZE × (slot wait + one account read) + INVOCATION_START_MARGIN = 240 s. */
export const STRIPE_EVENTS_TIMEOUT = Duration.minutes(5);
/** AWS's guidance: at least 6× the consuming function's timeout. */
export const STRIPE_EVENTS_VISIBILITY_TIMEOUT = Duration.seconds(
  STRIPE_EVENTS_TIMEOUT.toSeconds() * 6,
);
export const STRIPE_EVENTS_QUEUE_RETENTION = Duration.days(4);

const PARTNER_EVENT_SOURCE = /^aws\.partner\/stripe\.com\/ed_\w+$/;

export interface StripeEventsProps {
  /** The partner event source Stripe created for the environment's event destination. */
  eventSourceName: string;
  settings: PayoutsFunctionSettings;
  stripeBudget: PayoutsEnvironment['transfer']['stripeBudget'];
  stripeSecret: secretsmanager.ISecret;
  /** Where a mentor's waiting sessions go once their account can receive transfers. */
  payoutQueue: sqs.IQueue;
  /** Of the queues: prod keeps them when the stack is deleted. */
  removalPolicy: RemovalPolicy;
}

/**
 * Stripe's events, with no public endpoint: the event bus on Stripe's partner event source, a rule
 * for connected accounts' `account.updated` and one for the platform's `transfer.reversed` and
 * `transfer.updated`, both into the stripe-events queue (its DLQ also takes what EventBridge could
 * not deliver), and the stripe-events Lambda that consumes it.
 */
export class StripeEvents extends Construct {
  readonly bus: events.EventBus;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly function: PayoutsFunction;

  constructor(scope: Construct, id: string, props: StripeEventsProps) {
    super(scope, id);
    const { eventSourceName, settings, stripeBudget, stripeSecret, payoutQueue, removalPolicy } =
      props;
    if (!PARTNER_EVENT_SOURCE.test(eventSourceName)) {
      throw new Error(
        `stripeEvents.eventSourceName must be Stripe's partner event source, aws.partner/stripe.com/ed_…; got ${JSON.stringify(eventSourceName)}`,
      );
    }
    const fullBatchMs =
      STRIPE_EVENTS_BATCH_SIZE * (MAX_SLOT_WAIT.toMilliseconds() + MIN_TIME_FOR_STRIPE_CALL_MS) +
      INVOCATION_START_MARGIN.toMilliseconds();
    if (STRIPE_EVENTS_TIMEOUT.toMilliseconds() < fullBatchMs) {
      throw new Error(`STRIPE_EVENTS_TIMEOUT must hold a full batch: at least ${fullBatchMs} ms`);
    }

    // A bus on a partner event source takes the source's name and only its events.
    this.bus = new events.EventBus(this, 'Bus', { eventSourceName });
    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue', removalPolicy);
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (of the stripe-events queue and of the rules’ deliveries).',
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      ...secureQueueProps(removalPolicy),
      visibilityTimeout: STRIPE_EVENTS_VISIBILITY_TIMEOUT,
      retentionPeriod: STRIPE_EVENTS_QUEUE_RETENTION,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: MAX_RECEIVE_COUNT },
    });
    const intoQueue = new targets.SqsQueue(this.queue, {
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 185,
      maxEventAge: Duration.hours(24),
    });
    new events.Rule(this, 'AccountUpdatedRule', {
      eventBus: this.bus,
      description: 'Connected accounts’ account.updated → the stripe-events queue',
      eventPattern: {
        source: [eventSourceName],
        detailType: ['account.updated'],
        detail: { account: events.Match.exists() },
      },
      targets: [intoQueue],
    });
    new events.Rule(this, 'TransferChangedRule', {
      eventBus: this.bus,
      description:
        'The platform’s transfer.reversed and transfer.updated → the stripe-events queue',
      eventPattern: {
        source: [eventSourceName],
        detailType: ['transfer.reversed', 'transfer.updated'],
        detail: { account: events.Match.doesNotExist() },
      },
      targets: [intoQueue],
    });

    this.function = new PayoutsFunction(this, 'Function', {
      entry: '../lambdas/stripe-events/handler.ts',
      description:
        'Records Stripe events: connected accounts’ readiness (enqueueing a ready mentor’s waiting sessions) and transfer reversals',
      serviceName: SERVICE.stripeEvents,
      timeout: STRIPE_EVENTS_TIMEOUT,
      settings,
      environment: {
        STRIPE_SECRET_ARN: stripeSecret.secretArn,
        STRIPE_CREATES_PER_SECOND: String(stripeBudget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(stripeBudget.readsPerSecond),
        PAYOUT_QUEUE_URL: payoutQueue.queueUrl,
        STRIPE_EVENT_SOURCE: eventSourceName,
      },
    });
    stripeSecret.grantRead(this.function);
    payoutQueue.grantSendMessages(this.function);
    this.function.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: STRIPE_EVENTS_BATCH_SIZE,
        reportBatchItemFailures: true,
        maxConcurrency: 2,
      }),
    );
  }
}
