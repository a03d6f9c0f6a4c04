import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { SESSION_LOCK_TIMEOUT_MS } from '../runtime-limits.ts';
import type { Database } from './database.ts';

export type ConnectionSettings = string | pg.PoolConfig;

const INT8_OID = 20;

/** int8 columns hold minor-unit amounts; they become numbers, and a value past 2^53 is refused. */
function parseInt8(value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed)) {
    throw new RangeError(`bigint value ${value} is beyond JavaScript's safe integer range`);
  }
  return parsed;
}

const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID
      ? parseInt8
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export interface DbOptions {
  maxConnections?: number;
  /**
   * How long a statement waits for a row lock held elsewhere (the marketplace's own transactions,
   * say) before Postgres fails it with lock_not_available. Every pool of this project has one, so
   * no payout waits without bound; a migration that must wait longer sets its own.
   */
  lockTimeoutMs?: number;
  /** Server-side limits on one statement and on a transaction left idle, so no wait is unbounded. */
  statementTimeoutMs?: number;
  idleInTransactionTimeoutMs?: number;
  onPoolError?: (error: Error) => void;
}

export function createDb(settings: ConnectionSettings, options: DbOptions = {}): Kysely<Database> {
  return dbOverPool(createPool(settings, options));
}

/** The pool behind a database handle, for callers that must see its clients (tests of connection loss). */
export function createPool(settings: ConnectionSettings, options: DbOptions = {}): pg.Pool {
  const base = typeof settings === 'string' ? { connectionString: settings } : settings;
  const pool = new pg.Pool({
    max: options.maxConnections ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    lock_timeout: options.lockTimeoutMs ?? SESSION_LOCK_TIMEOUT_MS,
    ...(options.statementTimeoutMs && { statement_timeout: options.statementTimeoutMs }),
    ...(options.idleInTransactionTimeoutMs && {
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs,
    }),
    ...base,
    types,
  });
  // A connection lost (a restart, a failover, pg_terminate_backend) must not crash the process:
  // the pool reports idle clients' errors, but a checked-out client emits 'error' on itself, and
  // an 'error' nobody listens to is an uncaught exception. The query in flight fails either way.
  const onError = options.onPoolError ?? (() => {});
  pool.on('error', onError);
  pool.on('connect', (client) => client.on('error', onError));
  return pool;
}

/** Where a database handle's connection settings come from; `refresh` asks the source to re-read its secret now. */
export type ConnectionSource = (options: { refresh: boolean }) => Promise<ConnectionSettings>;

/**
 * A database handle whose credentials follow a rotated secret. Every new connection asks `source` (which caches
 * the secret for its max age); when the settings change, later connections come from a new pool and
 * the old pool closes as its clients come back. A connection refused for its credentials re-reads
 * the secret at once and is tried once more, so a rotation costs no delivery.
 */
export function createRotatingDb(
  source: ConnectionSource,
  options: DbOptions = {},
): Kysely<Database> {
  let current: { settings: string; pool: pg.Pool } | undefined;
  async function poolFor(refresh: boolean): Promise<pg.Pool> {
    const settings = await source({ refresh });
    const fingerprint = JSON.stringify(settings);
    if (current?.settings !== fingerprint) {
      const retired = current?.pool;
      current = { settings: fingerprint, pool: createPool(settings, options) };
      retired?.end().catch(() => {});
    }
    return current.pool;
  }
  const rotatingPool = {
    async connect() {
      try {
        return await (await poolFor(false)).connect();
      } catch (error) {
        if (!isAuthenticationFailure(error)) throw error;
        return (await poolFor(true)).connect();
      }
    },
    async end() {
      await current?.pool.end();
    },
  };
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool: rotatingPool }) });
}

/** invalid_password, invalid_authorization_specification: the credentials, not the server. */
function isAuthenticationFailure(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return code === '28P01' || code === '28000';
}

export function dbOverPool(pool: pg.Pool): Kysely<Database> {
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
