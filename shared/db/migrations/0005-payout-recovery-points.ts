import { type Kysely, sql } from 'kysely';

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  // docs/payout-protocol.md: an unfinished generation is resumed from its recovery point, and a
  // generation can also end because a search proved it created nothing ('no_transfer').
  await sql`alter table payouts drop constraint payouts_state_check`.execute(db);
  await sql`
    alter table payouts add constraint payouts_state_check
    check (state in ('in_progress', 'paid', 'refused', 'no_transfer'))`.execute(db);
  await db.schema
    .alterTable('payouts')
    .addColumn('recovery_point', 'text', (col) =>
      col
        .notNull()
        .defaultTo('transfer_requested')
        .check(sql`recovery_point in ('transfer_requested', 'search_required', 'key_rejected')`),
    )
    // The last time the generation's key was (about to be) sent: a search waits until it settled.
    .addColumn('key_last_used_at', 'timestamptz')
    .execute();
  // An unknown outcome used to mean "search at once"; now it means "resend the same key".
  await sql`
    update payouts set key_first_used_at = coalesce(key_first_used_at, updated_at),
      key_last_used_at = coalesce(key_first_used_at, updated_at)
    where state = 'in_progress'`.execute(db);

  // What each generation reserved against each UTC day's limit, so that a generation ending
  // without a transfer gives back exactly what it holds, on the days it holds it.
  await db.schema
    .createTable('payout_reservations')
    .addColumn('session_id', 'uuid', (col) => col.notNull().references('sessions.id'))
    .addColumn('key_generation', 'integer', (col) => col.notNull())
    .addColumn('day', 'date', (col) => col.notNull())
    .addColumn('currency', 'text', (col) => col.notNull())
    .addColumn('amount', 'bigint', (col) => col.notNull().check(sql`amount > 0`))
    .addColumn('released_at', 'timestamptz')
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('payout_reservations_pkey', ['session_id', 'key_generation', 'day'])
    .execute();
  await sql`
    insert into payout_reservations (session_id, key_generation, day, currency, amount)
    select session_id, key_generation, (generation_started_at at time zone 'UTC')::date, currency, amount
    from payouts where state = 'in_progress'`.execute(db);

  // The daily scan also enqueues every unfinished generation: a small partial index finds them.
  await db.schema
    .createIndex('payouts_unfinished_idx')
    .on('payouts')
    .column('session_id')
    .where(sql.ref('state'), '=', 'in_progress')
    .execute();

  await db.schema
    .alterTable('payouts')
    .dropColumn('outcome_unknown')
    .dropColumn('generation_started_at')
    .execute();
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('payouts')
    .addColumn('outcome_unknown', 'boolean', (col) => col.notNull().defaultTo(true))
    .addColumn('generation_started_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.dropIndex('payouts_unfinished_idx').execute();
  await db.schema.dropTable('payout_reservations').execute();
  await db.schema
    .alterTable('payouts')
    .dropColumn('recovery_point')
    .dropColumn('key_last_used_at')
    .execute();
  await sql`update payouts set state = 'refused' where state = 'no_transfer'`.execute(db);
  await sql`alter table payouts drop constraint payouts_state_check`.execute(db);
  await sql`
    alter table payouts add constraint payouts_state_check
    check (state in ('in_progress', 'paid', 'refused'))`.execute(db);
}
