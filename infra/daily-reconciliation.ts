import { Duration } from 'aws-cdk-lib';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { SERVICE } from '../shared/metric-names.ts';
import type { PayoutsEnvironment } from './environments.ts';
import { PayoutsFunction, type PayoutsFunctionSettings } from './payouts-function.ts';
import { scheduleInvocation } from './scheduled-invoke.ts';

/** Pages of Stripe's transfers within the read budget, and a lookup per payout: Lambda's ceiling. */
export const RECONCILE_TIMEOUT = Duration.minutes(15);

export interface DailyReconciliationProps {
  environmentName: PayoutsEnvironment['name'];
  settings: PayoutsFunctionSettings;
  /** The scan's schedule gives the time zone; the reconciliation runs hours after it. */
  schedule: PayoutsEnvironment['schedule'];
  at: PayoutsEnvironment['reconciliation'];
  /** Reads count against the same budget as the transfer Lambdas' searches. */
  stripeBudget: PayoutsEnvironment['transfer']['stripeBudget'];
  stripeSecret: secretsmanager.ISecret;
}

/**
 * The reconcile Lambda and its daily schedule: compares the payouts recorded since the last run
 * with Stripe's transfers, counts the mismatches for the alarm and repairs nothing. It reads the
 * database and Stripe; it sends to no queue and publishes no event.
 */
export class DailyReconciliation extends Construct {
  readonly function: PayoutsFunction;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: DailyReconciliationProps) {
    super(scope, id);
    const { environmentName, settings, schedule, at, stripeBudget, stripeSecret } = props;
    this.function = new PayoutsFunction(this, 'Function', {
      entry: '../lambdas/reconcile/handler.ts',
      description: 'Compares the payouts recorded here with Stripe’s transfers; repairs nothing',
      serviceName: SERVICE.reconcile,
      timeout: RECONCILE_TIMEOUT,
      // Two runs never overlap: each starts where the last completed one ended.
      reservedConcurrentExecutions: 1,
      // A Stripe blip: Lambda tries again; a run that still fails is the errors alarm's.
      retryAttempts: 2,
      settings,
      environment: {
        STRIPE_SECRET_ARN: stripeSecret.secretArn,
        STRIPE_CREATES_PER_SECOND: String(stripeBudget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(stripeBudget.readsPerSecond),
      },
    });
    stripeSecret.grantRead(this.function);

    this.schedulerRole = scheduleInvocation(this, {
      // The name on-call looks for (runbook, reconciliation-did-not-run).
      scheduleName: `payouts-${environmentName}-daily-reconciliation`,
      description: 'Starts the daily reconciliation of payouts with Stripe',
      schedule: scheduler.ScheduleExpression.cron({
        minute: String(at.minute),
        hour: String(at.hour),
        timeZone: schedule.timeZone,
      }),
      function: this.function,
      roleDescription: 'Lets the daily schedule invoke the reconcile Lambda',
      retryAttempts: 10,
      maxEventAge: Duration.hours(6),
    }).role;
  }
}
