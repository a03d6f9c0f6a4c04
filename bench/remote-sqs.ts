import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SQSClient } from '@aws-sdk/client-sqs';

/**
 * fauxqs in a process of its own, for the benchmark: SQS is remote in AWS, so the emulator must
 * not share the scan's event loop (and core). The client names the endpoint explicitly, so the
 * queue URLs' `sqs.<region>.localhost` host is never resolved.
 */
export interface RemoteSqs {
  sqs: SQSClient;
  /** A second client whose every call waits `ms` first: an SQS round trip as seen from Lambda. */
  withLatency(ms: number): SQSClient;
  queueUrl: string;
  queueArn: string;
  stop(): Promise<void>;
}

const SERVER = `
import { startFauxqs } from 'fauxqs';
const server = await startFauxqs({ port: 0, logger: false });
const dlq = server.createQueue('bench-dlq');
const queue = server.createQueue('bench', { attributes: { VisibilityTimeout: '600',
  RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.queueArn, maxReceiveCount: 5 }) } });
console.log(JSON.stringify({ port: server.port, queueUrl: queue.queueUrl, queueArn: queue.queueArn }));
`;

export async function startRemoteSqs(): Promise<RemoteSqs> {
  const child: ChildProcess = spawn(process.execPath, ['--input-type=module', '-e', SERVER], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const [line] = (await once(lines, 'line')) as [string];
  const { port, queueUrl, queueArn } = JSON.parse(line) as {
    port: number;
    queueUrl: string;
    queueArn: string;
  };
  const sqsOptions = {
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'bench', secretAccessKey: 'bench' },
  };
  const sqs = new SQSClient(sqsOptions);
  const slowClients: SQSClient[] = [];
  return {
    sqs,
    withLatency(ms) {
      const slow = new SQSClient({ ...sqsOptions });
      slow.middlewareStack.add(
        (next) => async (args) => {
          await sleep(ms);
          return next(args);
        },
        { step: 'finalizeRequest', name: 'simulatedRoundTrip' },
      );
      slowClients.push(slow);
      return slow;
    },
    queueUrl,
    queueArn,
    async stop() {
      sqs.destroy();
      for (const slow of slowClients) slow.destroy();
      child.kill();
      await once(child, 'exit');
    },
  };
}
