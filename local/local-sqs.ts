import { SQSClient } from '@aws-sdk/client-sqs';
import { interceptLocalhostDns, startFauxqs } from 'fauxqs';
import { MAX_RECEIVE_COUNT } from '../shared/runtime-limits.ts';

/** A queue with a RedrivePolicy to its own DLQ after MAX_RECEIVE_COUNT receives. */
export interface LocalQueue {
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly dlqUrl: string;
}

/** fauxqs in-process: the payout queue with a RedrivePolicy to its DLQ, as infra defines them. */
export interface LocalSqs extends LocalQueue {
  readonly endpoint: string;
  readonly sqs: SQSClient;
  /** Another queue and its DLQ on the same server (the stripe-events queue of `npm start`). */
  createQueue(name: string, options?: { visibilityTimeoutSeconds?: number }): LocalQueue;
  stop(): Promise<void>;
}

let dnsIntercepted = false;

export async function startLocalSqs(
  options: { queueName?: string; visibilityTimeoutSeconds?: number } = {},
): Promise<LocalSqs> {
  // fauxqs queue URLs live under sqs.<region>.localhost, which glibc does not resolve.
  if (!dnsIntercepted) {
    interceptLocalhostDns();
    dnsIntercepted = true;
  }
  const server = await startFauxqs({ port: 0, logger: false });
  const createQueue = (name: string, queueOptions: { visibilityTimeoutSeconds?: number } = {}) => {
    const dlq = server.createQueue(`${name}-dlq`, {
      attributes: { MessageRetentionPeriod: String(14 * 24 * 3600) },
    });
    const queue = server.createQueue(name, {
      attributes: {
        VisibilityTimeout: String(queueOptions.visibilityTimeoutSeconds ?? 30),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: dlq.queueArn,
          maxReceiveCount: MAX_RECEIVE_COUNT,
        }),
      },
    });
    return { queueUrl: queue.queueUrl, queueArn: queue.queueArn, dlqUrl: dlq.queueUrl };
  };
  const payoutQueue = createQueue(options.queueName ?? 'payouts', options);
  const endpoint = `http://127.0.0.1:${server.port}`;
  const sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  return {
    endpoint,
    ...payoutQueue,
    sqs,
    createQueue,
    async stop() {
      sqs.destroy();
      await server.stop();
    },
  };
}
