import { ArnFormat, Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import { METRIC, METRICS_NAMESPACE, SERVICE } from '../shared/metric-names.ts';
import { MAX_RECEIVE_COUNT } from '../shared/runtime-limits.ts';
import type { DailyReconciliation } from './daily-reconciliation.ts';
import type { DailyScan } from './daily-scan.ts';
import type { PayoutsEnvironment } from './environments.ts';
import type { PayoutEvents } from './payout-events.ts';
import { STRIPE_EVENTS_VISIBILITY_TIMEOUT, type StripeEvents } from './stripe-events.ts';
import { PAYOUT_VISIBILITY_TIMEOUT, type TransferPipeline } from './transfer-pipeline.ts';

export interface PayoutMonitoringProps {
  config: Pick<PayoutsEnvironment, 'name' | 'alarms' | 'runbookUrl'>;
  transfer: TransferPipeline;
  scan: DailyScan;
  /** When the environment takes Stripe's events. */
  stripeEvents?: StripeEvents | undefined;
  reconciliation: DailyReconciliation;
  payoutEvents: PayoutEvents;
}

/** The alarm topic, every alarm (each linking its runbook section) and the dashboard. */
export class PayoutMonitoring extends Construct {
  readonly alarmTopic: sns.ITopic;

  constructor(scope: Construct, id: string, props: PayoutMonitoringProps) {
    super(scope, id);
    const { config, transfer, scan, stripeEvents, reconciliation } = props;
    this.alarmTopic = this.topic(config);
    this.alarms(config, transfer, scan, reconciliation, stripeEvents);
    this.dashboard(config, transfer);
  }

  private topic(config: PayoutMonitoringProps['config']): sns.ITopic {
    if (config.alarms.topicArn)
      return sns.Topic.fromTopicArn(this, 'AlarmTopic', config.alarms.topicArn);
    // CloudWatch can publish to an encrypted topic only through a customer-managed key it may use.
    const key = new kms.Key(this, 'AlarmTopicKey', {
      enableKeyRotation: true,
      description: `Encrypts the payouts ${config.name} alarm topic`,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stack = Stack.of(this);
    // CloudWatch acting for this environment's alarms, not for anyone's (confused deputy).
    const cloudWatchForOurAlarms = new iam.ServicePrincipal('cloudwatch.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: {
          'aws:SourceArn': stack.formatArn({
            service: 'cloudwatch',
            resource: 'alarm',
            resourceName: `payouts-${config.name}-*`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        },
      },
    });
    key.grant(cloudWatchForOurAlarms, 'kms:Decrypt', 'kms:GenerateDataKey*');
    const topic = new sns.Topic(this, 'AlarmTopic', {
      displayName: `Payouts ${config.name} alarms`,
      masterKey: key,
      enforceSSL: true,
    });
    // enforceSSL writes a topic policy, which replaces SNS's default one: allow the alarms again.
    topic.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [cloudWatchForOurAlarms],
        actions: ['sns:Publish'],
        resources: [topic.topicArn],
      }),
    );
    if (config.alarms.email)
      topic.addSubscription(new subscriptions.EmailSubscription(config.alarms.email));
    return topic;
  }

  private alarms(
    config: PayoutMonitoringProps['config'],
    transfer: TransferPipeline,
    scan: DailyScan,
    reconciliation: DailyReconciliation,
    stripeEvents: StripeEvents | undefined,
  ): void {
    // Named payouts-<env>-<what> for on-call; <what> is also the alarm's runbook section.
    const alarm = (
      id: string,
      what: string,
      meaning: string,
      props: Omit<cloudwatch.AlarmProps, 'alarmName' | 'alarmDescription'>,
    ) => {
      const created = new cloudwatch.Alarm(this, id, {
        ...props,
        alarmName: `payouts-${config.name}-${what}`,
        alarmDescription: `${meaning} Runbook: ${config.runbookUrl}#${what}`,
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
      'payout-dlq-not-empty',
      'A payout message was dead-lettered: a session may be owed money.',
      {
        ...atLeastOne,
        metric: transfer.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    alarm(
      'PayoutDlqOldestMessageAlarm',
      'payout-dlq-message-old',
      'A dead-lettered payout has waited too long for a redrive.',
      {
        ...atLeastOne,
        threshold: config.alarms.dlqMaxAge.toSeconds(),
        metric: transfer.deadLetterQueue.metricApproximateAgeOfOldestMessage({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    const stalledAfter = stalledAfterFor(PAYOUT_VISIBILITY_TIMEOUT);
    alarm(
      'PayoutQueueStalledAlarm',
      'payout-queue-stalled',
      `A payout has waited in the payout queue over ${stalledAfter.toHumanString()}: the transfer Lambda is not consuming it (expired messages are deleted, not dead-lettered).`,
      {
        ...atLeastOne,
        threshold: stalledAfter.toSeconds(),
        metric: transfer.queue.metricApproximateAgeOfOldestMessage({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    alarm(
      'TransferErrorsAlarm',
      'transfer-errors',
      'The transfer Lambda failed whole invocations (configuration, secrets, crashes).',
      {
        ...atLeastOne,
        metric: transfer.function.metricErrors(fiveMinutes),
      },
    );
    alarm('TransferThrottlesAlarm', 'transfer-throttled', 'The transfer Lambda was throttled.', {
      ...atLeastOne,
      metric: transfer.function.metricThrottles(fiveMinutes),
    });
    alarm(
      'ScanErrorsAlarm',
      'scan-errors',
      'The scan failed (database, SQS, or sessions it could not enqueue).',
      {
        ...atLeastOne,
        metric: scan.function.metricErrors(fiveMinutes),
      },
    );
    alarm(
      'ScanThrottlesAlarm',
      'scan-throttled',
      'A scan was throttled: two scans overlapped or concurrency ran out.',
      {
        ...atLeastOne,
        metric: scan.function.metricThrottles(fiveMinutes),
      },
    );
    // Missing data breaches: a schedule that silently stopped is exactly what this must catch.
    const noneCompletedIn26Hours = (service: string, completed: string) => ({
      metric: serviceMetric(service, completed, Duration.hours(1)),
      threshold: 1,
      evaluationPeriods: 26,
      datapointsToAlarm: 26,
      comparisonOperator: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.BREACHING,
    });
    alarm(
      'ScanDidNotRunAlarm',
      'scan-did-not-run',
      'No scan completed in the last 26 hours.',
      noneCompletedIn26Hours(SERVICE.scan, METRIC.scanCompleted),
    );
    alarm(
      'FailedPayoutsAlarm',
      'failed-payouts-above-threshold',
      `More than ${config.alarms.failedPayoutsThreshold} payouts failed for admin review within 6 hours.`,
      {
        metric: serviceMetric(SERVICE.transfer, METRIC.payoutsFailed, Duration.hours(6)),
        threshold: config.alarms.failedPayoutsThreshold,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
      },
    );
    if (stripeEvents) {
      alarm(
        'StripeEventsDlqNotEmptyAlarm',
        'stripe-events-dlq-not-empty',
        'A Stripe event could not be handled or delivered: an account’s readiness or a transfer reversal may be missing.',
        {
          ...atLeastOne,
          metric: stripeEvents.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
            ...fiveMinutes,
            statistic: 'Maximum',
          }),
        },
      );
      const eventsStalledAfter = stalledAfterFor(STRIPE_EVENTS_VISIBILITY_TIMEOUT);
      alarm(
        'StripeEventsQueueStalledAlarm',
        'stripe-events-queue-stalled',
        `A Stripe event has waited in the stripe-events queue over ${eventsStalledAfter.toHumanString()}: the stripe-events Lambda is not consuming it (expired messages are deleted, not dead-lettered).`,
        {
          ...atLeastOne,
          threshold: eventsStalledAfter.toSeconds(),
          metric: stripeEvents.queue.metricApproximateAgeOfOldestMessage({
            ...fiveMinutes,
            statistic: 'Maximum',
          }),
        },
      );
    }
    alarm(
      'ScanDlqNotEmptyAlarm',
      'scan-dlq-not-empty',
      'The daily schedule could not start the scan, or the scan kept failing.',
      {
        ...atLeastOne,
        metric: scan.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
          ...fiveMinutes,
          statistic: 'Maximum',
        }),
      },
    );
    // Missing data keeps the state: raised by a run that found mismatches, it stays raised until a
    // later run finds none (each run reports once a day).
    alarm(
      'ReconciliationMismatchAlarm',
      'reconciliation-mismatch',
      'The daily reconciliation found payouts recorded here and transfers at Stripe that disagree; nothing was repaired.',
      {
        metric: serviceMetric(
          SERVICE.reconcile,
          METRIC.reconciliationMismatches,
          Duration.hours(1),
          'Maximum',
        ),
        threshold: 1,
        evaluationPeriods: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.IGNORE,
      },
    );
    alarm(
      'ReconciliationErrorsAlarm',
      'reconciliation-errors',
      'The daily reconciliation could not complete (Stripe, the database, the read budget, configuration).',
      {
        ...atLeastOne,
        metric: reconciliation.function.metricErrors(fiveMinutes),
      },
    );
    alarm(
      'ReconciliationDidNotRunAlarm',
      'reconciliation-did-not-run',
      'No reconciliation completed in the last 26 hours.',
      noneCompletedIn26Hours(SERVICE.reconcile, METRIC.reconciliationCompleted),
    );
    // Every sweep reports, 0 included; no report for three sweeps in a row is a sweeper not running.
    alarm(
      'PayoutEventsUnpublishedAlarm',
      'payout-events-unpublished',
      'Payout events have waited unpublished through three sweeps, or the sweeper has not run: the marketplace is not being told of outcomes.',
      {
        metric: serviceMetric(
          SERVICE.events,
          METRIC.payoutEventsUnpublished,
          Duration.minutes(15),
          'Minimum',
        ),
        threshold: 1,
        evaluationPeriods: 3,
        datapointsToAlarm: 3,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        treatMissingData: cloudwatch.TreatMissingData.BREACHING,
      },
    );
  }

  private dashboard(config: PayoutMonitoringProps['config'], transfer: TransferPipeline): void {
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
            left: [serviceMetric(SERVICE.transfer, METRIC.payoutsPaid, Duration.hours(1))],
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
              transfer.queue.metricApproximateNumberOfMessagesVisible(),
              transfer.queue.metricApproximateNumberOfMessagesNotVisible(),
            ],
            right: [
              transfer.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ label: 'DLQ' }),
            ],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Transient failures (SQS will retry)',
            left: [serviceMetric(SERVICE.transfer, METRIC.payoutsRetrying, Duration.hours(1))],
            width: 12,
          }),
        ],
        [
          new cloudwatch.GraphWidget({
            title: 'Reconciliation mismatches (daily)',
            left: [
              serviceMetric(SERVICE.reconcile, METRIC.reconciliationMismatches, Duration.hours(1)),
            ],
            width: 12,
          }),
          new cloudwatch.GraphWidget({
            title: 'Payout events published / waiting',
            left: [
              serviceMetric(SERVICE.events, METRIC.payoutEventsPublished, Duration.hours(1)),
              serviceMetric(SERVICE.events, METRIC.payoutEventsUnpublished, Duration.hours(1)),
            ],
            width: 12,
          }),
        ],
      ],
    });
  }
}

/**
 * A message is received at most MAX_RECEIVE_COUNT times, each followed by at most a visibility
 * timeout; one older than that plus an hour was not picked up: the consumer is stalled.
 */
function stalledAfterFor(visibilityTimeout: Duration): Duration {
  return Duration.seconds(
    MAX_RECEIVE_COUNT * visibilityTimeout.toSeconds() + Duration.hours(1).toSeconds(),
  );
}

/** A metric the Lambdas emit through Powertools Metrics, summed (by default) over the period. */
function serviceMetric(
  service: string,
  metricName: string,
  period: Duration,
  statistic: 'Sum' | 'Maximum' | 'Minimum' = 'Sum',
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service },
    statistic,
    period,
  });
}
