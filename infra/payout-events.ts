import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as events from 'aws-cdk-lib/aws-events';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import { Construct } from 'constructs';
import { SERVICE } from '../shared/metric-names.ts';
import type { PayoutsEnvironment } from './environments.ts';
import { PayoutsFunction, type PayoutsFunctionSettings } from './payouts-function.ts';
import { scheduleInvocation } from './scheduled-invoke.ts';

export interface PayoutEventsProps {
  environmentName: PayoutsEnvironment['name'];
  settings: PayoutsFunctionSettings;
  config: PayoutsEnvironment['payoutEvents'];
  /** Of the stack's own bus, which carries the marketplace's rules: prod keeps it. */
  removalPolicy: RemovalPolicy;
}

/**
 * Where payout events go (docs/payout-events.md): the bus (the stack's own, `payouts-<env>`, or an
 * existing one named by ARN in the environment) and the sweeper Lambda on its schedule, which
 * publishes what the transfer Lambda could not right after its commit.
 */
export class PayoutEvents extends Construct {
  readonly bus: events.IEventBus;
  readonly sweeper: PayoutsFunction;
  readonly schedulerRole: iam.Role;

  constructor(scope: Construct, id: string, props: PayoutEventsProps) {
    super(scope, id);
    const { environmentName, settings, config, removalPolicy } = props;
    if (config.busArn) {
      this.bus = events.EventBus.fromEventBusArn(this, 'Bus', config.busArn);
    } else {
      const bus = new events.EventBus(this, 'Bus', {
        eventBusName: `payouts-${environmentName}`,
        description:
          'Payout events for the marketplace: payout.paid, payout.failed, payout.reversed',
      });
      bus.applyRemovalPolicy(removalPolicy);
      this.bus = bus;
    }
    this.sweeper = new PayoutsFunction(this, 'SweeperFunction', {
      entry: '../lambdas/payout-events/handler.ts',
      description: 'Publishes the payout events left unpublished in the outbox',
      serviceName: SERVICE.events,
      timeout: Duration.minutes(5),
      // Concurrent sweeps would only take turns on the same rows.
      reservedConcurrentExecutions: 1,
      // The next sweep comes soon enough: no retries of a failed one.
      retryAttempts: 0,
      settings,
      environment: this.publisherEnvironment(),
    });
    this.grantPublish(this.sweeper);

    this.schedulerRole = scheduleInvocation(this, {
      scheduleName: `payouts-${environmentName}-payout-events-sweep`,
      description: 'Publishes payout events left unpublished',
      schedule: scheduler.ScheduleExpression.rate(config.sweepEvery),
      function: this.sweeper,
      roleDescription: 'Lets the sweep schedule invoke the payout events sweeper',
      retryAttempts: 2,
      maxEventAge: config.sweepEvery,
    }).role;
  }

  /** What a function that publishes payout events needs in its environment. */
  publisherEnvironment(): Record<string, string> {
    // The ARN: PutEvents takes it for a bus of another account too.
    return { PAYOUT_EVENT_BUS: this.bus.eventBusArn };
  }

  /** events:PutEvents on this bus, and no other. */
  grantPublish(grantee: iam.IGrantable): void {
    this.bus.grantPutEventsTo(grantee);
  }
}
