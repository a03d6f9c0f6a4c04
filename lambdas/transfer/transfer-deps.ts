import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseTransferConfig } from '../../shared/config.ts';
import { createDb } from '../../shared/db/connect.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { PAYOUT_LEASE_MS } from '../../shared/runtime-limits.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../../shared/secrets.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import type { TransferDeps } from './handle-payout-record.ts';

export const log = createLogger(SERVICE.transfer);
export const metrics = createMetrics(SERVICE.transfer);

// Records are processed one at a time and each uses one connection at a time; a second allows
// for overlap. Kept small because every pooled connection is one more that turns stale (and
// fails one delivery, which SQS retries) after a database restart or failover.
const MAX_DB_CONNECTIONS = 2;

export const transferDeps = oncePerColdStart(buildTransferDeps);

async function buildTransferDeps(): Promise<TransferDeps> {
  const config = parseTransferConfig(process.env);
  const [connection, stripeKey] = await Promise.all([
    resolveDatabaseConnection(config.database),
    resolveStripeKey(config.stripeKey),
  ]);
  const db = createDb(connection, {
    maxConnections: MAX_DB_CONNECTIONS,
    // Every query of the money path is a point lookup or a one-row write: seconds mean trouble.
    statementTimeoutMs: 15_000,
    idleInTransactionTimeoutMs: 60_000,
    onPoolError: (error) => log.warn('Idle database connection lost', { error: error.message }),
  });
  return {
    db,
    stripe: createStripeClient(stripeKey, config.stripeApiBase),
    clock: systemClock,
    log,
    metrics,
    config: {
      feeBps: config.feeBps,
      graceHours: config.graceHours,
      paused: config.paused,
      leaseMs: PAYOUT_LEASE_MS,
      limits: config.limits,
    },
  };
}
