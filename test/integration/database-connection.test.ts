import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

describe('database connections', () => {
  let database: TestDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin.end();
    await database.close();
  });

  const killOthers = () =>
    admin.query(
      'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
    );

  it('fails the query in flight, without an uncaught error, when the server drops a busy connection', async () => {
    const errors: Error[] = [];
    const db: Kysely<Database> = createDb(database.urls.transfer, {
      onPoolError: (error) => errors.push(error),
    });

    const busy = sql`select pg_sleep(5)`.execute(db).then(
      () => 'finished',
      (error: unknown) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));
    await killOthers();

    expect(await busy).toBeInstanceOf(Error);
    // The client's own 'error' follows when the socket closes: reported, not thrown.
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every((error) => /terminat/i.test(error.message))).toBe(true);
    // The pool recovers with a fresh connection.
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    await db.destroy();
  });

  it('does not crash when the server drops a connection held between two queries of a transaction', async () => {
    const errors: Error[] = [];
    const db: Kysely<Database> = createDb(database.urls.transfer, {
      onPoolError: (error) => errors.push(error),
    });

    const outcome = await db
      .transaction()
      .execute(async (trx) => {
        await sql`select 1`.execute(trx);
        // The connection is checked out but idle: the pool is not listening to it now.
        await killOthers();
        await new Promise((resolve) => setTimeout(resolve, 100));
        await sql`select 2`.execute(trx);
      })
      .then(
        () => 'committed',
        (error: unknown) => error,
      );

    expect(outcome).toBeInstanceOf(Error);
    expect(errors.map((error) => error.message)).toContain('Connection terminated unexpectedly');
    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    await db.destroy();
  });

  it('recovers when the server drops idle connections', async () => {
    const db: Kysely<Database> = createDb(database.urls.transfer);
    await Promise.all([sql`select 1`.execute(db), sql`select 1`.execute(db)]);

    await killOthers();
    await new Promise((resolve) => setTimeout(resolve, 100));

    expect((await sql<{ one: number }>`select 1 as one`.execute(db)).rows).toEqual([{ one: 1 }]);
    await db.destroy();
  });
});
