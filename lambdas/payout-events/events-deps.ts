import { systemClock } from '../../shared/clock.ts';
import { oncePerColdStart } from '../../shared/cold-start.ts';
import { parseEventsConfig } from '../../shared/config.ts';
import { createRotatingDb } from '../../shared/db/connect.ts';
import { createLogger } from '../../shared/logger.ts';
import { SERVICE } from '../../shared/metric-names.ts';
import { createMetrics } from '../../shared/metrics.ts';
import { createPayoutEventBus } from '../../shared/payout-event-bus.ts';
import type { PublishDeps } from '../../shared/payout-events.ts';
import { resolveDatabaseConnection } from '../../shared/secrets.ts';

export const log = createLogger(SERVICE.events);
export const metrics = createMetrics(SERVICE.events);

export const eventsDeps = oncePerColdStart(async (): Promise<PublishDeps> => {
  const config = parseEventsConfig(process.env);
  // Read once here so that a missing or malformed secret fails the invocation clearly.
  await resolveDatabaseConnection(config.database);
  const db = createRotatingDb(
    ({ refresh }) => resolveDatabaseConnection(config.database, { refresh }),
    {
      maxConnections: 1,
      statementTimeoutMs: 15_000,
      onPoolError: (error) => log.warn('Idle database connection lost', { error: error.message }),
    },
  );
  return { db, bus: createPayoutEventBus(config.eventBus), clock: systemClock, log };
});
