import { SQSClient } from '@aws-sdk/client-sqs';
import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseTransferConfig, type TransferConfig } from '../../shared/config.ts';
import { lambdaDatabase, stripeClientOfCurrentKey } from '../../shared/lambda-clients.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createPayoutEventBus } from '../../shared/payout-event-bus.ts';
import { publishSessionEventsAfterCommit } from '../../shared/payout-events.ts';
import { createSqsPayoutQueue } from '../../shared/payout-queue.ts';
import { PAYOUT_LEASE_MS } from '../../shared/runtime-limits.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../../shared/secrets.ts';
import type { TransferDeps } from './handle-payout-record.ts';

export const log = createLogger(SERVICE.transfer);
export const metrics = createMetrics(SERVICE.transfer);

// Records are processed one at a time and each uses one connection at a time; a second allows
// for overlap. Kept small because every pooled connection is one more that turns stale (and
// fails one delivery, which SQS retries) after a database restart or failover.
const MAX_DB_CONNECTIONS = 2;

type ColdStartDeps = Omit<TransferDeps, 'stripe'> & { transferConfig: TransferConfig };

const coldStartDeps = oncePerColdStart(buildColdStartDeps);
const stripeForCurrentKey = stripeClientOfCurrentKey();

/**
 * The transfer Lambda's dependencies for one invocation: built once per cold start, with the
 * Stripe client of the current key (the secret is re-read after its cache's max age, so a rolled
 * key takes effect in a warm Lambda too) and a database that follows a rotated secret.
 */
export async function transferDeps(): Promise<TransferDeps> {
  const { transferConfig, ...deps } = await coldStartDeps();
  return {
    ...deps,
    stripe: await stripeForCurrentKey(transferConfig.stripeKey, transferConfig.stripeApiBase),
  };
}

async function buildColdStartDeps(): Promise<ColdStartDeps> {
  const config = parseTransferConfig(process.env);
  // Read once here so that a missing or malformed secret fails the first invocation clearly.
  await Promise.all([
    resolveDatabaseConnection(config.database),
    resolveStripeKey(config.stripeKey),
  ]);
  const db = lambdaDatabase(config.database, log, {
    maxConnections: MAX_DB_CONNECTIONS,
    // Every query of the money path is a point lookup or a one-row write: seconds mean trouble.
    statementTimeoutMs: 15_000,
    idleInTransactionTimeoutMs: 60_000,
  });
  const events = config.eventBus && {
    db,
    bus: createPayoutEventBus(config.eventBus),
    clock: systemClock,
    log,
  };
  return {
    db,
    clock: systemClock,
    log,
    metrics,
    ...(events && {
      publishEvents: (sessionId: string) => publishSessionEventsAfterCommit(events, sessionId),
    }),
    // Region and endpoint from the environment (AWS_REGION, AWS_ENDPOINT_URL_SQS), as the scan's.
    queue: createSqsPayoutQueue(new SQSClient({ maxAttempts: 3 }), config.queueUrl),
    transferConfig: config,
    config: {
      feeBps: config.feeBps,
      graceHours: config.graceHours,
      paused: config.paused,
      leaseMs: PAYOUT_LEASE_MS,
      limits: config.limits,
      stripeBudget: config.stripeBudget,
    },
  };
}
