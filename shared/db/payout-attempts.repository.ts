import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';
import type { AttemptOutcome, NewPayoutAttempt, PayoutAttempt } from './payout-attempts.table.ts';

export async function recordAttempt(
  db: Kysely<Database>,
  attempt: NewPayoutAttempt,
): Promise<void> {
  await db.insertInto('payout_attempts').values(attempt).execute();
}

/**
 * Records the attempt unless it would repeat the session's latest attempt (same outcome and code)
 * made since `dayStart`: a payee that may not be paid is recorded once per session and day, not on
 * every delivery. One statement; true if the row was written. The claim calls it under the session's
 * row lock, so two deliveries cannot both write. The row carries `created_at` (the caller's clock),
 * which the next call compares.
 */
export async function recordAttemptOncePerDay(
  db: Kysely<Database>,
  attempt: NewPayoutAttempt & { created_at: Date },
  dayStart: Date,
): Promise<boolean> {
  const { rows } = await sql<{ id: string }>`
    insert into payout_attempts (session_id, outcome, error_code, error_message, stripe_transfer_id,
      amount, currency, idempotency_key, created_at)
    select ${attempt.session_id}::uuid, ${attempt.outcome}, ${attempt.error_code ?? null},
      ${attempt.error_message ?? null}, ${attempt.stripe_transfer_id ?? null},
      ${attempt.amount ?? null}::bigint, ${attempt.currency ?? null}, ${attempt.idempotency_key ?? null},
      ${attempt.created_at}::timestamptz
    where not exists (
      select 1 from (
        select outcome, error_code, created_at from payout_attempts
        where session_id = ${attempt.session_id}::uuid order by id desc limit 1
      ) as latest
      where latest.outcome = ${attempt.outcome} and latest.error_code = ${attempt.error_code ?? null}
        and latest.created_at >= ${dayStart}::timestamptz
    )
    returning id`.execute(db);
  return rows.length === 1;
}

/** Attempts since `since`, optionally only those of one mentor's sessions. */
export interface AttemptFilter {
  since: Date;
  mentor?: string;
}

export interface PaidAfterChange {
  sessionId: string;
  transferId: string;
  amount: number;
  currency: string;
  change: string;
  paidAt: Date;
}

/** Transfers recorded for sessions that had changed since their request: each awaits an admin's decision. */
export async function findPaidAfterChange(
  db: Kysely<Database>,
  filter: AttemptFilter,
): Promise<PaidAfterChange[]> {
  const rows = await attemptsOfSessions(db, filter)
    .select([
      'a.session_id',
      'a.stripe_transfer_id',
      'a.amount',
      'a.currency',
      'a.error_message',
      'a.created_at',
    ])
    .where('a.outcome', '=', 'paid')
    .where('a.error_code', '=', 'paid_after_change')
    .orderBy('a.created_at', 'desc')
    .execute();
  return rows.map((row) => ({
    sessionId: row.session_id,
    transferId: row.stripe_transfer_id ?? '',
    amount: row.amount ?? 0,
    currency: row.currency ?? '',
    change: row.error_message ?? '',
    paidAt: row.created_at,
  }));
}

/** The latest attempt of each session, its outcome and code: what `dlq list` shows beside a message. */
export async function findLatestAttempts(
  db: Kysely<Database>,
  sessionIds: readonly string[],
): Promise<{ sessionId: string; outcome: AttemptOutcome; errorCode: string | null }[]> {
  if (sessionIds.length === 0) return [];
  const rows = await db
    .selectFrom('payout_attempts as a')
    .distinctOn('a.session_id')
    .orderBy('a.session_id')
    .orderBy('a.id', 'desc')
    .select(['a.session_id', 'a.outcome', 'a.error_code'])
    .where('a.session_id', 'in', sessionIds)
    .execute();
  return rows.map((row) => ({
    sessionId: row.session_id,
    outcome: row.outcome,
    errorCode: row.error_code,
  }));
}

export interface LatestAttemptOfPendingSession {
  sessionId: string;
  mentorId: string;
  outcome: AttemptOutcome;
  errorCode: string | null;
  errorMessage: string | null;
  createdAt: Date;
  priceAmount: number;
  refundedAmount: number;
  currency: string;
}

/**
 * The latest attempt since `since` of each session still pending (optionally one mentor's): the
 * admin review list is made of those whose latest outcome is failed.
 */
export async function findLatestAttemptsOfPendingSessions(
  db: Kysely<Database>,
  filter: AttemptFilter,
): Promise<LatestAttemptOfPendingSession[]> {
  const rows = await attemptsOfSessions(db, filter)
    .distinctOn('a.session_id')
    .orderBy('a.session_id')
    .orderBy('a.id', 'desc')
    .select([
      'a.session_id',
      'a.outcome',
      'a.error_code',
      'a.error_message',
      'a.created_at',
      's.mentor_id',
      's.price_amount',
      's.refunded_amount',
      's.currency',
    ])
    .where('s.payout_status', '=', 'pending')
    .execute();
  return rows.map((row) => ({
    sessionId: row.session_id,
    mentorId: row.mentor_id,
    outcome: row.outcome,
    errorCode: row.error_code,
    errorMessage: row.error_message,
    createdAt: row.created_at,
    priceAmount: row.price_amount,
    refundedAmount: row.refunded_amount,
    currency: row.currency,
  }));
}

/** Every attempt row, oldest first: what the local demo (`npm start`) reports. */
export async function findAllAttempts(db: Kysely<Database>): Promise<PayoutAttempt[]> {
  return db.selectFrom('payout_attempts').selectAll().orderBy('id').execute();
}

/**
 * The attempt rows written after the one with `afterId` (`'0'`: all), oldest first, each with its
 * session's mentor: what the local demo reports of the catch-up after an `account.updated`.
 */
export async function findAttemptsAfter(
  db: Kysely<Database>,
  afterId: string,
): Promise<(PayoutAttempt & { mentor_id: string })[]> {
  return db
    .selectFrom('payout_attempts as a')
    .innerJoin('sessions as s', 's.id', 'a.session_id')
    .selectAll('a')
    .select('s.mentor_id')
    .where('a.id', '>', afterId)
    .orderBy('a.id')
    .execute();
}

/** The attempts a filter selects, with their sessions: what `payouts failures` reads. */
function attemptsOfSessions(db: Kysely<Database>, filter: AttemptFilter) {
  const query = db
    .selectFrom('payout_attempts as a')
    .innerJoin('sessions as s', 's.id', 'a.session_id')
    .where('a.created_at', '>=', filter.since);
  return filter.mentor ? query.where('s.mentor_id', '=', filter.mentor) : query;
}
