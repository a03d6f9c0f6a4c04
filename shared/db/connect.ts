import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database, Db } from './database.ts';

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
  onPoolError?: (error: Error) => void;
}

export function createDb(settings: ConnectionSettings, options: DbOptions = {}): Db {
  const base = typeof settings === 'string' ? { connectionString: settings } : settings;
  const pool = new pg.Pool({
    max: options.maxConnections ?? 10,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
    ...base,
    types,
  });
  // An idle client losing its connection (a restart, a failover) must not crash the process.
  pool.on('error', options.onPoolError ?? (() => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
