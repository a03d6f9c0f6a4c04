import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // The kill switch operators flip with `payouts pause|resume`: one row, with who, when and why.
  await db.schema
    .createTable('payout_controls')
    .addColumn('id', 'integer', (col) => col.primaryKey().check(sql`id = 1`))
    .addColumn('paused', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('reason', 'text')
    .addColumn('changed_by', 'text')
    .addColumn('changed_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.insertInto('payout_controls').values({ id: 1, paused: false }).execute();

  // One row per scan run, for `payouts status` and for on-call reading what the last run did.
  await db.schema
    .createTable('scan_runs')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('cutoff', 'timestamptz', (col) => col.notNull())
    .addColumn('paused', 'boolean', (col) => col.notNull())
    .addColumn('enqueued', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('failed', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('pages', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('scan_runs_started_at_idx')
    .on('scan_runs')
    .column('started_at')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('scan_runs').execute();
  await db.schema.dropTable('payout_controls').execute();
}
