import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // What was handed to Stripe per currency and UTC day: the daily total limit's running sum,
  // checked and raised in one conditional upsert instead of summing the day's payouts each time.
  await db.schema
    .createTable('payout_daily_totals')
    .addColumn('currency', 'text', (col) => col.notNull())
    .addColumn('day', 'date', (col) => col.notNull())
    .addColumn('amount', 'bigint', (col) => col.notNull().check(sql`amount >= 0`))
    .addPrimaryKeyConstraint('payout_daily_totals_pkey', ['currency', 'day'])
    .execute();
  await sql`
    insert into payout_daily_totals (currency, day, amount)
    select currency, (generation_started_at at time zone 'UTC')::date, sum(amount)
    from payouts where state in ('in_progress', 'paid')
    group by 1, 2`.execute(db);
  await db.schema.dropIndex('payouts_currency_generation_idx').execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .createIndex('payouts_currency_generation_idx')
    .on('payouts')
    .columns(['currency', 'generation_started_at'])
    .execute();
  await db.schema.dropTable('payout_daily_totals').execute();
}
