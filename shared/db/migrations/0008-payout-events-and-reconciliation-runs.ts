import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // The outbox of payout events for the marketplace (docs/payout-events.md): written in the same
  // transaction as the outcome it announces, published to EventBridge after commit. `id` is the
  // event's id, the same on every delivery; `detail` is what is published, frozen when written.
  await db.schema
    .createTable('payout_events')
    .addColumn('id', 'uuid', (col) => col.primaryKey().defaultTo(sql`gen_random_uuid()`))
    .addColumn('event_type', 'text', (col) =>
      col.notNull().check(sql`event_type in ('payout.paid', 'payout.failed', 'payout.reversed')`),
    )
    .addColumn('session_id', 'uuid', (col) => col.notNull())
    .addColumn('detail', 'jsonb', (col) => col.notNull())
    .addColumn('occurred_at', 'timestamptz', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    // A publisher holds unpublished rows until then (and a failed row waits until then to be
    // tried again); an expired lease is a publisher that died: the row is published again.
    .addColumn('publish_lease_until', 'timestamptz')
    .addColumn('publish_attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('last_publish_error', 'text')
    .execute();
  // What the sweeper and the after-commit publisher look for: only the unpublished rows.
  await db.schema
    .createIndex('payout_events_unpublished_idx')
    .on('payout_events')
    .columns(['occurred_at', 'id'])
    .where(sql.ref('published_at'), 'is', null)
    .execute();
  await db.schema
    .createIndex('payout_events_unpublished_session_idx')
    .on('payout_events')
    .column('session_id')
    .where(sql.ref('published_at'), 'is', null)
    .execute();

  // One row per daily reconciliation: its range, what it found, or why it could not finish. The
  // next run starts where the last completed one ended, so no day goes unreconciled.
  await db.schema
    .createTable('reconciliation_runs')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('started_at', 'timestamptz', (col) => col.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addColumn('since', 'timestamptz', (col) => col.notNull())
    .addColumn('until', 'timestamptz', (col) => col.notNull())
    .addColumn('stripe_transfers', 'integer')
    .addColumn('paid_payouts', 'integer')
    .addColumn('mismatches', 'jsonb')
    .addColumn('open', 'integer')
    .addColumn('error', 'text')
    .execute();
  await db.schema
    .createIndex('reconciliation_runs_completed_idx')
    .on('reconciliation_runs')
    .column('until')
    .where(sql.ref('finished_at'), 'is not', null)
    .where(sql.ref('error'), 'is', null)
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('reconciliation_runs').execute();
  await db.schema.dropTable('payout_events').execute();
}
