import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('payouts')
    // When this generation's key was first sent: Stripe keeps keys ~24 h, so an old key is never reused.
    .addColumn('key_first_used_at', 'timestamptz')
    // The last call ended without a definitive answer (5xx, timeout, dropped connection): the
    // transfer may exist, so Stripe is searched by transfer_group before a new key is used.
    .addColumn('outcome_unknown', 'boolean', (col) => col.notNull().defaultTo(false))
    // Start of the current generation: the daily total limit counts generations started in 24 h.
    .addColumn('generation_started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema
    .createIndex('payouts_currency_generation_idx')
    .on('payouts')
    .columns(['currency', 'generation_started_at'])
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('payouts_currency_generation_idx').execute();
  await db.schema
    .alterTable('payouts')
    .dropColumn('key_first_used_at')
    .dropColumn('outcome_unknown')
    .dropColumn('generation_started_at')
    .execute();
}
