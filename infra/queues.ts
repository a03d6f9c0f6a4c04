import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';

/** Longer than any source queue keeps a message, so nothing expires on its way to a redrive. */
export const DLQ_RETENTION = Duration.days(14);

/** Every queue of the stack: encrypted at rest and refusing requests without TLS. */
export function secureQueueProps(removalPolicy: RemovalPolicy) {
  return {
    encryption: sqs.QueueEncryption.SQS_MANAGED,
    enforceSSL: true,
    removalPolicy,
  } satisfies sqs.QueueProps;
}

/** A dead-letter queue: what it holds waits for on-call, so it keeps it DLQ_RETENTION. */
export function deadLetterQueue(scope: Construct, id: string, removalPolicy: RemovalPolicy) {
  return new sqs.Queue(scope, id, {
    ...secureQueueProps(removalPolicy),
    retentionPeriod: DLQ_RETENTION,
  });
}
