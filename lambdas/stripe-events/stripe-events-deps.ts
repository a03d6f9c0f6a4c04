import { setTimeout as sleep } from 'node:timers/promises';
import { SQSClient } from '@aws-sdk/client-sqs';
import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseStripeEventsConfig, type StripeEventsConfig } from '../../shared/config.ts';
import { lambdaDatabase, stripeClientOfCurrentKey } from '../../shared/lambda-clients.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createSqsPayoutQueue } from '../../shared/payout-queue.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../../shared/secrets.ts';
import type { StripeEventsDeps } from './handle-stripe-event-record.ts';

export const log = createLogger(SERVICE.stripeEvents);
export const metrics = createMetrics(SERVICE.stripeEvents);

type ColdStartDeps = Omit<StripeEventsDeps, 'stripe'> & { stripeEventsConfig: StripeEventsConfig };

const coldStartDeps = oncePerColdStart(buildColdStartDeps);
const stripeForCurrentKey = stripeClientOfCurrentKey();

/**
 * The stripe-events Lambda's dependencies for one invocation: built once per cold start, with the
 * Stripe client of the current key (a rolled key takes effect in a warm Lambda too).
 */
export async function stripeEventsDeps(): Promise<StripeEventsDeps> {
  const { stripeEventsConfig, ...deps } = await coldStartDeps();
  return {
    ...deps,
    stripe: await stripeForCurrentKey(
      stripeEventsConfig.stripeKey,
      stripeEventsConfig.stripeApiBase,
    ),
  };
}

async function buildColdStartDeps(): Promise<ColdStartDeps> {
  const config = parseStripeEventsConfig(process.env);
  // Read once here so that a missing or malformed secret fails the first invocation clearly.
  await Promise.all([
    resolveDatabaseConnection(config.database),
    resolveStripeKey(config.stripeKey),
  ]);
  // One record at a time, each a few point lookups and one-row writes.
  const db = lambdaDatabase(config.database, log, {
    maxConnections: 2,
    statementTimeoutMs: 15_000,
    idleInTransactionTimeoutMs: 60_000,
  });
  return {
    db,
    clock: systemClock,
    log,
    metrics,
    sleep: (ms) => sleep(ms),
    // Region and endpoint from the environment (AWS_REGION, AWS_ENDPOINT_URL_SQS), as the scan's.
    queue: createSqsPayoutQueue(new SQSClient({ maxAttempts: 3 }), config.queueUrl),
    eventSource: config.eventSource,
    stripeEventsConfig: config,
    config: {
      graceHours: config.graceHours,
      paused: config.paused,
      stripeBudget: config.stripeBudget,
    },
  };
}
