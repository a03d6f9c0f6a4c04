import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { AwsSolutionsChecks } from 'cdk-nag';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../infra/app.ts';
import {
  type DatabaseTopology,
  ENVIRONMENTS,
  type EnvironmentName,
  environmentFromContext,
} from '../../infra/environments.ts';
import { PayoutsStack } from '../../infra/payouts-stack.ts';
import { STRIPE_EVENTS_TIMEOUT } from '../../infra/stripe-events.ts';
import {
  INVOCATION_START_MARGIN,
  PAYOUT_VISIBILITY_TIMEOUT,
  TRANSFER_TIMEOUT,
} from '../../infra/transfer-pipeline.ts';
import { parseTransferConfig } from '../../shared/config.ts';
import {
  MAX_RECEIVE_COUNT,
  MIN_TIME_FOR_PAYOUT_MS,
  MIN_TIME_FOR_STRIPE_CALL_MS,
  STRIPE_CALL_BUDGET_MS,
  STRIPE_EVENTS_BATCH_SIZE,
  TRANSFER_BATCH_SIZE,
} from '../../shared/runtime-limits.ts';
import { STACK_OUTPUT_VARIABLES } from '../../tools/cli-environment.ts';
import { type AlarmConfiguration, evaluateAlarm } from '../helpers/alarm-evaluation.ts';

const ENV_NAMES = Object.keys(ENVIRONMENTS) as EnvironmentName[];
/** Every Lambda of the stack, by the prefix of its logical id. */
const FUNCTIONS = [
  'ScanFunction',
  'TransferFunction',
  'ReconciliationFunction',
  'PayoutEventsSweeperFunction',
];
const RUNBOOK_HEADINGS = readFileSync(join(import.meta.dirname, '../../docs/runbook.md'), 'utf8')
  .split('\n')
  .filter((line) => line.startsWith('## '))
  .map((line) => line.slice(3).trim());

/** Bundling is skipped here for speed; `npx cdk synth` in CI bundles for real. */
function appFor(env: string | undefined, extra: Record<string, unknown> = {}): App {
  return new App({
    context: { ...(env !== undefined && { env }), 'aws:cdk:bundling-stacks': [], ...extra },
    outdir: mkdtempSync(join(tmpdir(), 'payouts-cdk-')),
  });
}

/** The one stack `-c env=<name>` selects. */
function stackOf(app: App): PayoutsStack {
  const { stacks } = buildApp(app);
  expect(stacks).toHaveLength(1);
  return stacks[0] as PayoutsStack;
}

const templates = new Map(
  ENV_NAMES.map((name) => [name, Template.fromStack(stackOf(appFor(name)))]),
);
const template = (name: EnvironmentName) => templates.get(name) as Template;

function resourceOf(t: Template, type: string, logicalIdPrefix: string) {
  const [entry] = Object.entries(t.findResources(type)).filter(([id]) =>
    id.startsWith(logicalIdPrefix),
  );
  if (!entry) throw new Error(`no ${type} ${logicalIdPrefix}`);
  return entry[1] as { Properties: Record<string, unknown>; DeletionPolicy?: string };
}

function alarmNamed(t: Template, alarmName: string): Record<string, unknown> {
  const [alarm] = Object.values(
    t.findResources('AWS::CloudWatch::Alarm', { Properties: { AlarmName: alarmName } }),
  );
  if (!alarm) throw new Error(`no alarm ${alarmName}`);
  return alarm.Properties;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

interface PolicyStatement {
  Effect: string;
  Principal?: unknown;
  Action: string | string[];
  Resource: unknown;
  Condition?: unknown;
}

/** CloudFormation references as text, as cdk-nag writes them: `{ Ref: 'AWS::Region' }` → `<AWS::Region>`. */
function flatten(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(flatten);
  if (value && typeof value === 'object') {
    const object = value as Record<string, unknown>;
    if (typeof object.Ref === 'string') return `<${object.Ref}>`;
    if (Array.isArray(object['Fn::GetAtt'])) return `<${object['Fn::GetAtt'].join('.')}>`;
    if (Array.isArray(object['Fn::Join'])) {
      const [separator, parts] = object['Fn::Join'] as [string, unknown[]];
      return parts.map(flatten).join(separator);
    }
    return Object.fromEntries(Object.entries(object).map(([key, inner]) => [key, flatten(inner)]));
  }
  return value;
}

/** An environment-agnostic stack's ARN prefix for a service, in flatten()'s notation. */
const THIS_ACCOUNT_AND_REGION = (service: string) =>
  `arn:<AWS::Partition>:${service}:<AWS::Region>:<AWS::AccountId>`;

function functionEnv(t: Template, prefix: string): Record<string, unknown> {
  const fn = resourceOf(t, 'AWS::Lambda::Function', prefix);
  return (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
}

describe.each(ENV_NAMES)('PayoutsStack (%s)', (name) => {
  const t = template(name);
  const config = ENVIRONMENTS[name];

  it('starts the scan daily at 06:00 Berlin time through EventBridge Scheduler, with retries and a DLQ', () => {
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `payouts-${name}-daily-scan`,
      ScheduleExpression: 'cron(0 6 * * ? *)',
      ScheduleExpressionTimezone: 'Europe/Berlin',
      FlexibleTimeWindow: { Mode: 'OFF' },
      Target: {
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScanFunction'), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 21600 },
        DeadLetterConfig: {
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScanDeadLetterQueue'), 'Arn'] },
        },
      },
    });
  });

  it('runs every Lambda on nodejs22.x, arm64, with active tracing', () => {
    for (const prefix of FUNCTIONS) {
      expect(resourceOf(t, 'AWS::Lambda::Function', prefix).Properties).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        TracingConfig: { Mode: 'Active' },
        Handler: 'index.handler',
      });
    }
  });

  it('never runs two scans at once and retries a failed scan into its DLQ', () => {
    expect(resourceOf(t, 'AWS::Lambda::Function', 'ScanFunction').Properties).toMatchObject({
      ReservedConcurrentExecutions: 1,
      Timeout: 900,
    });
    t.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      MaximumRetryAttempts: 2,
      DestinationConfig: {
        OnFailure: {
          Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ScanDeadLetterQueue'), 'Arn'] },
        },
      },
    });
  });

  it('gives the transfer Lambda more time than one Stripe call can take with all its retries', () => {
    const timeoutSeconds = resourceOf(t, 'AWS::Lambda::Function', 'TransferFunction').Properties
      .Timeout as number;
    expect(timeoutSeconds * 1000).toBeGreaterThan(STRIPE_CALL_BUDGET_MS);
    expect(timeoutSeconds * 1000).toBeGreaterThan(MIN_TIME_FOR_PAYOUT_MS);
    expect(timeoutSeconds).toBe(TRANSFER_TIMEOUT.toSeconds());
  });

  it('fits a full batch in the transfer timeout, each record with its reserve, so none is deferred for lack of time', () => {
    // The handler starts a record only with MIN_TIME_FOR_PAYOUT_MS left; a deferred record burns a
    // receive and can reach the DLQ without ever being tried.
    const timeoutMs =
      (resourceOf(t, 'AWS::Lambda::Function', 'TransferFunction').Properties.Timeout as number) *
      1000;
    const [mapping] = Object.values(t.findResources('AWS::Lambda::EventSourceMapping'));
    const batchSize = mapping?.Properties.BatchSize as number;

    expect(timeoutMs).toBeGreaterThanOrEqual(
      batchSize * MIN_TIME_FOR_PAYOUT_MS + INVOCATION_START_MARGIN.toMilliseconds(),
    );
    expect(INVOCATION_START_MARGIN.toSeconds()).toBeGreaterThanOrEqual(30);
  });

  it('sets the payout queue visibility timeout to at least 6× the transfer timeout', () => {
    const queue = resourceOf(t, 'AWS::SQS::Queue', 'TransferPayoutQueue').Properties;
    const transferTimeout = resourceOf(t, 'AWS::Lambda::Function', 'TransferFunction').Properties
      .Timeout as number;
    expect(queue.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * transferTimeout);
  });

  it('dead-letters a payout message after 5 receives, into a DLQ that keeps it 14 days', () => {
    const queue = resourceOf(t, 'AWS::SQS::Queue', 'TransferPayoutQueue').Properties;
    const dlq = resourceOf(t, 'AWS::SQS::Queue', 'TransferPayoutDeadLetterQueue').Properties;
    expect(queue.RedrivePolicy).toEqual({
      deadLetterTargetArn: {
        'Fn::GetAtt': [expect.stringMatching(/^TransferPayoutDeadLetterQueue/), 'Arn'],
      },
      maxReceiveCount: MAX_RECEIVE_COUNT,
    });
    expect(MAX_RECEIVE_COUNT).toBe(5);
    expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    expect(dlq.MessageRetentionPeriod as number).toBeGreaterThan(
      queue.MessageRetentionPeriod as number,
    );
  });

  it('encrypts every queue at rest and refuses requests without TLS', () => {
    const queues = t.findResources('AWS::SQS::Queue');
    expect(Object.keys(queues)).toHaveLength(3);
    for (const queue of Object.values(queues)) {
      expect(queue.Properties.SqsManagedSseEnabled).toBe(true);
    }
    const policies = Object.values(t.findResources('AWS::SQS::QueuePolicy'));
    expect(policies).toHaveLength(3);
    for (const policy of policies) {
      expect(policy.Properties.PolicyDocument.Statement).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('feeds the transfer Lambda batches of TRANSFER_BATCH_SIZE with partial batch responses and capped concurrency', () => {
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: TRANSFER_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      ScalingConfig: { MaximumConcurrency: config.transfer.maxConcurrency },
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^TransferPayoutQueue'), 'Arn'] },
    });
  });

  it('budgets Stripe requests inside Stripe’s limits with headroom: 25 per endpoint, an account’s 100 live or 25 in a sandbox', () => {
    const { createsPerSecond, readsPerSecond } = config.transfer.stripeBudget;
    const perEndpoint = 25;
    const perAccount = name === 'prod' ? 100 : 25;
    expect(createsPerSecond).toBeLessThan(perEndpoint);
    expect(readsPerSecond).toBeLessThan(perEndpoint);
    expect(createsPerSecond + readsPerSecond).toBeLessThanOrEqual(perAccount / 2);
    expect(functionEnv(t, 'TransferFunction')).toMatchObject({
      STRIPE_CREATES_PER_SECOND: String(createsPerSecond),
      STRIPE_READS_PER_SECOND: String(readsPerSecond),
    });
  });

  it('lets the transfer Lambda hand a deferred payout back to its own queue, and send to no other', () => {
    expect(functionEnv(t, 'TransferFunction')).toMatchObject({
      PAYOUT_QUEUE_URL: { Ref: expect.stringMatching(/^TransferPayoutQueue/) },
    });
    const sends = (
      resourceOf(t, 'AWS::IAM::Policy', 'TransferFunctionRole').Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      }
    ).Statement.filter((statement) => [statement.Action].flat().includes('sqs:SendMessage'));
    expect(sends).toHaveLength(1);
    expect(JSON.stringify(sends[0]?.Resource)).toMatch(/TransferPayoutQueue[^"]*","Arn"/);
  });

  it('passes the contract variables and Powertools settings to each function, and no secret values', () => {
    const scan = functionEnv(t, 'ScanFunction');
    const transfer = functionEnv(t, 'TransferFunction');
    expect(scan).toMatchObject({
      PAYOUT_QUEUE_URL: { Ref: expect.stringMatching(/^TransferPayoutQueue/) },
      DB_SECRET_ARN: expect.anything(),
      PAYOUT_GRACE_HOURS: '24',
      PAYOUTS_PAUSED: 'false',
      POWERTOOLS_SERVICE_NAME: 'payouts-scan',
      POWERTOOLS_METRICS_NAMESPACE: 'Payouts',
      POWERTOOLS_LOG_LEVEL: 'INFO',
    });
    expect(transfer).toMatchObject({
      STRIPE_SECRET_ARN: expect.anything(),
      DB_SECRET_ARN: expect.anything(),
      PLATFORM_FEE_BPS: '2000',
      PAYOUT_MAX_TRANSFER_AMOUNTS: config.transfer.maxTransferAmounts,
      PAYOUT_MAX_DAILY_TOTALS: config.transfer.maxDailyTotals,
      POWERTOOLS_SERVICE_NAME: 'payouts-transfer',
    });
    // The limits must be values the transfer Lambda accepts, or it would fail at start.
    expect(() =>
      parseTransferConfig({
        DATABASE_URL: 'postgres://x@h/db',
        STRIPE_SECRET_KEY: 'sk_test_x',
        PAYOUT_MAX_TRANSFER_AMOUNTS: config.transfer.maxTransferAmounts,
        PAYOUT_MAX_DAILY_TOTALS: config.transfer.maxDailyTotals,
        STRIPE_CREATES_PER_SECOND: String(config.transfer.stripeBudget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(config.transfer.stripeBudget.readsPerSecond),
        PAYOUT_QUEUE_URL: 'https://sqs.eu-central-1.amazonaws.com/123456789012/payouts',
      }),
    ).not.toThrow();
    expect(Object.keys(scan)).not.toContain('STRIPE_SECRET_ARN');
    const reconciliation = functionEnv(t, 'ReconciliationFunction');
    const sweeper = functionEnv(t, 'PayoutEventsSweeperFunction');
    expect(reconciliation).toMatchObject({
      STRIPE_SECRET_ARN: expect.anything(),
      DB_SECRET_ARN: expect.anything(),
      STRIPE_READS_PER_SECOND: String(config.transfer.stripeBudget.readsPerSecond),
      POWERTOOLS_SERVICE_NAME: 'payouts-reconcile',
    });
    expect(sweeper).toMatchObject({
      DB_SECRET_ARN: expect.anything(),
      PAYOUT_EVENT_BUS: { 'Fn::GetAtt': [expect.stringMatching(/^PayoutEventsBus/), 'Arn'] },
      POWERTOOLS_SERVICE_NAME: 'payouts-events',
    });
    expect(transfer.PAYOUT_EVENT_BUS).toEqual(sweeper.PAYOUT_EVENT_BUS);
    expect(Object.keys(sweeper)).not.toContain('STRIPE_SECRET_ARN');
    for (const variables of [scan, transfer, reconciliation, sweeper]) {
      expect(Object.keys(variables)).not.toContain('STRIPE_SECRET_KEY');
      expect(Object.keys(variables)).not.toContain('DATABASE_URL');
    }
  });

  it('contains no secret value anywhere in the template', () => {
    const text = JSON.stringify(t.toJSON());
    expect(text).not.toMatch(/sk_(live|test)_/);
    expect(text).not.toMatch(/rk_(live|test)_/);
    expect(text).not.toContain('SecretString');
    expect(Object.keys(t.findResources('AWS::SecretsManager::Secret'))).toEqual([]);
  });

  it('lets each function read only its own database role’s secret, and the Stripe secret where it calls Stripe', () => {
    const statements = (prefix: string) =>
      resourceOf(t, 'AWS::IAM::Policy', prefix).Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      };
    const readable = (prefix: string) =>
      [
        ...JSON.stringify(
          statements(prefix).Statement.filter((statement) =>
            [statement.Action].flat().includes('secretsmanager:GetSecretValue'),
          ),
        ).matchAll(/:secret:([^"?]+)-\?{6}/g),
      ]
        .map((match) => match[1])
        .sort();
    const named = (functionPrefix: string) =>
      JSON.stringify(functionEnv(t, functionPrefix).DB_SECRET_ARN).match(/:secret:([^"]+)"/)?.[1];

    expect(readable('ScanFunctionRole')).toEqual([`payouts/${name}/db-scan`]);
    expect(readable('TransferFunctionRole')).toEqual([
      `payouts/${name}/db-transfer`,
      `payouts/${name}/stripe`,
    ]);
    expect(readable('ReconciliationFunctionRole')).toEqual([
      `payouts/${name}/db-reconcile`,
      `payouts/${name}/stripe`,
    ]);
    expect(readable('PayoutEventsSweeperFunctionRole')).toEqual([
      `payouts/${name}/db-payout-events`,
    ]);
    expect(named('ScanFunction')).toBe(`payouts/${name}/db-scan`);
    expect(named('TransferFunction')).toBe(`payouts/${name}/db-transfer`);
    expect(named('ReconciliationFunction')).toBe(`payouts/${name}/db-reconcile`);
    expect(named('PayoutEventsSweeperFunction')).toBe(`payouts/${name}/db-payout-events`);
  });

  it('names the operator’s database secret, and no Lambda’s, for the CLI', () => {
    const outputs = t.toJSON().Outputs as Record<string, { Value: unknown }>;

    expect(JSON.stringify(outputs.OperatorDbSecretArn?.Value)).toContain(
      `:secret:payouts/${name}/db-operator"`,
    );
    expect(outputs.DbSecretArn).toBeUndefined();
  });

  it('scopes every IAM statement to its resources; "*" only for actions that have no resource ARNs', () => {
    // X-Ray's, and in a VPC the two EC2 Describe calls Lambda makes for the function's interfaces.
    const allowedOnAnyResource = new Set([
      'xray:PutTraceSegments',
      'xray:PutTelemetryRecords',
      ...(config.database.topology === 'rds-proxy-in-vpc'
        ? ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets']
        : []),
    ]);
    for (const policy of Object.values(t.findResources('AWS::IAM::Policy'))) {
      for (const statement of policy.Properties.PolicyDocument.Statement as PolicyStatement[]) {
        const actions = [statement.Action].flat();
        if ([statement.Resource].flat().includes('*')) {
          expect(actions.filter((action) => !allowedOnAnyResource.has(action))).toEqual([]);
        }
        expect(actions.some((action) => action.endsWith(':*') || action === '*')).toBe(false);
      }
    }
    expect(JSON.stringify(t.findResources('AWS::IAM::Role'))).not.toContain('ManagedPolicyArns');
  });

  it('runs the Lambdas in the network of this environment’s database topology', () => {
    const { database } = config;
    for (const prefix of FUNCTIONS) {
      const { VpcConfig } = resourceOf(t, 'AWS::Lambda::Function', prefix).Properties;
      if (database.topology === 'rds-proxy-in-vpc') {
        expect(VpcConfig).toEqual({
          SubnetIds: database.vpc.privateSubnetIds,
          SecurityGroupIds: database.vpc.securityGroupIds,
        });
      } else {
        expect(VpcConfig).toBeUndefined();
      }
    }
  });

  it('verifies the database’s certificate in both functions: Node trusts the RDS CA', () => {
    for (const prefix of FUNCTIONS) {
      expect(functionEnv(t, prefix).NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
    }
  });

  it('lets the schedule invoke the scan function itself (no version or alias) and send to the scan DLQ, nothing else', () => {
    const scanArn = { 'Fn::GetAtt': [expect.stringMatching(/^ScanFunction/), 'Arn'] };
    const policy = resourceOf(t, 'AWS::IAM::Policy', 'ScanSchedulerRole').Properties
      .PolicyDocument as {
      Statement: unknown[];
    };
    expect(policy.Statement).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        Effect: 'Allow',
        Resource: [{ 'Fn::Join': ['', [scanArn, ':$LATEST']] }, scanArn],
      },
      {
        Action: 'sqs:SendMessage',
        Effect: 'Allow',
        Resource: { 'Fn::GetAtt': [expect.stringMatching(/^ScanDeadLetterQueue/), 'Arn'] },
      },
    ]);
  });

  it('writes each function’s logs to its own log group with this environment’s retention', () => {
    const groups = Object.values(t.findResources('AWS::Logs::LogGroup'));
    expect(groups).toHaveLength(FUNCTIONS.length);
    for (const group of groups) {
      expect(group.Properties.RetentionInDays).toBe(config.logRetention);
    }
    for (const prefix of FUNCTIONS) {
      expect(resourceOf(t, 'AWS::Lambda::Function', prefix).Properties.LoggingConfig).toEqual({
        LogGroup: { Ref: expect.stringMatching(`^${prefix}LogGroup`) },
      });
    }
  });

  it.each([
    ['payout-dlq-not-empty', 'ApproximateNumberOfMessagesVisible', 'AWS/SQS'],
    ['payout-dlq-message-old', 'ApproximateAgeOfOldestMessage', 'AWS/SQS'],
    ['payout-queue-stalled', 'ApproximateAgeOfOldestMessage', 'AWS/SQS'],
    ['transfer-errors', 'Errors', 'AWS/Lambda'],
    ['transfer-throttled', 'Throttles', 'AWS/Lambda'],
    ['scan-errors', 'Errors', 'AWS/Lambda'],
    ['scan-throttled', 'Throttles', 'AWS/Lambda'],
    ['scan-did-not-run', 'ScanCompleted', 'Payouts'],
    ['failed-payouts-above-threshold', 'PayoutsFailed', 'Payouts'],
    ['scan-dlq-not-empty', 'ApproximateNumberOfMessagesVisible', 'AWS/SQS'],
    ['reconciliation-mismatch', 'ReconciliationMismatches', 'Payouts'],
    ['reconciliation-errors', 'Errors', 'AWS/Lambda'],
    ['reconciliation-did-not-run', 'ReconciliationCompleted', 'Payouts'],
    ['payout-events-unpublished', 'PayoutEventsUnpublished', 'Payouts'],
  ])('alarms payouts-<env>-%s on %s (%s) and notifies the topic', (what, metric, namespace) => {
    const alarm = alarmNamed(t, `payouts-${name}-${what}`);
    expect(alarm).toMatchObject({ MetricName: metric, Namespace: namespace });
    expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringAlarmTopic/) }]);
    expect(alarm.OKActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringAlarmTopic/) }]);
  });

  it('names every alarm payouts-<env>-<what> and links the runbook section <what>, which exists', () => {
    const alarms = Object.values(t.findResources('AWS::CloudWatch::Alarm'));
    expect(alarms.length).toBeGreaterThan(0);
    for (const { Properties: alarm } of alarms) {
      const [, what] = /^payouts-([a-z]+)-([a-z-]+)$/.exec(alarm.AlarmName)?.slice(1) ?? [];
      expect(alarm.AlarmName).toBe(`payouts-${name}-${what}`);
      expect(alarm.AlarmDescription).toMatch(
        new RegExp(` Runbook: ${escapeRegExp(`${config.runbookUrl}#${what}`)}$`),
      );
      expect(RUNBOOK_HEADINGS).toContain(what);
    }
  });

  it('links the runbook by a URL that opens in a browser, not by a repository path', () => {
    expect(config.runbookUrl).toMatch(
      /^https:\/\/github\.com\/[\w.-]+\/payouts\/blob\/main\/docs\/runbook\.md$/,
    );
  });

  it('raises "scan did not run" after 26 hours without a completed scan, missing data included', () => {
    expect(alarmNamed(t, `payouts-${name}-scan-did-not-run`)).toMatchObject({
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      Threshold: 1,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Dimensions: [{ Name: 'service', Value: 'payouts-scan' }],
      Statistic: 'Sum',
    });
  });

  it('keeps "scan did not run" in ALARM from a fresh deploy until a scan completes, and again 26 hours after the last', () => {
    const alarm = alarmNamed(
      t,
      `payouts-${name}-scan-did-not-run`,
    ) as unknown as AlarmConfiguration;
    const noData: (number | undefined)[] = Array(alarm.EvaluationPeriods).fill(undefined);

    expect(alarm.TreatMissingData).toBe('breaching');
    // A fresh deploy: ScanCompleted has no datapoint at all, the metric does not exist yet.
    expect(evaluateAlarm(alarm, noData)).toBe('ALARM');
    // The first scan completed in the last hour.
    expect(evaluateAlarm(alarm, [...noData.slice(1), 1], 'ALARM')).toBe('OK');
    // The last scan is in the oldest hour of the window.
    expect(evaluateAlarm(alarm, [1, ...noData.slice(1)], 'OK')).toBe('OK');
    // No scan in the whole window.
    expect(evaluateAlarm(alarm, noData, 'OK')).toBe('ALARM');
  });

  it('raises "payout queue stalled" on the payout queue’s own oldest message, long before it expires', () => {
    // Expired messages are deleted, never dead-lettered: a stopped consumer shows only here.
    const alarm = alarmNamed(t, `payouts-${name}-payout-queue-stalled`);
    const queue = resourceOf(t, 'AWS::SQS::Queue', 'TransferPayoutQueue').Properties;
    expect(alarm.Dimensions).toEqual([
      {
        Name: 'QueueName',
        Value: { 'Fn::GetAtt': [expect.stringMatching(/^TransferPayoutQueue/), 'QueueName'] },
      },
    ]);
    expect(alarm).toMatchObject({
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      Statistic: 'Maximum',
      TreatMissingData: 'notBreaching',
    });
    // Older than every receive a healthy consumer makes (each waits up to the visibility timeout)…
    expect(alarm.Threshold as number).toBeGreaterThan(
      MAX_RECEIVE_COUNT * PAYOUT_VISIBILITY_TIMEOUT.toSeconds(),
    );
    // …and raised with at least a day left before the queue deletes the message.
    expect(
      (alarm.Threshold as number) + (alarm.Period as number) * (alarm.EvaluationPeriods as number),
    ).toBeLessThanOrEqual((queue.MessageRetentionPeriod as number) - 24 * 3600);
  });

  it('raises failed payouts above this environment’s threshold', () => {
    expect(alarmNamed(t, `payouts-${name}-failed-payouts-above-threshold`)).toMatchObject({
      Threshold: config.alarms.failedPayoutsThreshold,
      ComparisonOperator: 'GreaterThanThreshold',
      Dimensions: [{ Name: 'service', Value: 'payouts-transfer' }],
    });
  });

  it('publishes alarms to a KMS-encrypted topic that only accepts TLS', () => {
    t.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    t.hasResourceProperties('AWS::KMS::Key', { EnableKeyRotation: true });
    t.hasResourceProperties('AWS::SNS::TopicPolicy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({
            Effect: 'Deny',
            Condition: { Bool: { 'aws:SecureTransport': 'false' } },
          }),
        ]),
      },
    });
  });

  const onlyThisEnvironmentsAlarms = {
    StringEquals: { 'aws:SourceAccount': '<AWS::AccountId>' },
    ArnLike: {
      'aws:SourceArn': `${THIS_ACCOUNT_AND_REGION('cloudwatch')}:alarm:payouts-${name}-*`,
    },
  };

  it('lets this environment’s alarms, and only them, publish to the alarm topic', () => {
    // enforceSSL's topic policy replaces SNS's default one: without this statement no alarm notifies.
    const policy = resourceOf(t, 'AWS::SNS::TopicPolicy', 'MonitoringAlarmTopicPolicy');
    const document = policy.Properties.PolicyDocument as { Statement: PolicyStatement[] };
    const allows = document.Statement.filter((statement) => statement.Effect === 'Allow');
    expect(allows).toHaveLength(1);
    expect(allows[0]).toMatchObject({
      Principal: { Service: 'cloudwatch.amazonaws.com' },
      Action: 'sns:Publish',
      Resource: { Ref: expect.stringMatching(/^MonitoringAlarmTopic/) },
    });
    expect(flatten(allows[0]?.Condition)).toEqual(onlyThisEnvironmentsAlarms);
  });

  it('lets CloudWatch use the topic key only for this environment’s alarms', () => {
    const key = resourceOf(t, 'AWS::KMS::Key', 'MonitoringAlarmTopicKey');
    const keyPolicy = key.Properties.KeyPolicy as { Statement: PolicyStatement[] };
    const forCloudWatch = keyPolicy.Statement.filter((statement) =>
      JSON.stringify(statement.Principal).includes('cloudwatch.amazonaws.com'),
    );
    expect(forCloudWatch).toHaveLength(1);
    expect(forCloudWatch[0]?.Action).toEqual(['kms:Decrypt', 'kms:GenerateDataKey*']);
    expect(flatten(forCloudWatch[0]?.Condition)).toEqual(onlyThisEnvironmentsAlarms);
  });

  it('lets only EventBridge Scheduler acting for this account’s schedules assume the scheduler role', () => {
    const role = resourceOf(t, 'AWS::IAM::Role', 'ScanSchedulerRole').Properties
      .AssumeRolePolicyDocument as { Statement: PolicyStatement[] };
    expect(role.Statement).toHaveLength(1);
    expect(role.Statement[0]).toMatchObject({
      Effect: 'Allow',
      Action: 'sts:AssumeRole',
      Principal: { Service: 'scheduler.amazonaws.com' },
    });
    expect(flatten(role.Statement[0]?.Condition)).toEqual({
      StringEquals: {
        'aws:SourceAccount': '<AWS::AccountId>',
        'aws:SourceArn': `${THIS_ACCOUNT_AND_REGION('scheduler')}:schedule-group/default`,
      },
    });
  });

  /** The IAM actions a function's own policy grants, with their resources. */
  const grants = (rolePrefix: string) =>
    (
      resourceOf(t, 'AWS::IAM::Policy', rolePrefix).Properties.PolicyDocument as {
        Statement: PolicyStatement[];
      }
    ).Statement;

  it('creates the payout events bus payouts-<env>', () => {
    t.hasResourceProperties('AWS::Events::EventBus', { Name: `payouts-${name}` });
  });

  it('lets the transfer Lambda and the sweeper put events on that bus only, and no other function put events', () => {
    const busArn = { 'Fn::GetAtt': [expect.stringMatching(/^PayoutEventsBus/), 'Arn'] };
    for (const role of ['TransferFunctionRole', 'PayoutEventsSweeperFunctionRole']) {
      const puts = grants(role).filter((statement) =>
        [statement.Action].flat().includes('events:PutEvents'),
      );
      expect(puts).toEqual([{ Effect: 'Allow', Action: 'events:PutEvents', Resource: busArn }]);
    }
    for (const role of ['ScanFunctionRole', 'ReconciliationFunctionRole']) {
      const actions = grants(role).flatMap((statement) => [statement.Action].flat());
      expect(actions.filter((action) => action.startsWith('events:'))).toEqual([]);
    }
  });

  it('lets the reconcile Lambda send to no queue and put no event: it repairs nothing', () => {
    const actions = grants('ReconciliationFunctionRole').flatMap((statement) =>
      [statement.Action].flat(),
    );
    expect(actions.filter((action) => /^(sqs|events|sns|lambda):/.test(action))).toEqual([]);
  });

  it('starts the reconciliation daily hours after the scan, in the scan’s time zone, with retries', () => {
    const { reconciliation, schedule } = config;
    expect(reconciliation.hour - schedule.hour).toBeGreaterThanOrEqual(3);
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `payouts-${name}-daily-reconciliation`,
      ScheduleExpression: `cron(${reconciliation.minute} ${reconciliation.hour} * * ? *)`,
      ScheduleExpressionTimezone: 'Europe/Berlin',
      Target: {
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReconciliationFunction'), 'Arn'] },
        RetryPolicy: { MaximumRetryAttempts: 10, MaximumEventAgeInSeconds: 21600 },
      },
    });
    expect(
      resourceOf(t, 'AWS::Lambda::Function', 'ReconciliationFunction').Properties,
    ).toMatchObject({ ReservedConcurrentExecutions: 1, Timeout: 900 });
  });

  it('sweeps unpublished payout events every 15 minutes, one sweep at a time', () => {
    t.hasResourceProperties('AWS::Scheduler::Schedule', {
      Name: `payouts-${name}-payout-events-sweep`,
      ScheduleExpression: 'rate(15 minutes)',
      Target: {
        Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^PayoutEventsSweeperFunction'), 'Arn'] },
      },
    });
    expect(
      resourceOf(t, 'AWS::Lambda::Function', 'PayoutEventsSweeperFunction').Properties,
    ).toMatchObject({ ReservedConcurrentExecutions: 1 });
  });

  it('lets each schedule’s role invoke its own function and nothing else', () => {
    for (const [role, fn] of [
      ['ReconciliationSchedulerRole', /^ReconciliationFunction/],
      ['PayoutEventsSchedulerRole', /^PayoutEventsSweeperFunction/],
    ] as const) {
      const arn = { 'Fn::GetAtt': [expect.stringMatching(fn), 'Arn'] };
      expect(grants(role)).toEqual([
        {
          Action: 'lambda:InvokeFunction',
          Effect: 'Allow',
          Resource: [{ 'Fn::Join': ['', [arn, ':$LATEST']] }, arn],
        },
      ]);
    }
  });

  it('keeps "reconciliation mismatch" raised from a run that found one until a run finds none', () => {
    const alarm = alarmNamed(t, `payouts-${name}-reconciliation-mismatch`);
    expect(alarm).toMatchObject({
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      TreatMissingData: 'ignore',
      Statistic: 'Maximum',
      Dimensions: [{ Name: 'service', Value: 'payouts-reconcile' }],
    });
    const configuration = alarm as unknown as AlarmConfiguration;
    expect(evaluateAlarm(configuration, [2], 'OK')).toBe('ALARM');
    // The hours between two daily runs carry no data: the state stays.
    expect(evaluateAlarm(configuration, [undefined], 'ALARM')).toBe('ALARM');
    expect(evaluateAlarm(configuration, [0], 'ALARM')).toBe('OK');
  });

  it('raises "reconciliation did not run" after 26 hours without a completed run, missing data included', () => {
    expect(alarmNamed(t, `payouts-${name}-reconciliation-did-not-run`)).toMatchObject({
      Period: 3600,
      EvaluationPeriods: 26,
      DatapointsToAlarm: 26,
      ComparisonOperator: 'LessThanThreshold',
      TreatMissingData: 'breaching',
      Dimensions: [{ Name: 'service', Value: 'payouts-reconcile' }],
    });
  });

  it('raises "payout events unpublished" after three sweeps that left events waiting, or none that reported', () => {
    const alarm = alarmNamed(
      t,
      `payouts-${name}-payout-events-unpublished`,
    ) as unknown as AlarmConfiguration;
    expect(alarm).toMatchObject({
      Period: 900,
      EvaluationPeriods: 3,
      TreatMissingData: 'breaching',
    });
    expect(evaluateAlarm(alarm, [1, 2, 1], 'OK')).toBe('ALARM');
    expect(evaluateAlarm(alarm, [1, 0, 1], 'OK')).toBe('OK');
    expect(evaluateAlarm(alarm, [undefined, undefined, undefined], 'OK')).toBe('ALARM');
  });

  it('outputs what `payouts --env` needs, under the names the CLI maps', () => {
    const outputs = Object.keys(t.findOutputs('*'));
    expect(outputs.sort()).toEqual(Object.keys(STACK_OUTPUT_VARIABLES).sort());
  });

  it('outputs the names of the functions whose settings the CLI reads and whose scan it invokes', () => {
    const functionId = (prefix: string) =>
      Object.keys(t.findResources('AWS::Lambda::Function')).find((id) => id.startsWith(prefix));
    const transfer = functionId('TransferFunction');
    const scan = functionId('ScanFunction');

    t.hasOutput('TransferFunctionName', { Value: { Ref: transfer } });
    t.hasOutput('ScanFunctionName', { Value: { Ref: scan } });
  });

  it('has a dashboard with paid count, paid amount, failures by code and queue depth', () => {
    const dashboard = resourceOf(t, 'AWS::CloudWatch::Dashboard', 'MonitoringDashboard').Properties;
    const body = JSON.stringify(dashboard.DashboardBody);
    for (const title of [
      'Payouts paid',
      'Amount paid',
      'Failed payouts by code',
      'Payout queue depth',
    ]) {
      expect(body).toContain(title);
    }
    expect(body).toContain('MetricName=\\\\\\"PaidAmount\\\\\\"');
  });
});

describe('data retention per environment', () => {
  it('retains queues and logs in prod and protects the stack from deletion', () => {
    const prod = template('prod');
    for (const type of ['AWS::SQS::Queue', 'AWS::Logs::LogGroup']) {
      for (const resource of Object.values(prod.findResources(type))) {
        expect(resource.DeletionPolicy).toBe('Retain');
      }
    }
    expect(stackOf(appFor('prod')).terminationProtection).toBe(true);
  });

  it('keeps the payout events bus in prod, where the marketplace’s rules live', () => {
    for (const bus of Object.values(template('prod').findResources('AWS::Events::EventBus'))) {
      expect(bus.DeletionPolicy).toBe('Retain');
    }
  });

  it('lets dev be destroyed', () => {
    const dev = template('dev');
    for (const resource of Object.values(dev.findResources('AWS::SQS::Queue'))) {
      expect(resource.DeletionPolicy).toBe('Delete');
    }
    expect(stackOf(appFor('dev')).terminationProtection).toBe(false);
  });
});

describe('environment selection', () => {
  it.each([['qa'], [undefined]])('refuses env %s and lists the valid ones', (env) => {
    expect(() => environmentFromContext(env)).toThrow(
      `pass -c env=<dev|staging|prod> (one of dev, staging, prod)`,
    );
  });

  it('without -c env, synthesizes every environment’s stack (so `cdk bootstrap` and `npm run synth` work)', () => {
    const app = appFor(undefined);

    const { stacks } = buildApp(app);

    expect(stacks.map((stack) => stack.stackName)).toEqual([
      'Payouts-dev',
      'Payouts-staging',
      'Payouts-prod',
    ]);
    expect(() => app.synth()).not.toThrow();
  });

  it('refuses an unknown -c env when building the app, listing the valid ones', () => {
    expect(() => buildApp(appFor('qa'))).toThrow(
      'Unknown environment "qa": pass -c env=<dev|staging|prod> (one of dev, staging, prod)',
    );
  });

  it('takes account, region and alarm email from context', () => {
    const stack = stackOf(
      appFor('staging', {
        account: '123456789012',
        region: 'eu-central-1',
        alarmEmail: 'oncall@example.com',
      }),
    );
    expect(stack.account).toBe('123456789012');
    expect(stack.region).toBe('eu-central-1');
    Template.fromStack(stack).hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
    });
  });

  it('scopes the alarm topic and the scheduler role to the account and region deployed to', () => {
    const t = Template.fromStack(
      stackOf(appFor('staging', { account: '123456789012', region: 'eu-central-1' })),
    );
    const text = JSON.stringify(flatten(t.toJSON()));

    expect(text).toContain(
      '"aws:SourceArn":"arn:<AWS::Partition>:cloudwatch:eu-central-1:123456789012:alarm:payouts-staging-*"',
    );
    expect(text).toContain(
      '"aws:SourceArn":"arn:<AWS::Partition>:scheduler:eu-central-1:123456789012:schedule-group/default"',
    );
    expect(text).toContain('"aws:SourceAccount":"123456789012"');
    expect(text).not.toContain('"aws:SourceAccount":"<AWS::AccountId>"');
  });
});

describe('database network topologies', () => {
  const VPC = {
    vpcId: 'vpc-0abc',
    availabilityZones: ['eu-central-1a', 'eu-central-1b'],
    privateSubnetIds: ['subnet-0aaa', 'subnet-0bbb'],
    securityGroupIds: ['sg-0ccc'],
  };
  const stackWith = (database: DatabaseTopology) => {
    const app = appFor('staging');
    const stack = new PayoutsStack(app, 'Payouts-topology-test', {
      config: { ...ENVIRONMENTS.staging, database },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return { app, t: Template.fromStack(stack) };
  };
  const roleStatements = (t: Template) =>
    Object.values(t.findResources('AWS::IAM::Policy')).flatMap(
      (policy) => policy.Properties.PolicyDocument.Statement as PolicyStatement[],
    );

  describe('rds-proxy-in-vpc', () => {
    const { app, t } = stackWith({ topology: 'rds-proxy-in-vpc', vpc: VPC });

    it('places both Lambdas in the configured private subnets and security groups, from ids only', () => {
      for (const prefix of FUNCTIONS) {
        expect(resourceOf(t, 'AWS::Lambda::Function', prefix).Properties.VpcConfig).toEqual({
          SubnetIds: ['subnet-0aaa', 'subnet-0bbb'],
          SecurityGroupIds: ['sg-0ccc'],
        });
        expect(functionEnv(t, prefix).NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
      }
    });

    it('lets each function’s role manage its network interfaces in this account and region only', () => {
      for (const prefix of FUNCTIONS.map((fn) => `${fn}Role`)) {
        const document = resourceOf(t, 'AWS::IAM::Policy', prefix).Properties.PolicyDocument as {
          Statement: PolicyStatement[];
        };
        expect(document.Statement).toContainEqual({
          Effect: 'Allow',
          Action: ['ec2:DescribeNetworkInterfaces', 'ec2:DescribeSubnets'],
          Resource: '*',
        });
        const manage = document.Statement.find((statement) =>
          [statement.Action].flat().includes('ec2:CreateNetworkInterface'),
        );
        expect(manage?.Action).toEqual([
          'ec2:CreateNetworkInterface',
          'ec2:DeleteNetworkInterface',
          'ec2:AssignPrivateIpAddresses',
          'ec2:UnassignPrivateIpAddresses',
        ]);
        expect(flatten(manage?.Resource)).toBe(`${THIS_ACCOUNT_AND_REGION('ec2')}:*/*`);
      }
    });

    it('passes cdk-nag with nothing unacknowledged', () => {
      expect(() => app.synth()).not.toThrow();
    });
  });

  describe('public-tls', () => {
    const { t } = stackWith({ topology: 'public-tls' });

    it('runs both Lambdas outside any VPC, trusting the RDS CA', () => {
      for (const prefix of FUNCTIONS) {
        expect(resourceOf(t, 'AWS::Lambda::Function', prefix).Properties.VpcConfig).toBeUndefined();
        expect(functionEnv(t, prefix).NODE_EXTRA_CA_CERTS).toBe('/var/runtime/ca-cert.pem');
      }
    });

    it('grants no EC2 action', () => {
      const actions = roleStatements(t).flatMap((statement) => [statement.Action].flat());
      expect(actions.filter((action) => action.startsWith('ec2:'))).toEqual([]);
    });
  });
});

/** The event buses of a template that are on a partner event source. */
function partnerBuses(t: Template): Record<string, unknown>[] {
  return Object.values(t.findResources('AWS::Events::EventBus'))
    .map((bus) => bus.Properties as Record<string, unknown>)
    .filter((properties) => properties.EventSourceName !== undefined);
}

describe('Stripe events (an environment that names its partner event source)', () => {
  const SOURCE = 'aws.partner/stripe.com/ed_test_61TemplateTest';
  const stackWith = (name: EnvironmentName, eventSourceName = SOURCE) => {
    const app = appFor(name);
    const stack = new PayoutsStack(app, `Payouts-${name}-events`, {
      config: { ...environmentFromContext(name), stripeEvents: { eventSourceName } },
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    return { app, t: Template.fromStack(stack) };
  };
  const { app, t } = stackWith('staging');
  const ruleNamed = (prefix: string) => resourceOf(t, 'AWS::Events::Rule', prefix).Properties;

  it('creates the event bus on Stripe’s partner event source', () => {
    // The other bus is the payout events bus, payouts-<env>, which every environment has.
    expect(partnerBuses(t)).toEqual([{ Name: SOURCE, EventSourceName: SOURCE }]);
  });

  it('routes connected accounts’ account.updated, and the platform’s transfer.reversed and transfer.updated, from that source into the stripe-events queue', () => {
    const bus = { Ref: expect.stringMatching(/^StripeEventsBus/) };
    expect(ruleNamed('StripeEventsAccountUpdatedRule')).toMatchObject({
      EventBusName: bus,
      EventPattern: {
        source: [SOURCE],
        'detail-type': ['account.updated'],
        detail: { account: [{ exists: true }] },
      },
      State: 'ENABLED',
    });
    expect(ruleNamed('StripeEventsTransferChangedRule')).toMatchObject({
      EventBusName: bus,
      EventPattern: {
        source: [SOURCE],
        'detail-type': ['transfer.reversed', 'transfer.updated'],
        detail: { account: [{ exists: false }] },
      },
    });
    for (const prefix of ['StripeEventsAccountUpdatedRule', 'StripeEventsTransferChangedRule']) {
      expect(ruleNamed(prefix).Targets).toEqual([
        expect.objectContaining({
          Arn: { 'Fn::GetAtt': [expect.stringMatching(/^StripeEventsQueue/), 'Arn'] },
          DeadLetterConfig: {
            Arn: { 'Fn::GetAtt': [expect.stringMatching(/^StripeEventsDeadLetterQueue/), 'Arn'] },
          },
          RetryPolicy: { MaximumRetryAttempts: 185, MaximumEventAgeInSeconds: 86400 },
        }),
      ]);
    }
  });

  it('lets EventBridge send to the stripe-events queue and its DLQ only for these rules, over TLS only', () => {
    for (const prefix of ['StripeEventsQueuePolicy', 'StripeEventsDeadLetterQueuePolicy']) {
      const statements = (
        resourceOf(t, 'AWS::SQS::QueuePolicy', prefix).Properties.PolicyDocument as {
          Statement: PolicyStatement[];
        }
      ).Statement;
      const allows = statements.filter((statement) => statement.Effect === 'Allow');
      expect(allows.length).toBeGreaterThan(0);
      for (const allow of allows) {
        expect(allow.Principal).toEqual({ Service: 'events.amazonaws.com' });
        expect(JSON.stringify(allow.Condition)).toMatch(
          /aws:SourceArn.*StripeEvents(AccountUpdated|TransferChanged)Rule/,
        );
      }
      expect(statements).toContainEqual(
        expect.objectContaining({
          Effect: 'Deny',
          Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        }),
      );
    }
  });

  it('dead-letters an event after 5 receives into a DLQ that keeps it 14 days; visibility 6× the function’s timeout', () => {
    const queue = resourceOf(t, 'AWS::SQS::Queue', 'StripeEventsQueue').Properties;
    const dlq = resourceOf(t, 'AWS::SQS::Queue', 'StripeEventsDeadLetterQueue').Properties;
    const fn = resourceOf(t, 'AWS::Lambda::Function', 'StripeEventsFunction').Properties;
    expect(queue).toMatchObject({
      SqsManagedSseEnabled: true,
      RedrivePolicy: {
        deadLetterTargetArn: {
          'Fn::GetAtt': [expect.stringMatching(/^StripeEventsDeadLetterQueue/), 'Arn'],
        },
        maxReceiveCount: MAX_RECEIVE_COUNT,
      },
    });
    expect(dlq).toMatchObject({
      SqsManagedSseEnabled: true,
      MessageRetentionPeriod: 14 * 24 * 3600,
    });
    expect(queue.VisibilityTimeout as number).toBeGreaterThanOrEqual(6 * (fn.Timeout as number));
  });

  it('runs the stripe-events Lambda like the others, with what it reads and a timeout that holds a full batch', () => {
    const fn = resourceOf(t, 'AWS::Lambda::Function', 'StripeEventsFunction').Properties;
    expect(fn).toMatchObject({
      Runtime: 'nodejs22.x',
      Architectures: ['arm64'],
      TracingConfig: { Mode: 'Active' },
      Timeout: STRIPE_EVENTS_TIMEOUT.toSeconds(),
    });
    expect(functionEnv(t, 'StripeEventsFunction')).toMatchObject({
      STRIPE_EVENT_SOURCE: SOURCE,
      STRIPE_SECRET_ARN: expect.anything(),
      DB_SECRET_ARN: expect.anything(),
      PAYOUT_QUEUE_URL: { Ref: expect.stringMatching(/^TransferPayoutQueue/) },
      STRIPE_READS_PER_SECOND: String(ENVIRONMENTS.staging.transfer.stripeBudget.readsPerSecond),
      POWERTOOLS_SERVICE_NAME: 'payouts-stripe-events',
      NODE_EXTRA_CA_CERTS: '/var/runtime/ca-cert.pem',
    });
    // Each record may wait 10 s for a read slot, then read one account.
    expect((fn.Timeout as number) * 1000).toBeGreaterThanOrEqual(
      STRIPE_EVENTS_BATCH_SIZE * (10_000 + MIN_TIME_FOR_STRIPE_CALL_MS) +
        INVOCATION_START_MARGIN.toMilliseconds(),
    );
    t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      BatchSize: STRIPE_EVENTS_BATCH_SIZE,
      FunctionResponseTypes: ['ReportBatchItemFailures'],
      EventSourceArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^StripeEventsQueue'), 'Arn'] },
    });
  });

  it('lets the stripe-events Lambda send to the payout queue and to no other, and read the Stripe secret', () => {
    const statements = (
      resourceOf(t, 'AWS::IAM::Policy', 'StripeEventsFunctionRole').Properties.PolicyDocument as {
        Statement: { Action: string | string[]; Resource: unknown }[];
      }
    ).Statement;
    const sends = statements.filter((statement) =>
      [statement.Action].flat().includes('sqs:SendMessage'),
    );
    expect(sends).toHaveLength(1);
    expect(JSON.stringify(sends[0]?.Resource)).toMatch(/TransferPayoutQueue[^"]*","Arn"/);
    const secrets = JSON.stringify(
      statements.filter((statement) =>
        [statement.Action].flat().includes('secretsmanager:GetSecretValue'),
      ),
    );
    expect(secrets).toContain(':secret:payouts/staging/stripe-??????');
    expect(secrets).toContain(':secret:payouts/staging/db-stripe-events-??????');
    expect(secrets).not.toMatch(
      /:secret:payouts\/staging\/db-(scan|transfer|reconcile|payout-events|operator)-/,
    );
  });

  it.each([
    [
      'stripe-events-dlq-not-empty',
      'ApproximateNumberOfMessagesVisible',
      'StripeEventsDeadLetterQueue',
    ],
    ['stripe-events-queue-stalled', 'ApproximateAgeOfOldestMessage', 'StripeEventsQueue'],
  ])(
    'alarms payouts-<env>-%s on %s of its queue, linking its runbook section',
    (what, metric, queue) => {
      const alarm = alarmNamed(t, `payouts-staging-${what}`);
      expect(alarm).toMatchObject({ MetricName: metric, Namespace: 'AWS/SQS' });
      expect(alarm.Dimensions).toEqual([
        {
          Name: 'QueueName',
          Value: {
            'Fn::GetAtt': [expect.stringMatching(new RegExp(`^${queue}[0-9A-F]{8}$`)), 'QueueName'],
          },
        },
      ]);
      expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^MonitoringAlarmTopic/) }]);
      expect(alarm.AlarmDescription).toMatch(
        new RegExp(` Runbook: ${escapeRegExp(`${ENVIRONMENTS.staging.runbookUrl}#${what}`)}$`),
      );
      expect(RUNBOOK_HEADINGS).toContain(what);
    },
  );

  it('passes cdk-nag with nothing unacknowledged', () => {
    expect(() => app.synth()).not.toThrow();
  });

  it('retains the stripe-events queues in prod', () => {
    const prod = stackWith('prod').t;
    for (const prefix of ['StripeEventsQueue', 'StripeEventsDeadLetterQueue']) {
      expect(resourceOf(prod, 'AWS::SQS::Queue', prefix).DeletionPolicy).toBe('Retain');
    }
  });

  it('refuses a source that is not Stripe’s partner event source', () => {
    expect(() => stackWith('dev', 'aws.partner/example.com/ed_1')).toThrow(
      'stripeEvents.eventSourceName must be Stripe\'s partner event source, aws.partner/stripe.com/ed_…; got "aws.partner/example.com/ed_1"',
    );
  });

  it('is left out of every environment that names no event source, as all do until one is set up', () => {
    for (const name of ENV_NAMES) {
      expect(ENVIRONMENTS[name].stripeEvents).toBeUndefined();
      expect(partnerBuses(template(name))).toEqual([]);
      expect(
        Object.keys(template(name).findResources('AWS::Lambda::Function')).filter((id) =>
          id.startsWith('StripeEvents'),
        ),
      ).toEqual([]);
    }
  });
});

describe('an existing payout events bus', () => {
  const busArn = 'arn:aws:events:eu-central-1:210987654321:event-bus/marketplace-payouts';
  const app = appFor('staging');
  const stack = new PayoutsStack(app, 'Payouts-existing-bus-test', {
    config: {
      ...ENVIRONMENTS.staging,
      payoutEvents: { ...ENVIRONMENTS.staging.payoutEvents, busArn },
    },
  });
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const t = Template.fromStack(stack);

  it('creates no bus and publishes to the one the environment names, by ARN', () => {
    expect(t.findResources('AWS::Events::EventBus')).toEqual({});
    for (const prefix of ['TransferFunction', 'PayoutEventsSweeperFunction']) {
      expect(functionEnv(t, prefix).PAYOUT_EVENT_BUS).toBe(busArn);
      const policy = resourceOf(t, 'AWS::IAM::Policy', `${prefix}Role`).Properties
        .PolicyDocument as { Statement: PolicyStatement[] };
      expect(policy.Statement).toContainEqual({
        Effect: 'Allow',
        Action: 'events:PutEvents',
        Resource: busArn,
      });
    }
  });

  it('passes cdk-nag with nothing unacknowledged', () => {
    expect(() => app.synth()).not.toThrow();
  });
});

describe('cdk-nag AwsSolutions checks', () => {
  it.each(ENV_NAMES)('finds nothing unacknowledged in %s', (name) => {
    const app = appFor(name);
    buildApp(app);

    expect(() => app.synth()).not.toThrow();
  });

  it('does fail the synth on a finding (a control for the test above)', () => {
    const app = appFor('dev');
    const stack = stackOf(app);
    new sqs.Queue(stack, 'UnencryptedControl', { encryption: sqs.QueueEncryption.UNENCRYPTED });

    expect(() => app.synth()).toThrow(/AwsSolutions-SQS2/);
  });
});
