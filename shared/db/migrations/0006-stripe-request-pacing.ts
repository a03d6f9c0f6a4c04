import type { Kysely } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // The Stripe request budget shared by every transfer Lambda and the CLI: per Stripe endpoint, the
  // earliest time (by the database's clock) at which the next request may be sent.
  await db.schema
    .createTable('stripe_request_pacing')
    .addColumn('endpoint', 'text', (col) => col.primaryKey())
    .addColumn('next_slot_at', 'timestamptz', (col) => col.notNull())
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('stripe_request_pacing').execute();
}
