import { randomUUID } from 'node:crypto';
import { Migrator, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDb } from '../../shared/db/connect.ts';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { migrations } from '../../shared/db/migrations/index.ts';
import { insertMentor, insertSession, seedPayout } from '../helpers/factories.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

describe('migrations', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  it('applies nothing on a second run', async () => {
    const report = await migrateToLatest(database.db);
    expect(report.applied).toEqual([]);
  });

  it('accepts a session row with exactly the columns the marketplace inserts', async () => {
    const mentorId = await insertMentor(database.db);
    await sql`
      insert into sessions (id, mentor_id, status, session_end_time, price_amount, currency, stripe_charge_id)
      values (gen_random_uuid(), ${mentorId}, 'confirmed', now(), 1000, 'usd', null)
    `.execute(database.db);
    const row = await database.db
      .selectFrom('sessions')
      .select(['payout_status', 'refunded_amount'])
      .where('mentor_id', '=', mentorId)
      .executeTakeFirstOrThrow();
    expect(row).toEqual({ payout_status: 'pending', refunded_amount: 0 });
  });

  it('refuses to change or delete an admin-review row', async () => {
    const mentorId = await insertMentor(database.db);
    const sessionId = await insertSession(database.db, mentorId);
    await database.db
      .insertInto('payout_attempts')
      .values({ session_id: sessionId, outcome: 'failed', error_code: 'account_invalid' })
      .execute();

    const update = database.db.updateTable('payout_attempts').set({ error_code: 'x' }).execute();
    const remove = database.db.deleteFrom('payout_attempts').execute();

    await expect(update).rejects.toThrow('payout_attempts is append-only (UPDATE refused)');
    await expect(remove).rejects.toThrow('payout_attempts is append-only (DELETE refused)');
  });

  it('refuses a second payout row for one session', async () => {
    const mentorId = await insertMentor(database.db);
    const sessionId = await insertSession(database.db, mentorId);
    await seedPayout(database.db, sessionId, { amount: 100, destination: 'acct_1' });

    await expect(
      seedPayout(database.db, sessionId, { amount: 100, destination: 'acct_1' }),
    ).rejects.toThrow(/duplicate key value violates unique constraint "payouts_pkey"/);
  });

  it('serves the eligibility query from the partial index', async () => {
    // One connection, so the planner setting applies to the explain; the table is tiny here.
    const plan = await database.db.connection().execute(async (connection) => {
      await sql`set enable_seqscan = off`.execute(connection);
      return sql<{ 'QUERY PLAN': string }>`
        explain select id from sessions
        where status = 'confirmed' and payout_status = 'pending' and session_end_time < now()
        order by session_end_time, id limit 100
      `.execute(connection);
    });
    const text = plan.rows.map((row) => row['QUERY PLAN']).join('\n');
    expect(text).toContain('sessions_payout_eligible_idx');
  });
});

describe('migration 0005 (recovery points)', () => {
  it('turns an in-flight payout of the old schema into a resumable generation holding its reservation', async () => {
    const adminUrl = inject('postgresAdminUrl');
    const name = `migrate_${randomUUID().replaceAll('-', '')}`;
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`create database ${name}`);
    const db = createDb(adminUrl.replace(/\/postgres$/, `/${name}`));
    try {
      const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
      await migrator.migrateTo('0004-daily-totals');
      const mentorId = await insertMentor(db);
      const sessionId = await insertSession(db, mentorId);
      const firstSent = new Date('2026-11-24T23:30:00Z');
      await sql`
        insert into payouts (session_id, state, key_generation, amount, currency, destination,
          claim_count, key_first_used_at, outcome_unknown, generation_started_at)
        values (${sessionId}, 'in_progress', 2, 8000, 'usd', 'acct_1', 3, ${firstSent}, true, ${firstSent})
      `.execute(db);

      await migrateToLatest(db);

      const payout = await db
        .selectFrom('payouts')
        .select(['recovery_point', 'key_first_used_at', 'key_last_used_at', 'key_generation'])
        .where('session_id', '=', sessionId)
        .executeTakeFirstOrThrow();
      const reservations = await sql<{ day: string; amount: number; key_generation: number }>`
        select day::text, amount, key_generation from payout_reservations where session_id = ${sessionId}
      `.execute(db);
      expect(payout).toEqual({
        recovery_point: 'transfer_requested',
        key_first_used_at: firstSent,
        key_last_used_at: firstSent,
        key_generation: 2,
      });
      expect(reservations.rows).toEqual([{ day: '2026-11-24', amount: 8000, key_generation: 2 }]);
    } finally {
      await db.destroy();
      await admin.query(`drop database ${name}`);
      await admin.end();
    }
  });
});
