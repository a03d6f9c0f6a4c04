import { type Duration, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

export interface ScheduledInvokeProps {
  /** The name on-call looks for in EventBridge Scheduler: `payouts-<env>-<what>`. */
  scheduleName: string;
  description: string;
  schedule: scheduler.ScheduleExpression;
  function: lambda.IFunction;
  /** Why the role exists, in IAM. */
  roleDescription: string;
  /** Where a start the schedule could not make goes, if anywhere. */
  deadLetterQueue?: sqs.IQueue;
  retryAttempts: number;
  maxEventAge: Duration;
}

/**
 * An EventBridge Scheduler schedule that invokes one function, and its role (`SchedulerRole` and
 * `Schedule` in `scope`): the role may be assumed only by Scheduler acting for this account's
 * schedules, and may invoke that function itself and nothing else.
 */
export function scheduleInvocation(
  scope: Construct,
  props: ScheduledInvokeProps,
): { role: iam.Role; schedule: scheduler.Schedule } {
  const stack = Stack.of(scope);
  const role = new iam.Role(scope, 'SchedulerRole', {
    // Scheduler acting for this account's schedules only (confused deputy); ours are in `default`.
    assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
      conditions: {
        StringEquals: {
          'aws:SourceAccount': stack.account,
          'aws:SourceArn': stack.formatArn({
            service: 'scheduler',
            resource: 'schedule-group',
            resourceName: 'default',
          }),
        },
      },
    }),
    description: props.roleDescription,
  });
  const schedule = new scheduler.Schedule(scope, 'Schedule', {
    scheduleName: props.scheduleName,
    description: props.description,
    schedule: props.schedule,
    target: new InvokeUnqualified(props.function, {
      role,
      ...(props.deadLetterQueue && { deadLetterQueue: props.deadLetterQueue }),
      retryAttempts: props.retryAttempts,
      maxEventAge: props.maxEventAge,
    }),
  });
  return { role, schedule };
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
