import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseReconcileConfig } from '../../shared/config.ts';
import { createRotatingDb } from '../../shared/db/connect.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../../shared/secrets.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import type { ReconcileDeps } from './reconcile.ts';

export const log = createLogger(SERVICE.reconcile);
export const metrics = createMetrics(SERVICE.reconcile);

export const reconcileDeps = oncePerColdStart(async (): Promise<ReconcileDeps> => {
  const config = parseReconcileConfig(process.env);
  // Read once here so that a missing or malformed secret fails the invocation clearly.
  const [, stripeKey] = await Promise.all([
    resolveDatabaseConnection(config.database),
    resolveStripeKey(config.stripeKey),
  ]);
  const db = createRotatingDb(
    ({ refresh }) => resolveDatabaseConnection(config.database, { refresh }),
    {
      maxConnections: 2,
      statementTimeoutMs: 60_000,
      onPoolError: (error) => log.warn('Idle database connection lost', { error: error.message }),
    },
  );
  return {
    db,
    // It only lists and retrieves transfers.
    stripe: createStripeClient(stripeKey, config.stripeApiBase),
    clock: systemClock,
    log,
    // Reads take slots of the same budget as the transfer Lambdas' searches.
    pacing: { db, sleep: (ms) => sleep(ms), budget: config.stripeBudget },
  };
});
