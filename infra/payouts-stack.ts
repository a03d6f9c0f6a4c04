import { fileURLToPath } from 'node:url';
import {
  CfnOutput,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, SERVICE } from '../shared/metric-names.ts';
import { MAX_RECEIVE_COUNT, MIN_TIME_FOR_PAYOUT_MS } from '../shared/runtime-limits.ts';
import type { PayoutsEnvironment } from './environments.ts';

/** The scan pages through every eligible session in one run; Lambda's ceiling. */
export const SCAN_TIMEOUT = Duration.minutes(15);
/** Room for a whole batch of 10 one after another in the common case; the handler defers the rest. */
export const TRANSFER_TIMEOUT = Duration.minutes(5);
/** AWS's guidance: at least 6× the consuming function's timeout. */
export const PAYOUT_VISIBILITY_TIMEOUT = Duration.seconds(TRANSFER_TIMEOUT.toSeconds() * 6);
export const DLQ_RETENTION = Duration.days(14);
export const PAYOUT_QUEUE_RETENTION = Duration.days(4);
export const RUNBOOK = 'docs/runbook.md';

const entry = (relative: string) => fileURLToPath(new URL(relative, import.meta.url));

export interface PayoutsStackProps extends StackProps {
  config: PayoutsEnvironment;
}

export class PayoutsStack extends Stack {
  readonly payoutQueue: sqs.Queue;
  readonly payoutDlq: sqs.Queue;
  readonly scanDlq: sqs.Queue;
  readonly scanFunction: nodejs.NodejsFunction;
  readonly transferFunction: nodejs.NodejsFunction;
  readonly alarmTopic: sns.ITopic;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: PayoutsStackProps) {
    super(scope, id, {
      ...props,
      terminationProtection: props.config.retainData,
      description: `Mentor payouts (${props.config.name}): daily scan → SQS → Stripe transfers`,
    });
    const { config } = props;
    const dataRemovalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;

    this.payoutDlq = new sqs.Queue(this, 'PayoutDeadLetterQueue', {
      retentionPeriod: DLQ_RETENTION,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: dataRemovalPolicy,
    });
    this.payoutQueue = new sqs.Queue(this, 'PayoutQueue', {
      visibilityTimeout: PAYOUT_VISIBILITY_TIMEOUT,
      retentionPeriod: PAYOUT_QUEUE_RETENTION,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.payoutDlq, maxReceiveCount: MAX_RECEIVE_COUNT },
      removalPolicy: dataRemovalPolicy,
    });
    // Where a scan that could not be started or kept failing ends up: the schedule's DLQ and the
    // scan Lambda's asynchronous on-failure destination.
    this.scanDlq = new sqs.Queue(this, 'ScanDeadLetterQueue', {
      retentionPeriod: DLQ_RETENTION,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: dataRemovalPolicy,
    });
    Validations.of(this.scanDlq).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason:
        'This queue is itself a dead-letter queue (of the daily schedule and of the scan Lambda).',
    });

    const stripeSecret = secretsmanager.Secret.fromSecretNameV2(
      this,
      'StripeSecret',
      config.secrets.stripeSecretName,
    );
    const dbSecret = secretsmanager.Secret.fromSecretNameV2(
      this,
      'DbSecret',
      config.secrets.dbSecretName,
    );
    const network = this.network(config);

    const common = {
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: 512,
      tracing: lambda.Tracing.ACTIVE,
      bundling: { minify: true, sourceMap: true, target: 'node22' },
      ...network,
    } satisfies Partial<nodejs.NodejsFunctionProps>;
    const commonEnvironment = {
      PAYOUT_GRACE_HOURS: String(config.graceHours),
      PAYOUTS_PAUSED: 'false',
      DB_SECRET_ARN: dbSecret.secretArn,
      POWERTOOLS_LOG_LEVEL: 'INFO',
      POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
    };

    this.scanFunction = new nodejs.NodejsFunction(this, 'ScanFunction', {
      ...common,
      entry: entry('../lambdas/scan/handler.ts'),
      handler: 'handler',
      description: 'Enqueues every session eligible for payout',
      timeout: SCAN_TIMEOUT,
      // Two scans never overlap; a second trigger is throttled and retried by Lambda.
      reservedConcurrentExecutions: 1,
      retryAttempts: 2,
      onFailure: new SqsOnFailureDestination(this.scanDlq),
      role: this.functionRole('ScanRole', 'scan'),
      logGroup: this.logGroup('ScanLogGroup', config, dataRemovalPolicy),
      environment: {
        ...commonEnvironment,
        PAYOUT_QUEUE_URL: this.payoutQueue.queueUrl,
        POWERTOOLS_SERVICE_NAME: SERVICE.scan,
      },
    });
    this.transferFunction = new nodejs.NodejsFunction(this, 'TransferFunction', {
      ...common,
      entry: entry('../lambdas/transfer/handler.ts'),
      handler: 'handler',
      description: 'Pays one session per SQS message with a Stripe Connect transfer',
      timeout: TRANSFER_TIMEOUT,
      role: this.functionRole('TransferRole', 'transfer'),
      logGroup: this.logGroup('TransferLogGroup', config, dataRemovalPolicy),
      environment: {
        ...commonEnvironment,
        STRIPE_SECRET_ARN: stripeSecret.secretArn,
        PLATFORM_FEE_BPS: String(config.transfer.platformFeeBps),
        PAYOUT_MAX_TRANSFER_AMOUNTS: config.transfer.maxTransferAmounts,
        PAYOUT_MAX_DAILY_TOTALS: config.transfer.maxDailyTotals,
        POWERTOOLS_SERVICE_NAME: SERVICE.transfer,
      },
    });
    if (TRANSFER_TIMEOUT.toMilliseconds() <= MIN_TIME_FOR_PAYOUT_MS) {
      throw new Error('TRANSFER_TIMEOUT must leave room for at least one payout');
    }

    // Each function writes only its own log group and reads only its own secrets.
    for (const fn of [this.scanFunction, this.transferFunction]) {
      if (fn.role) fn.logGroup.grantWrite(fn.role);
    }
    dbSecret.grantRead(this.scanFunction);
    dbSecret.grantRead(this.transferFunction);
    stripeSecret.grantRead(this.transferFunction);
    this.payoutQueue.grantSendMessages(this.scanFunction);
    this.transferFunction.addEventSource(
      new SqsEventSource(this.payoutQueue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: config.transfer.maxConcurrency,
      }),
    );

    this.schedulerRole = new iam.Role(this, 'ScheduleRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com'),
      description: 'Lets the daily schedule invoke the scan Lambda and use its DLQ',
    });
    new scheduler.Schedule(this, 'DailyScanSchedule', {
      description: 'Starts the daily payout scan',
      schedule: scheduler.ScheduleExpression.cron({
        minute: String(config.schedule.minute),
        hour: String(config.schedule.hour),
        timeZone: config.schedule.timeZone,
      }),
      target: new InvokeUnqualified(this.scanFunction, {
        role: this.schedulerRole,
        deadLetterQueue: this.scanDlq,
        retryAttempts: 10,
        maxEventAge: Duration.hours(6),
      }),
    });

    // What `payouts --env <name>` reads (tools/cli-environment.ts maps each to its variable).
    new CfnOutput(this, 'PayoutQueueUrl', { value: this.payoutQueue.queueUrl });
    new CfnOutput(this, 'PayoutDlqUrl', { value: this.payoutDlq.queueUrl });
    new CfnOutput(this, 'DbSecretArn', { value: dbSecret.secretArn });
    new CfnOutput(this, 'StripeSecretArn', { value: stripeSecret.secretArn });

    this.alarmTopic = this.topic(config);
    this.alarms(config);
    this.dashboard(config);
    this.acknowledgeFindings();
  }

  private network(config: PayoutsEnvironment): Partial<nodejs.NodejsFunctionProps> {
    if (!config.vpc) return {};
    const { vpcId, availabilityZones, privateSubnetIds, securityGroupIds } = config.vpc;
    const vpc = ec2.Vpc.fromVpcAttributes(this, 'Vpc', {
      vpcId,
      availabilityZones,
      privateSubnetIds,
    });
    return {
      vpc,
      vpcSubnets: { subnets: privateSubnetIds.map((id) => ec2.Subnet.fromSubnetId(this, id, id)) },
      securityGroups: securityGroupIds.map((id) =>
        ec2.SecurityGroup.fromSecurityGroupId(this, id, id),
      ),
    };
  }

  /** A role per function, with no managed policy: log writes are granted on its own log group. */
  private functionRole(id: string, name: string): iam.Role {
    return new iam.Role(this, id, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Payouts ${name} Lambda`,
    });
  }

  private logGroup(
    id: string,
    config: PayoutsEnvironment,
    removalPolicy: RemovalPolicy,
  ): logs.LogGroup {
    return new logs.LogGroup(this, id, { retention: config.logRetention, removalPolicy });
  }

  private topic(config: PayoutsEnvironment): sns.ITopic {
    if (config.alarms.topicArn)
      return sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarms.topicArn);
    // CloudWatch can publish to an encrypted topic only through a customer-managed key it may use.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: `Encrypts the payouts ${config.name} alarm topic`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    key.grant(
      new iam.ServicePrincipal('cloudwatch.amazonaws.com'),
      'kms:Decrypt',
      'kms:GenerateDataKey*',
    );
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Payouts ${config.name} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    if (config.alarms.email)
      topic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    return topic;
  }

  private alarms(config: PayoutsEnvironment): void {
    const alarm = (
      id: string,
      section: string,
      what: string,
      props: Omit<cloudwatch.AlarmProps, 'alarmDescription'>,
    ) => {
      const created = new cloudwatch.Alarm(this, id, {
        ...props,
        alarmDescription: `${what} Runbook: ${RUNBOOK}#${section}`,
      });
      created.addAlarmAction(new actions.SnsAction(this.alarmTopic));
      created.addOkAction(new actions.SnsAction(this.alarmTopic));
      return created;
    };
    const atLeastOne = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };
    const fiveMinutes = { period: Duration.minutes(5) };

    alarm(
      'PayoutDlqNotEmptyAlarm',
      'payout-dlq-has-messages',
      'A payout message was dead-lettered: a session may be owed money.',
      {
        ...atLeastOne,
        metric: this.payoutDlq.metricApproximateNumberOfMessagesVisible({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    alarm(
      'PayoutDlqOldestMessageAlarm',
      'payout-dlq-message-is-old',
      'A dead-lettered payout has waited too long for a redrive.',
      {
        ...atLeastOne,
        threshold: config.alarms.dlqMaxAge.toSeconds(),
        metric: this.payoutDlq.metricApproximateAgeOfOldestMessage({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    alarm(
      'TransferErrorsAlarm',
      'transfer-lambda-errors',
      'The transfer Lambda failed whole invocations (configuration, secrets, crashes).',
      {
        ...atLeastOne,
        metric: this.transferFunction.metricErrors(fiveMinutes),
      },
    );
    alarm(
      'TransferThrottlesAlarm',
      'transfer-lambda-throttled',
      'The transfer Lambda was throttled.',
      {
        ...atLeastOne,
        metric: this.transferFunction.metricThrottles(fiveMinutes),
      },
    );
    alarm(
      'ScanErrorsAlarm',
      'scan-lambda-errors',
      'The scan failed (database, SQS, or sessions it could not enqueue).',
      {
        ...atLeastOne,
        metric: this.scanFunction.metricErrors(fiveMinutes),
      },
    );
    alarm(
      'ScanThrottlesAlarm',
      'scan-lambda-throttled',
      'A scan was throttled: two scans overlapped or concurrency ran out.',
      {
        ...atLeastOne,
        metric: this.scanFunction.metricThrottles(fiveMinutes),
      },
    );
    // Missing data breaches: a schedule that silently stopped is exactly what this must catch.
    alarm('ScanDidNotRunAlarm', 'scan-did-not-run', 'No scan completed in the last 26 hours.', {
      metric: this.serviceMetric(SERVICE.scan, METRIC.scanCompleted, Duration.hours(1)),
      threshold: 1,
      evaluationPeriods: 26,
      datapointsToAlarm: 26,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm(
      'FailedPayoutsAlarm',
      'failed-payouts-above-threshold',
      `More than ${config.alarms.failedPayoutsThreshold} payouts failed for admin review within 6 hours.`,
      {
        metric: this.serviceMetric(SERVICE.transfer, METRIC.payoutsFailed, Duration.hours(6)),
        threshold: config.alarms.failedPayoutsThreshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    alarm(
      'ScanDlqNotEmptyAlarm',
      'scan-dlq-has-messages',
      'The daily schedule could not start the scan, or the scan kept failing.',
      {
        ...atLeastOne,
        metric: this.scanDlq.metricApproximateNumberOfMessagesVisible({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
  }

  private serviceMetric(service: string, metricName: string, period: Duration): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: METRICS_NAMESPACE,
      metricName,
      dimensionsMap: { service },
      statistic: 'Sum',
      period,
    });
  }

  private dashboard(config: PayoutsEnvironment): void {
    const search = (metricName: string, dimension: string, label: string) =>
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,${dimension}} MetricName="${metricName}"', 'Sum', 3600)`,
        label,
        period: Duration.hours(1),
      });
    new cloudwatch.Dashboard(this, 'Dashboard', {
      dashboardName: `payouts-${config.name}`,
      widgets: [
        [
          new cloudwatch.GraphWidget({
            title: 'Payouts paid',
            left: [this.serviceMetric(SERVICE.transfer, METRIC.payoutsPaid, Duration.hours(1))],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Amount paid (minor units) by currency',
            left: [search(METRIC.paidAmount, 'currency', 'paid')],
            width: 8,
          }),
          new cloudwatch.GraphWidget({
            title: 'Failed payouts by code',
            left: [search(METRIC.payoutsFailed, 'code', 'failed')],
            width: 8,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Payout queue depth',
            left: [
              this.payoutQueue.metricApproximateNumberOfMessagesVisible(),
              this.payoutQueue.metricApproximateNumberOfMessagesNotVisible(),
            ],
            right: [this.payoutDlq.metricApproximateNumberOfMessagesVisible({ label: 'DLQ' })],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Transient failures (SQS will retry)',
            left: [this.serviceMetric(SERVICE.transfer, METRIC.payoutsRetrying, Duration.hours(1))],
            width: 12,
          }),
        ],
      ],
    });
  }

  /** Findings that are right as they are; each says why. */
  private acknowledgeFindings(): void {
    for (const fn of [this.scanFunction, this.transferFunction]) {
      if (!fn.role) continue;
      Validations.of(fn.role).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'Only xray:PutTraceSegments and xray:PutTelemetryRecords (active tracing): X-Ray supports no resource-level permissions for them.',
      });
    }
    for (const fn of [this.scanFunction, this.transferFunction]) {
      Validations.of(fn).acknowledge({
        id: 'AwsSolutions-L1',
        reason:
          'nodejs22.x on purpose: the code is built and tested for Node 22 (esbuild target node22); moving to a newer runtime is a deliberate, tested change.',
      });
    }
  }
}

/**
 * LambdaInvoke granting the function itself only, not `ARN:*` (every version and alias): the
 * schedule invokes the unqualified ARN, and cdk-nag's finding for `ARN:*` names a logical id.
 */
class InvokeUnqualified extends targets.LambdaInvoke {
  constructor(
    private readonly fn: lambda.IFunction,
    props: targets.ScheduleTargetBaseProps,
  ) {
    super(fn, props);
  }

  protected override addTargetActionToRole(role: iam.IRole): void {
    this.fn.grantInvokeLatestVersion(role);
  }
}

/** The scan's asynchronous invocations that exhaust their retries go to the scan DLQ. */
class SqsOnFailureDestination implements lambda.IDestination {
  constructor(private readonly queue: sqs.IQueue) {}

  bind(_scope: Construct, fn: lambda.IFunction): lambda.DestinationConfig {
    this.queue.grantSendMessages(fn);
    return { destination: this.queue.queueArn };
  }
}
