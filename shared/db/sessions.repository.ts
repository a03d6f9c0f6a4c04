import { sql, type Transaction } from 'kysely';
import type { Database, DbOrTrx } from './database.ts';

export interface SessionForPayout {
  id: string;
  mentorId: string;
  status: string;
  payoutStatus: string;
  sessionEndTime: Date;
  /** bigint: the marketplace's column may hold a value past 2^53, which must be seen, not rounded. */
  priceAmount: bigint;
  refundedAmount: bigint;
  currency: string;
  stripeChargeId: string | null;
  stripeAccountId: string | null;
}

function sessionForPayoutQuery(db: DbOrTrx, sessionId: string) {
  return db
    .selectFrom('sessions')
    .leftJoin('mentors', 'mentors.id', 'sessions.mentor_id')
    .select([
      'sessions.id',
      'sessions.mentor_id',
      'sessions.status',
      'sessions.payout_status',
      'sessions.session_end_time',
      sql<string>`sessions.price_amount::text`.as('price_amount'),
      sql<string>`sessions.refunded_amount::text`.as('refunded_amount'),
      'sessions.currency',
      'sessions.stripe_charge_id',
      'mentors.stripe_account_id',
    ])
    .where('sessions.id', '=', sessionId);
}

type SessionForPayoutRow = Awaited<
  ReturnType<ReturnType<typeof sessionForPayoutQuery>['executeTakeFirstOrThrow']>
>;

function toSessionForPayout(row: SessionForPayoutRow): SessionForPayout {
  return {
    id: row.id,
    mentorId: row.mentor_id,
    status: row.status,
    payoutStatus: row.payout_status,
    sessionEndTime: row.session_end_time,
    priceAmount: BigInt(row.price_amount),
    refundedAmount: BigInt(row.refunded_amount),
    currency: row.currency,
    stripeChargeId: row.stripe_charge_id,
    stripeAccountId: row.stripe_account_id,
  };
}

/**
 * Loads a session with its mentor's account and locks the session row until the transaction
 * ends: claims and records of one session are serialised here. Waits at most `lockTimeoutMs` for
 * a row someone else holds (the marketplace, say), then fails with Postgres's lock_not_available.
 */
export async function lockSessionForPayout(
  trx: Transaction<Database>,
  sessionId: string,
  lockTimeoutMs: number,
): Promise<SessionForPayout | undefined> {
  await sql`select set_config('lock_timeout', ${`${lockTimeoutMs}ms`}, true)`.execute(trx);
  const row = await sessionForPayoutQuery(trx, sessionId).forUpdate('sessions').executeTakeFirst();
  return row && toSessionForPayout(row);
}

/** The same, read without a lock: for the operator tools, which never pay. */
export async function findSessionForPayout(
  db: DbOrTrx,
  sessionId: string,
): Promise<SessionForPayout | undefined> {
  const row = await sessionForPayoutQuery(db, sessionId).executeTakeFirst();
  return row && toSessionForPayout(row);
}

/**
 * Moves a session to a final payout status; false if it was already final. A recorded transfer is
 * the truth whatever was decided before, so paid_out also replaces not_payable.
 */
export async function settleSessionPayoutStatus(
  trx: Transaction<Database>,
  sessionId: string,
  status: 'paid_out' | 'not_payable',
): Promise<boolean> {
  const from = status === 'paid_out' ? ['pending', 'not_payable'] : ['pending'];
  const result = await trx
    .updateTable('sessions')
    .set({ payout_status: status })
    .where('id', '=', sessionId)
    .where('payout_status', 'in', from)
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/**
 * Keyset position in the eligible-session order. endTime is Postgres's own text form of the
 * timestamp, because a JS Date drops the microseconds and would skip or repeat ties.
 */
export interface EligibleCursor {
  endTime: string;
  id: string;
}

export interface EligiblePage {
  ids: string[];
  next: EligibleCursor | undefined;
}

/** The keyset page query the scan runs, exposed so the benchmark can EXPLAIN exactly it. */
export function eligibleSessionPageQuery(
  db: DbOrTrx,
  options: { cutoff: Date; after: EligibleCursor | undefined; limit: number },
) {
  const { cutoff, after, limit } = options;
  let query = db
    .selectFrom('sessions')
    .select(['id', sql<string>`session_end_time::text`.as('end_time')])
    .where('status', '=', 'confirmed')
    .where('payout_status', '=', 'pending')
    .where('session_end_time', '<', cutoff)
    .orderBy('session_end_time')
    .orderBy('id')
    .limit(limit);
  if (after) {
    query = query.where(
      sql`(session_end_time, id)`,
      '>',
      sql`(${after.endTime}::timestamptz, ${after.id}::uuid)`,
    );
  }
  return query;
}

/** One page of eligible session ids in (session_end_time, id) order; served by sessions_payout_eligible_idx. */
export async function findEligibleSessionPage(
  db: DbOrTrx,
  options: { cutoff: Date; after: EligibleCursor | undefined; limit: number },
): Promise<EligiblePage> {
  const rows = await eligibleSessionPageQuery(db, options).execute();
  const last = rows.at(-1);
  return {
    ids: rows.map((row) => row.id),
    next:
      rows.length === options.limit && last ? { endTime: last.end_time, id: last.id } : undefined,
  };
}
