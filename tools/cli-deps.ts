import { systemClock } from '../shared/clock.ts';
import { parseTransferConfig } from '../shared/config.ts';
import { createDb } from '../shared/db/connect.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../shared/secrets.ts';
import { createStripeClient } from '../shared/stripe-client.ts';

/** What the operator commands need, from the same variables the transfer Lambda reads. */
export async function createCliDeps(env: Record<string, string | undefined> = process.env) {
  const config = parseTransferConfig(env);
  const [connection, stripeKey] = await Promise.all([
    resolveDatabaseConnection(config.database),
    resolveStripeKey(config.stripeKey),
  ]);
  const db = createDb(connection, { maxConnections: 2 });
  return {
    db,
    stripe: createStripeClient(stripeKey, config.stripeApiBase),
    clock: systemClock,
    close: () => db.destroy(),
  };
}
