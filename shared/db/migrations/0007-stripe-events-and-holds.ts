import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // Stripe events handled by the stripe-events Lambda, by Stripe's event id: a redelivered or
  // duplicated event that was handled already changes nothing.
  await db.schema
    .createTable('stripe_events')
    .addColumn('id', 'text', (col) => col.primaryKey())
    .addColumn('type', 'text', (col) => col.notNull())
    .addColumn('account', 'text')
    .addColumn('stripe_created_at', 'timestamptz', (col) => col.notNull())
    .addColumn('received_at', 'timestamptz', (col) => col.notNull())
    .addColumn('processed_at', 'timestamptz')
    .execute();

  // Each connected account as Stripe last described it (GET /v1/accounts/:id after account.updated).
  // No row: never seen, and the transfer path lets Stripe decide.
  await db.schema
    .createTable('stripe_accounts')
    .addColumn('account_id', 'text', (col) => col.primaryKey())
    .addColumn('transfers_capability', 'text')
    .addColumn('payouts_enabled', 'boolean', (col) => col.notNull())
    .addColumn('disabled_reason', 'text')
    // When the read that produced this row was sent: an older read never overwrites a newer one.
    .addColumn('observed_at', 'timestamptz', (col) => col.notNull())
    // The transfers capability became active and the mentor's waiting sessions are not yet enqueued.
    .addColumn('catch_up_pending', 'boolean', (col) => col.notNull().defaultTo(false))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull())
    .execute();

  // Admins' holds on a mentor's payouts, kept after release as the history of who, when and why.
  await db.schema
    .createTable('mentor_holds')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('mentor_id', 'uuid', (col) => col.notNull())
    .addColumn('reason', 'text', (col) => col.notNull().check(sql`length(trim(reason)) > 0`))
    .addColumn('held_by', 'text', (col) => col.notNull())
    .addColumn('held_at', 'timestamptz', (col) => col.notNull())
    .addColumn('released_by', 'text')
    .addColumn('released_at', 'timestamptz')
    .addColumn('release_reason', 'text')
    .addCheckConstraint(
      'mentor_holds_release_complete',
      sql`(released_at is null) = (released_by is null)`,
    )
    .execute();
  // At most one active hold per mentor; the claim reads it by mentor.
  await db.schema
    .createIndex('mentor_holds_active_idx')
    .unique()
    .on('mentor_holds')
    .column('mentor_id')
    .where(sql.ref('released_at'), 'is', null)
    .execute();

  // Reversals of our transfers (transfer.reversed), as Stripe reported them. The payout stays paid
  // and the session paid_out: a reversal is recorded, never paid again by itself.
  await db.schema
    .createTable('payout_reversals')
    .addColumn('reversal_id', 'text', (col) => col.primaryKey())
    .addColumn('session_id', 'uuid', (col) => col.notNull())
    .addColumn('transfer_id', 'text', (col) => col.notNull())
    .addColumn('amount', 'bigint', (col) => col.notNull().check(sql`amount > 0`))
    .addColumn('currency', 'text', (col) => col.notNull())
    .addColumn('reversed_at', 'timestamptz', (col) => col.notNull())
    .addColumn('stripe_event_id', 'text', (col) => col.notNull())
    .addColumn('recorded_at', 'timestamptz', (col) => col.notNull())
    .execute();
  await db.schema
    .createIndex('payout_reversals_session_idx')
    .on('payout_reversals')
    .column('session_id')
    .execute();
  await db.schema
    .createIndex('payout_reversals_reversed_at_idx')
    .on('payout_reversals')
    .column('reversed_at')
    .execute();

  // account.updated names an account: find its mentors without a scan of the marketplace's table.
  await db.schema
    .createIndex('mentors_stripe_account_id_idx')
    .ifNotExists()
    .on('mentors')
    .column('stripe_account_id')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('mentors_stripe_account_id_idx').ifExists().execute();
  await db.schema.dropTable('payout_reversals').execute();
  await db.schema.dropTable('mentor_holds').execute();
  await db.schema.dropTable('stripe_accounts').execute();
  await db.schema.dropTable('stripe_events').execute();
}
