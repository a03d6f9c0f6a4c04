import { type Kysely, sql } from 'kysely';

/**
 * Least privilege in the database: one NOLOGIN group role per Lambda and one for the operator CLI,
 * each granted exactly what its code's queries need. Login users (with passwords) are made members
 * of these roles outside the migrations (README, Deploy → Database roles). The owner that runs the
 * migrations keeps everything else: DDL, and any change to the marketplace's own columns.
 *
 * Rules: the marketplace's tables are read only, except the column-level UPDATE (payout_status) on
 * sessions for the roles that record an outcome (transfer, operator: `reconcile --fix`);
 * payout_attempts is INSERT and SELECT only (append-only for everyone but the owner, whose trigger
 * refuses it too); no default privileges, so a table added later has no grant until a migration
 * gives one (test/integration/database-roles.test.ts fails until then).
 *
 * A grant list frozen here, like any migration: a later change of grants is a later migration.
 */
const GRANTS: Record<string, string[]> = {
  // lambdas/scan: the eligible sessions and unfinished payouts, the kill switch, its run records.
  payouts_scan: [
    'select on sessions',
    'select on payouts',
    'select on payout_controls',
    'select, insert, update on scan_runs',
    'usage on sequence scan_runs_id_seq',
  ],
  // lambdas/transfer: pay-session.ts, the Stripe request budget, the outbox published after commit.
  payouts_transfer: [
    'select on sessions',
    'update (payout_status) on sessions',
    'select on mentors',
    'select on stripe_accounts',
    'select on mentor_holds',
    'select on payout_controls',
    'select, insert, update on payouts',
    'select, insert on payout_attempts',
    'usage on sequence payout_attempts_id_seq',
    'select, insert, update on payout_daily_totals',
    'select, insert, update on payout_reservations',
    'select, insert, update on stripe_request_pacing',
    'select, insert, update on payout_events',
  ],
  // lambdas/stripe-events: events de-duplicated by id, accounts' standing, reversals, catch-up.
  payouts_stripe_events: [
    'select on sessions',
    'select on mentors',
    'select on payouts',
    'select on payout_controls',
    'select, insert, update on stripe_events',
    'select, insert, update on stripe_accounts',
    'select, insert on payout_reversals',
    // payout.reversed, written with its reversal: insert, and its id back (RETURNING); the
    // outbox's other rows and columns are the publishers'.
    'insert on payout_events',
    'select (id) on payout_events',
    'select, insert, update on stripe_request_pacing',
  ],
  // lambdas/reconcile: paid payouts against Stripe's transfers, in slots of the read budget; the
  // reversals recorded here beside those Stripe shows (ReconciliationReversals).
  payouts_reconcile: [
    'select on payouts',
    'select on payout_reversals',
    'select, insert, update on reconciliation_runs',
    'usage on sequence reconciliation_runs_id_seq',
    'select, insert, update on stripe_request_pacing',
  ],
  // lambdas/payout-events: the outbox sweeper.
  payouts_payout_events: ['select, update on payout_events'],
  // tools/ (the on-call CLI): reads for status, failures, preview, dlq and retry; pause and resume;
  // hold (a new hold row) and release (only the release columns: who held and why stay as written);
  // `reconcile --fix` records a found transfer exactly as the transfer Lambda does.
  payouts_operator: [
    'select on sessions',
    'update (payout_status) on sessions',
    'select on mentors',
    'select on stripe_accounts',
    'select on mentor_holds',
    'insert (mentor_id, reason, held_by, held_at) on mentor_holds',
    'update (released_by, released_at, release_reason) on mentor_holds',
    'usage on sequence mentor_holds_id_seq',
    'select, update on payout_controls',
    'select on scan_runs',
    'select, insert, update on payouts',
    'select, insert on payout_attempts',
    'usage on sequence payout_attempts_id_seq',
    'select on payout_reversals',
    'select, insert on payout_events',
    'select, insert, update on stripe_request_pacing',
  ],
};

// biome-ignore lint/suspicious/noExplicitAny: migrations describe the schema at one point in time
export async function up(db: Kysely<any>): Promise<void> {
  const schema = sql.id(await currentSchema(db));
  for (const [role, grants] of Object.entries(GRANTS)) {
    // Roles belong to the cluster, not the database: created once, never with a password.
    await sql`
      do $$ begin
        if not exists (select 1 from pg_roles where rolname = ${sql.lit(role)}) then
          create role ${sql.id(role)} nologin;
        end if;
      end $$`.execute(db);
    await sql`grant usage on schema ${schema} to ${sql.id(role)}`.execute(db);
    for (const grant of grants) {
      await sql`grant ${sql.raw(grant)} to ${sql.id(role)}`.execute(db);
    }
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
export async function down(db: Kysely<any>): Promise<void> {
  // The roles stay: they belong to the cluster, and another database may grant them too.
  const schema = sql.id(await currentSchema(db));
  for (const [role, grants] of Object.entries(GRANTS)) {
    for (const grant of grants) {
      await sql`revoke ${sql.raw(grant)} from ${sql.id(role)}`.execute(db);
    }
    await sql`revoke usage on schema ${schema} from ${sql.id(role)}`.execute(db);
  }
}

// biome-ignore lint/suspicious/noExplicitAny: see up()
async function currentSchema(db: Kysely<any>): Promise<string> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db);
  const schema = rows[0]?.schema;
  if (!schema) throw new Error('No current schema to grant');
  return schema;
}
