import { type ExpressionBuilder, type Kysely, sql, type Transaction } from 'kysely';
import type { Database } from './database.ts';

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
  /**
   * The versions of the session row and its mentor's row as read (their xmin): any committed update
   * of either row changes it, a lock does not. recordPaid compares it to skip re-reading a session
   * that has not changed since the claim read it.
   */
  rowVersion: string;
}

/** xmin: the transaction that wrote this version of the row; every UPDATE writes a new one. */
export const SESSION_ROW_VERSION = sql<string>`sessions.xmin::text || '/' || coalesce(mentors.xmin::text, '')`;

/** A session as the money path reads it, with its mentor's account; amounts as text (see above). */
const SESSION_FOR_PAYOUT_COLUMNS = [
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
  SESSION_ROW_VERSION.as('row_version'),
] as const;

function sessionForPayoutQuery(db: Kysely<Database>, sessionId: string) {
  return db
    .selectFrom('sessions')
    .leftJoin('mentors', 'mentors.id', 'sessions.mentor_id')
    .select(SESSION_FOR_PAYOUT_COLUMNS)
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
    rowVersion: row.row_version,
  };
}

/**
 * Loads a session with its mentor's account and locks the session row until the transaction
 * ends: claims and records of one session are serialised here. A row someone else holds (the
 * marketplace, say) is waited for only as long as the connection's lock_timeout (createPool),
 * then Postgres fails the statement with lock_not_available. Read the payout in a statement of its
 * own after this one: a statement that waited for the lock re-reads only the locked row, and a
 * payout joined into it would be the one from before the claim it waited for.
 */
export async function lockSessionForPayout(
  trx: Transaction<Database>,
  sessionId: string,
): Promise<SessionForPayout | undefined> {
  const row = await sessionForPayoutQuery(trx, sessionId).forUpdate('sessions').executeTakeFirst();
  return row && toSessionForPayout(row);
}

/** The same, read without a lock: for the operator tools, which never pay. */
export async function findSessionForPayout(
  db: Kysely<Database>,
  sessionId: string,
): Promise<SessionForPayout | undefined> {
  const row = await sessionForPayoutQuery(db, sessionId).executeTakeFirst();
  return row && toSessionForPayout(row);
}

/**
 * Marks a session paid_out for a recorded transfer and returns it as it now is (locked until the
 * transaction ends), in one statement; undefined if it was paid_out already (or does not exist).
 */
export async function markSessionPaidOut(
  trx: Transaction<Database>,
  sessionId: string,
): Promise<SessionForPayout | undefined> {
  const row = await trx
    .updateTable('sessions')
    .from('mentors')
    .set({ payout_status: 'paid_out' })
    .whereRef('mentors.id', '=', 'sessions.mentor_id')
    .where('sessions.id', '=', sessionId)
    .where('sessions.payout_status', 'in', ['pending', 'not_payable'])
    .returning(SESSION_FOR_PAYOUT_COLUMNS)
    .executeTakeFirst();
  return row && toSessionForPayout(row);
}

/** Marks a pending session not payable (net ≤ 0); false if it was no longer pending. */
export async function markSessionNotPayable(
  trx: Transaction<Database>,
  sessionId: string,
): Promise<boolean> {
  const result = await trx
    .updateTable('sessions')
    .set({ payout_status: 'not_payable' })
    .where('id', '=', sessionId)
    .where('payout_status', '=', 'pending')
    .executeTakeFirst();
  return result.numUpdatedRows === 1n;
}

/** Each session's payout_status, for the sessions that exist. */
export async function findPayoutStatuses(
  db: Kysely<Database>,
  sessionIds: readonly string[],
): Promise<{ id: string; payoutStatus: string }[]> {
  if (sessionIds.length === 0) return [];
  const rows = await db
    .selectFrom('sessions')
    .select(['id', 'payout_status'])
    .where('id', 'in', sessionIds)
    .execute();
  return rows.map((row) => ({ id: row.id, payoutStatus: row.payout_status }));
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

export interface EligiblePageOptions {
  cutoff: Date;
  after: EligibleCursor | undefined;
  limit: number;
  /** Only these mentors' sessions (the catch-up after an account became ready). */
  mentorIds?: readonly string[];
}

/**
 * The scan's keyset page query: the contract's eligibility rule in SQL, in one place. Exposed so
 * the benchmark can EXPLAIN exactly it; `payouts preview` pages through it too, and the
 * stripe-events Lambda with a mentor filter.
 */
export function eligibleSessionPageQuery(db: Kysely<Database>, options: EligiblePageOptions) {
  const { cutoff, after, limit, mentorIds } = options;
  let query = db
    .selectFrom('sessions')
    .select(['id', sql<string>`session_end_time::text`.as('end_time')])
    .where((eb) => eligibleAt(eb, cutoff))
    .orderBy('session_end_time')
    .orderBy('id')
    .limit(limit);
  if (mentorIds) query = query.where('mentor_id', 'in', mentorIds);
  if (after) {
    query = query.where(
      sql`(session_end_time, id)`,
      '>',
      sql`(${after.endTime}::timestamptz, ${after.id}::uuid)`,
    );
  }
  return query;
}

/** The contract's eligibility rule: confirmed, pending, ended before the cutoff. */
function eligibleAt(eb: ExpressionBuilder<Database, 'sessions'>, cutoff: Date) {
  return eb.and([
    eb('sessions.status', '=', 'confirmed'),
    eb('sessions.payout_status', '=', 'pending'),
    eb('sessions.session_end_time', '<', cutoff),
  ]);
}

/** How many eligible sessions each of these mentors has (mentors with none are left out). */
export async function countEligibleSessionsOfMentors(
  db: Kysely<Database>,
  filter: { cutoff: Date; mentorIds: readonly string[] },
): Promise<Map<string, number>> {
  if (filter.mentorIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('sessions')
    .select(['mentor_id', (eb) => eb.fn.countAll<string>().as('count')])
    .where((eb) => eligibleAt(eb, filter.cutoff))
    .where('mentor_id', 'in', filter.mentorIds)
    .groupBy('mentor_id')
    .execute();
  return new Map(rows.map((row) => [row.mentor_id, Number(row.count)]));
}

/** One page of eligible session ids in (session_end_time, id) order; served by sessions_payout_eligible_idx. */
export async function findEligibleSessionPage(
  db: Kysely<Database>,
  options: EligiblePageOptions,
): Promise<EligiblePage> {
  const rows = await eligibleSessionPageQuery(db, options).execute();
  return { ids: rows.map((row) => row.id), next: nextCursor(rows, options.limit) };
}

/** The same page (the scan's own query), each session as the money path reads it. */
export async function findEligibleSessionsForPayout(
  db: Kysely<Database>,
  options: EligiblePageOptions,
): Promise<{ sessions: SessionForPayout[]; next: EligibleCursor | undefined }> {
  const rows = await db
    .with('page', () => eligibleSessionPageQuery(db, options))
    .selectFrom('page')
    .innerJoin('sessions', 'sessions.id', 'page.id')
    .leftJoin('mentors', 'mentors.id', 'sessions.mentor_id')
    .select([...SESSION_FOR_PAYOUT_COLUMNS, 'page.end_time'])
    .orderBy('sessions.session_end_time')
    .orderBy('sessions.id')
    .execute();
  return { sessions: rows.map(toSessionForPayout), next: nextCursor(rows, options.limit) };
}

function nextCursor(
  rows: readonly { id: string; end_time: string }[],
  limit: number,
): EligibleCursor | undefined {
  const last = rows.at(-1);
  return rows.length === limit && last ? { endTime: last.end_time, id: last.id } : undefined;
}
