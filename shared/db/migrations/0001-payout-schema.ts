import { type Kysely, sql } from 'kysely';

// Migrations take Kysely<any>: they describe the schema at one point in time, not today's types.
// biome-ignore lint/suspicious/noExplicitAny: see above
export async function up(db: Kysely<any>): Promise<void> {
  // Input tables, owned by the marketplace (README, "Layout"): created here so local runs and tests
  // have them. IF NOT EXISTS: where the marketplace already created them, we only add our indexes.
  await db.schema
    .createTable('mentors')
    .ifNotExists()
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('stripe_account_id', 'text')
    .execute();

  await db.schema
    .createTable('sessions')
    .ifNotExists()
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('mentor_id', 'uuid', (col) => col.notNull().references('mentors.id'))
    .addColumn('status', 'text', (col) => col.notNull())
    .addColumn('session_end_time', 'timestamptz', (col) => col.notNull())
    .addColumn('price_amount', 'bigint', (col) => col.notNull())
    .addColumn('refunded_amount', 'bigint', (col) => col.notNull().defaultTo(0))
    .addColumn('currency', 'text', (col) => col.notNull())
    .addColumn('stripe_charge_id', 'text')
    .addColumn('payout_status', 'text', (col) => col.notNull().defaultTo('pending'))
    .execute();

  // Serves the scan's keyset paging: only unpaid confirmed sessions, in (end time, id) order.
  await db.schema
    .createIndex('sessions_payout_eligible_idx')
    .ifNotExists()
    .on('sessions')
    .columns(['session_end_time', 'id'])
    .where(sql.ref('status'), '=', 'confirmed')
    .where(sql.ref('payout_status'), '=', 'pending')
    .execute();

  await db.schema
    .createIndex('sessions_mentor_id_idx')
    .ifNotExists()
    .on('sessions')
    .column('mentor_id')
    .execute();

  // Output tables, owned by payouts.
  await db.schema
    .createTable('payout_attempts')
    .addColumn('id', 'bigserial', (col) => col.primaryKey())
    .addColumn('session_id', 'uuid', (col) => col.notNull())
    .addColumn('outcome', 'text', (col) =>
      col.notNull().check(sql`outcome in ('paid', 'failed', 'skipped', 'retrying')`),
    )
    .addColumn('error_code', 'text')
    .addColumn('error_message', 'text')
    .addColumn('stripe_transfer_id', 'text')
    .addColumn('amount', 'bigint')
    .addColumn('currency', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();

  await db.schema
    .createIndex('payout_attempts_session_idx')
    .on('payout_attempts')
    .columns(['session_id', 'created_at'])
    .execute();
  await db.schema
    .createIndex('payout_attempts_created_at_idx')
    .on('payout_attempts')
    .column('created_at')
    .execute();

  // The admin-review log is evidence: rows are appended, never changed or removed.
  await sql`
    create function payout_attempts_append_only() returns trigger language plpgsql as $$
    begin
      raise exception 'payout_attempts is append-only (% refused)', tg_op;
    end $$`.execute(db);
  await sql`
    create trigger payout_attempts_append_only
    before update or delete on payout_attempts
    for each statement execute function payout_attempts_append_only()`.execute(db);

  // One row per session: the primary key is what makes a second payout record impossible.
  await db.schema
    .createTable('payouts')
    .addColumn('session_id', 'uuid', (col) => col.primaryKey().references('sessions.id'))
    .addColumn('state', 'text', (col) =>
      col.notNull().check(sql`state in ('in_progress', 'paid', 'refused')`),
    )
    .addColumn('key_generation', 'integer', (col) => col.notNull().check(sql`key_generation > 0`))
    .addColumn('amount', 'bigint', (col) => col.notNull().check(sql`amount > 0`))
    .addColumn('currency', 'text', (col) => col.notNull())
    .addColumn('destination', 'text', (col) => col.notNull())
    .addColumn('source_transaction', 'text')
    .addColumn('lease_expires_at', 'timestamptz')
    .addColumn('stripe_transfer_id', 'text', (col) => col.unique())
    .addColumn('claim_count', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint(
      'payouts_paid_has_transfer',
      sql`(state = 'paid') = (stripe_transfer_id is not null)`,
    )
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('payouts').execute();
  await db.schema.dropTable('payout_attempts').execute();
  await sql`drop function payout_attempts_append_only`.execute(db);
  await db.schema.dropIndex('sessions_mentor_id_idx').execute();
  await db.schema.dropIndex('sessions_payout_eligible_idx').execute();
}
