import { Duration, type RemovalPolicy, Validations } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { SERVICE } from '../shared/metric-names.ts';
import type { PayoutsEnvironment } from './environments.ts';
import { PayoutsFunction, type PayoutsFunctionSettings } from './payouts-function.ts';
import { deadLetterQueue } from './queues.ts';
import { scheduleInvocation } from './scheduled-invoke.ts';

/** The scan pages through every eligible session in one run; Lambda's ceiling. */
export const SCAN_TIMEOUT = Duration.minutes(15);

export interface DailyScanProps {
  environmentName: PayoutsEnvironment['name'];
  settings: PayoutsFunctionSettings;
  schedule: PayoutsEnvironment['schedule'];
  /** Where the scan enqueues one message per eligible session. */
  payoutQueue: sqs.IQueue;
  /** Of the scan DLQ: prod keeps it when the stack is deleted. */
  removalPolicy: RemovalPolicy;
}

/**
 * The scan Lambda and the daily schedule that starts it. A start the schedule could not make, and
 * a scan that failed all its retries, both end in the scan DLQ.
 */
export class DailyScan extends Construct {
  readonly function: PayoutsFunction;
  readonly deadLetterQueue: sqs.Queue;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: DailyScanProps) {
    super(scope, id);
    const { environmentName, settings, schedule, payoutQueue, removalPolicy } = props;

    this.deadLetterQueue = deadLetterQueue(this, 'DeadLetterQueue', removalPolicy);
    Validations.of(this.deadLetterQueue).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (of the daily schedule and of the scan Lambda).',
    });
    this.function = new PayoutsFunction(this, 'Function', {
      entry: '../lambdas/scan/handler.ts',
      description: 'Enqueues every session eligible for payout',
      serviceName: SERVICE.scan,
      timeout: SCAN_TIMEOUT,
      // Two scans never overlap; a second trigger is throttled and retried by Lambda.
      reservedConcurrentExecutions: 1,
      retryAttempts: 2,
      onFailure: new SqsDestination(this.deadLetterQueue),
      settings,
      environment: { PAYOUT_QUEUE_URL: payoutQueue.queueUrl },
    });
    payoutQueue.grantSendMessages(this.function);

    this.schedulerRole = scheduleInvocation(this, {
      scheduleName: `payouts-${environmentName}-daily-scan`,
      description: 'Starts the daily payout scan',
      schedule: scheduler.ScheduleExpression.cron({
        minute: String(schedule.minute),
        hour: String(schedule.hour),
        timeZone: schedule.timeZone,
      }),
      function: this.function,
      roleDescription: 'Lets the daily schedule invoke the scan Lambda and use its DLQ',
      deadLetterQueue: this.deadLetterQueue,
      retryAttempts: 10,
      maxEventAge: Duration.hours(6),
    }).role;
  }
}
