import { PurgeQueueCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { vi } from 'vitest';
import { withOwnEnvironment } from '../../local/lambda-environment.ts';
import {
  lambdaContext,
  scheduledEvent,
  sqsRecord,
  stripeEventBridgeEvent,
} from '../../local/lambda-events.ts';
import { drainQueue } from '../../local/lambda-poller.ts';
import { type LocalSqs, startLocalSqs } from '../../local/local-sqs.ts';
import { LOCAL_STRIPE_EVENT_SOURCE, localPipelineEnv } from '../../local/pipeline-env.ts';
import {
  type StandInEvent,
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import { stubEnv } from './env.ts';
import { queueDepth, receiveAllBodies } from './sqs.ts';
import { createTestDatabase, type TestDatabase } from './test-database.ts';

/**
 * The whole pipeline on real stand-ins, driven through the real Lambda handlers: a fresh database,
 * fauxqs with the payout queue and its DLQ, and the Stripe stand-in, whose events the stripe-events
 * handler takes as the stripe-events queue would hand them over.
 */
export interface Pipeline {
  database: TestDatabase;
  sqs: LocalSqs;
  stripe: StripeStandIn;
  /** Re-imports the handlers with the current environment, as a cold start does. */
  coldStart(env?: Record<string, string>): Promise<void>;
  scan(): Promise<{ enqueued: number }>;
  /** Invokes the transfer handler once; remainingTimeMs is what the Lambda context reports. */
  transfer(
    event: SQSEvent,
    remainingTimeMs?: number,
  ): ReturnType<typeof import('../../lambdas/transfer/handler.ts')['handler']>;
  /**
   * Invokes the stripe-events handler once with these Stripe events, each in its EventBridge
   * envelope from the local partner source, as one SQS batch.
   */
  stripeEvents(
    events: readonly StandInEvent[],
    receiveCount?: number,
  ): ReturnType<typeof import('../../lambdas/stripe-events/handler.ts')['handler']>;
  enqueue(body: string): Promise<void>;
  drain(options?: { maxInvocations?: number; batchSize?: number }): ReturnType<typeof drainQueue>;
  deadLetters(): Promise<string[]>;
  /** Empties the payout queue and the DLQ, in flight messages included. */
  purgeQueues(): Promise<void>;
  queueDepth(): Promise<number>;
  stop(): Promise<void>;
}

type Handlers = {
  scan: typeof import('../../lambdas/scan/handler.ts')['handler'];
  transfer: typeof import('../../lambdas/transfer/handler.ts')['handler'];
  stripeEvents: typeof import('../../lambdas/stripe-events/handler.ts')['handler'];
};

export async function startPipeline(): Promise<Pipeline> {
  const [database, sqs, stripe] = await Promise.all([
    createTestDatabase(),
    startLocalSqs({ queueName: `payouts-${crypto.randomUUID().slice(0, 8)}` }),
    startStripeStandIn(),
  ]);
  let handlers: Handlers | undefined;
  const loaded = () => {
    if (!handlers) throw new Error('call coldStart() first');
    return handlers;
  };
  // Each handler connects as its own database role (withOwnEnvironment); the process's own
  // DATABASE_URL is the transfer role's, for the code a test runs beside the handlers.
  const pipelineEnv = () =>
    localPipelineEnv({
      databaseUrl: database.urls.transfer,
      queueUrl: sqs.queueUrl,
      stripeApiBase: stripe.url,
    });
  const pipeline: Pipeline = {
    database,
    sqs,
    stripe,
    async coldStart(env = {}) {
      vi.unstubAllEnvs();
      stubEnv({ ...pipelineEnv(), ...env });
      vi.resetModules();
      const [scan, transfer, stripeEvents] = await Promise.all([
        import('../../lambdas/scan/handler.ts'),
        import('../../lambdas/transfer/handler.ts'),
        import('../../lambdas/stripe-events/handler.ts'),
      ]);
      const as = (url: string) => ({ DATABASE_URL: env.DATABASE_URL ?? url });
      handlers = {
        scan: withOwnEnvironment(as(database.urls.scan), scan.handler),
        transfer: withOwnEnvironment(as(database.urls.transfer), transfer.handler),
        stripeEvents: withOwnEnvironment(as(database.urls.stripeEvents), stripeEvents.handler),
      };
    },
    scan: () => loaded().scan(scheduledEvent(), lambdaContext('payouts-scan')),
    transfer: (event, remainingTimeMs) =>
      loaded().transfer(event, lambdaContext('payouts-transfer', remainingTimeMs)),
    stripeEvents: (events, receiveCount = 1) =>
      loaded().stripeEvents(
        sqsEvent(
          events.map((event) =>
            JSON.stringify(stripeEventBridgeEvent(event, LOCAL_STRIPE_EVENT_SOURCE)),
          ),
          receiveCount,
        ),
        lambdaContext('payouts-stripe-events'),
      ),
    async enqueue(body) {
      await sqs.sqs.send(new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: body }));
    },
    drain: (options = {}) =>
      drainQueue({
        sqs: sqs.sqs,
        queueUrl: sqs.queueUrl,
        queueArn: sqs.queueArn,
        handler: (event) => loaded().transfer(event, lambdaContext('payouts-transfer')),
        ...options,
      }),
    deadLetters: () => receiveAllBodies(sqs.sqs, sqs.dlqUrl),
    async purgeQueues() {
      for (const QueueUrl of [sqs.queueUrl, sqs.dlqUrl]) {
        await sqs.sqs.send(new PurgeQueueCommand({ QueueUrl }));
      }
    },
    queueDepth: () => queueDepth(sqs.sqs, sqs.queueUrl),
    async stop() {
      vi.unstubAllEnvs();
      await Promise.all([database.close(), sqs.stop(), stripe.close()]);
    },
  };
  await pipeline.coldStart();
  return pipeline;
}

/** An SQS event as Lambda delivers it, one record per body. */
export function sqsEvent(bodies: string[], receiveCount = 1): SQSEvent {
  return {
    Records: bodies.map((body, index) =>
      sqsRecord(
        {
          MessageId: `m-${index}-${crypto.randomUUID()}`,
          ReceiptHandle: `rh-${index}`,
          Body: body,
          Attributes: { ApproximateReceiveCount: String(receiveCount) },
        },
        'arn:aws:sqs:us-east-1:000000000000:payouts',
      ),
    ),
  };
}
