import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import type { DatabaseRole } from '../shared/db/database-roles.ts';
import { DailyReconciliation } from './daily-reconciliation.ts';
import { DailyScan } from './daily-scan.ts';
import type { PayoutsEnvironment } from './environments.ts';
import { PayoutEvents } from './payout-events.ts';
import { PayoutMonitoring } from './payout-monitoring.ts';
import { functionNetwork, type PayoutsFunctionSettings } from './payouts-function.ts';
import { StripeEvents } from './stripe-events.ts';
import { TransferPipeline } from './transfer-pipeline.ts';

export interface PayoutsStackProps extends StackProps {
  config: PayoutsEnvironment;
}

/**
 * One environment: the daily scan feeds the transfer pipeline, and so do Stripe's events when the
 * environment names their partner event source; the pipeline announces each outcome on the payout
 * events bus; the daily reconciliation checks the day against Stripe; monitoring watches them all.
 */
export class PayoutsStack extends Stack {
  readonly transfer: TransferPipeline;
  readonly scan: DailyScan;
  readonly stripeEvents: StripeEvents | undefined;
  readonly payoutEvents: PayoutEvents;
  readonly reconciliation: DailyReconciliation;
  readonly monitoring: PayoutMonitoring;

  constructor(scope: Construct, id: string, props: PayoutsStackProps) {
    super(scope, id, {
      ...props,
      terminationProtection: props.config.retainData,
      description: `Mentor payouts (${props.config.name}): daily scan → SQS → Stripe transfers`,
    });
    const { config } = props;
    const removalPolicy = config.retainData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY;
    const { stripeSecretName, dbSecretNames } = config.secrets;
    const stripeSecret = secretsmanager.Secret.fromSecretNameV2(
      this,
      'StripeSecret',
      stripeSecretName,
    );
    // Each Lambda connects as its own database role, with its own secret (README, Deploy).
    const dbSecret = (role: DatabaseRole) =>
      secretsmanager.Secret.fromSecretNameV2(this, `DbSecret-${role}`, dbSecretNames[role]);
    const network = functionNetwork(this, config.database);
    const settingsOf = (role: DatabaseRole): PayoutsFunctionSettings => ({
      graceHours: config.graceHours,
      logRetention: config.logRetention,
      removalPolicy,
      dbSecret: dbSecret(role),
      network,
    });
    this.payoutEvents = new PayoutEvents(this, 'PayoutEvents', {
      environmentName: config.name,
      settings: settingsOf('payoutEvents'),
      config: config.payoutEvents,
      removalPolicy,
    });
    this.transfer = new TransferPipeline(this, 'Transfer', {
      settings: settingsOf('transfer'),
      transfer: config.transfer,
      stripeSecret,
      payoutEvents: this.payoutEvents,
      removalPolicy,
    });
    this.scan = new DailyScan(this, 'Scan', {
      environmentName: config.name,
      settings: settingsOf('scan'),
      schedule: config.schedule,
      payoutQueue: this.transfer.queue,
      removalPolicy,
    });
    this.stripeEvents =
      config.stripeEvents &&
      new StripeEvents(this, 'StripeEvents', {
        eventSourceName: config.stripeEvents.eventSourceName,
        settings: settingsOf('stripeEvents'),
        stripeBudget: config.transfer.stripeBudget,
        stripeSecret,
        payoutQueue: this.transfer.queue,
        removalPolicy,
      });
    this.reconciliation = new DailyReconciliation(this, 'Reconciliation', {
      environmentName: config.name,
      settings: settingsOf('reconcile'),
      schedule: config.schedule,
      at: config.reconciliation,
      stripeBudget: config.transfer.stripeBudget,
      stripeSecret,
    });
    this.monitoring = new PayoutMonitoring(this, 'Monitoring', {
      config,
      transfer: this.transfer,
      scan: this.scan,
      stripeEvents: this.stripeEvents,
      reconciliation: this.reconciliation,
      payoutEvents: this.payoutEvents,
    });

    // What `payouts --env <name>` reads (tools/cli-environment.ts maps each to its variable).
    new CfnOutput(this, 'PayoutQueueUrl', { value: this.transfer.queue.queueUrl });
    new CfnOutput(this, 'PayoutDlqUrl', { value: this.transfer.deadLetterQueue.queueUrl });
    // The CLI connects as the operator role: its secret, never a Lambda's.
    new CfnOutput(this, 'OperatorDbSecretArn', { value: dbSecret('operator').secretArn });
    new CfnOutput(this, 'StripeSecretArn', { value: stripeSecret.secretArn });
    // The CLI reads the transfer function's settings (fee, grace, limits) and invokes the scan.
    new CfnOutput(this, 'TransferFunctionName', { value: this.transfer.function.functionName });
    new CfnOutput(this, 'ScanFunctionName', { value: this.scan.function.functionName });
  }
}
