import type { Kysely } from 'kysely';
import type Stripe from 'stripe';
import type { DatabaseSource, StripeKeySource } from './config.ts';
import { createRotatingDb, type DbOptions } from './db/connect.ts';
import type { Database } from './db/database.ts';
import type { Log } from './logger.ts';
import { resolveDatabaseConnection, resolveStripeKey } from './secrets.ts';
import { createStripeClient } from './stripe-client.ts';

/**
 * The clients every Lambda builds once per cold start, built the same way in each: the database
 * handle that follows a rotation of its secret, and the Stripe client of the current key.
 */

/** DATABASE_URL, or the RDS secret re-read after its cache's max age or at once when a login fails. */
export function lambdaDatabase(
  source: DatabaseSource,
  log: Log,
  options: Omit<DbOptions, 'onPoolError'>,
): Kysely<Database> {
  return createRotatingDb(({ refresh }) => resolveDatabaseConnection(source, { refresh }), {
    ...options,
    onPoolError: (error) => log.warn('Idle database connection lost', { error: error.message }),
  });
}

/**
 * A function answering the Stripe client of the key the source holds now: the secret is re-read
 * after its cache's max age, so a rolled key takes effect in a warm Lambda too; one client per key.
 */
export function stripeClientOfCurrentKey(): (
  source: StripeKeySource,
  apiBase: string | undefined,
) => Promise<Stripe> {
  let current: { key: string; client: Stripe } | undefined;
  return async (source, apiBase) => {
    const key = await resolveStripeKey(source);
    if (current?.key !== key) current = { key, client: createStripeClient(key, apiBase) };
    return current.client;
  };
}
