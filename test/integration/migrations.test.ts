import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateToLatest } from '../../shared/db/migrate.ts';
import { insertMentor, insertSession } from '../helpers/factories.ts';
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
    const payout = {
      session_id: sessionId,
      state: 'in_progress' as const,
      key_generation: 1,
      amount: 100,
      currency: 'usd',
      destination: 'acct_1',
      source_transaction: null,
      lease_expires_at: null,
      stripe_transfer_id: null,
      claim_count: 1,
    };
    await database.db.insertInto('payouts').values(payout).execute();

    await expect(database.db.insertInto('payouts').values(payout).execute()).rejects.toThrow(
      /duplicate key value violates unique constraint "payouts_pkey"/,
    );
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
