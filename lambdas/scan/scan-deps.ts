import { setTimeout as sleep } from 'node:timers/promises';
import { SQSClient } from '@aws-sdk/client-sqs';
import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseScanConfig } from '../../shared/config.ts';
import { lambdaDatabase } from '../../shared/lambda-clients.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createSqsPayoutQueue } from '../../shared/payout-queue.ts';
import { resolveDatabaseConnection } from '../../shared/secrets.ts';
import type { ScanDeps } from './scan-eligible-sessions.ts';

export const log = createLogger(SERVICE.scan);
export const metrics = createMetrics(SERVICE.scan);

export const scanDeps = oncePerColdStart(buildScanDeps);

async function buildScanDeps(): Promise<ScanDeps> {
  const config = parseScanConfig(process.env);
  // Read once here so that a missing or malformed secret fails the invocation clearly; the database
  // handle then follows a rotation of it (re-read after the cache's max age, or at once when a
  // login fails).
  await resolveDatabaseConnection(config.database);
  const db = lambdaDatabase(config.database, log, { maxConnections: 2 });
  // Region and endpoint come from the environment (AWS_REGION, AWS_ENDPOINT_URL_SQS) as usual.
  const sqs = new SQSClient({ maxAttempts: 3 });
  return {
    db,
    queue: createSqsPayoutQueue(sqs, config.queueUrl),
    clock: systemClock,
    log,
    sleep: (ms) => sleep(ms),
    config: {
      graceHours: config.graceHours,
      paused: config.paused,
      pageSize: config.pageSize,
      sendConcurrency: 10,
      sendRetries: 3,
    },
  };
}
