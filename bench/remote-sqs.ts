import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  GetQueueAttributesCommand,
  type GetQueueAttributesCommandOutput,
  PurgeQueueCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { MAX_RECEIVE_COUNT } from '../shared/runtime-limits.ts';

/**
 * fauxqs in a process of its own, for the benchmark: SQS is remote in AWS, so the emulator must
 * not share the event loop (and core) of what is measured.
 */
export interface BenchQueue {
  sqs: SQSClient;
  queueUrl: string;
  queueArn: string;
  /** Messages waiting, in flight or delayed. */
  depth(): Promise<number>;
  countDeadLetters(): Promise<number>;
  purge(): Promise<void>;
}

export interface RemoteSqs {
  /**
   * For AWS_ENDPOINT_URL_SQS: the queue URLs' own origin (`sqs.<region>.localhost:<port>`), since
   * the SDK warns on every call whose queue URL is not at the endpoint from the environment.
   */
  endpoint: string;
  /** The scan's queue and the transfer Lambdas' queue, each with its DLQ. */
  scanQueue: BenchQueue;
  transferQueue: BenchQueue;
  stop(): Promise<void>;
}

const SERVER = `
import { startFauxqs } from 'fauxqs';
const server = await startFauxqs({ port: 0, logger: false });
const queues = {};
for (const name of ['scan', 'transfer']) {
  const dlq = server.createQueue('bench-' + name + '-dlq');
  const queue = server.createQueue('bench-' + name, { attributes: { VisibilityTimeout: '600',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: ${MAX_RECEIVE_COUNT} }) } });
  queues[name] = { queueUrl: queue.queueUrl, queueArn: queue.queueArn, dlqUrl: dlq.queueUrl };
}
console.log(JSON.stringify({ port: server.port, queues }));
`;

/**
 * fauxqs names its queues `sqs.<region>.localhost:<port>` and the AWS SDK sends to the queue URL's
 * host, which glibc does not resolve: a process running a bundle preloads this (`--require`), as the
 * bench's own process resolves it with fauxqs's interceptLocalhostDns().
 */
export const LOCALHOST_DNS_PRELOAD = join(import.meta.dirname, 'localhost-dns.cjs');

interface QueueUrls {
  queueUrl: string;
  queueArn: string;
  dlqUrl: string;
}

export async function startRemoteSqs(): Promise<RemoteSqs> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--max-old-space-size=8192', '--input-type=module', '-e', SERVER],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  const { port, queues } = JSON.parse(line) as {
    port: number;
    queues: { scan: QueueUrls; transfer: QueueUrls };
  };
  const endpoint = `http://127.0.0.1:${port}`;
  const sqs = new SQSClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  });
  const count = async (queueUrl: string): Promise<number> => {
    const { Attributes: a = {} }: GetQueueAttributesCommandOutput = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] }),
    );
    return (
      Number(a.ApproximateNumberOfMessages ?? 0) +
      Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
      Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
    );
  };
  const benchQueue = (urls: QueueUrls): BenchQueue => ({
    sqs,
    queueUrl: urls.queueUrl,
    queueArn: urls.queueArn,
    depth: () => count(urls.queueUrl),
    countDeadLetters: () => count(urls.dlqUrl),
    purge: async () => {
      await sqs.send(new PurgeQueueCommand({ QueueUrl: urls.queueUrl }));
    },
  });
  return {
    endpoint: new URL(queues.scan.queueUrl).origin,
    scanQueue: benchQueue(queues.scan),
    transferQueue: benchQueue(queues.transfer),
    async stop() {
      sqs.destroy();
      child.kill();
      await once(child, 'exit');
    },
  };
}
