import { type Kysely, sql, type Transaction } from 'kysely';
import type { PayeeStanding, TransferTerms } from '../payout-plan.ts';
import type { Database } from './database.ts';
import type { NewPayoutAttempt } from './payout-attempts.table.ts';
import { type NewPayoutEvent, payoutEventDetail } from './payout-events.repository.ts';
import type { Payout, RecoveryPoint } from './payouts.table.ts';
import { SESSION_ROW_VERSION } from './sessions.repository.ts';

/** The generation a claim holds: conditional updates name it, so a stale holder changes nothing. */
export type GenerationRef = Pick<Payout, 'session_id' | 'key_generation'>;

export async function findPayout(
  db: Kysely<Database>,
  sessionId: string,
): Promise<Payout | undefined> {
  return db
    .selectFrom('payouts')
    .selectAll()
    .where('session_id', '=', sessionId)
    .executeTakeFirst();
}

/**
 * The session's payout, the kill switch and the payee's standing (an active hold on the mentor, the
 * connected account as Stripe last described it), in one statement: the claim's second read, made
 * after the session lock so that it sees what any claim it waited for wrote.
 */
export async function findPayoutPauseAndPayee(
  trx: Transaction<Database>,
  sessionId: string,
): Promise<{ payout: Payout | undefined; paused: boolean; payee: PayeeStanding }> {
  const { rows } = await sql<Payout & PayeeColumns & { paused: boolean | null }>`
    select p.*, (select paused from payout_controls where id = 1) as paused, ${PAYEE_COLUMNS}
    from (values (1)) as one left join payouts as p on p.session_id = ${sessionId}
    ${payeeJoins(sessionId)}
  `.execute(trx);
  const row = rows[0];
  if (!row) throw new Error('findPayoutPauseAndPayee returned no row');
  const { paused, ...payoutAndPayee } = row;
  return { ...splitPayoutAndPayee(payoutAndPayee), paused: paused === true };
}

/** The payee's standing alone, without a lock: for the operator tools, which never pay. */
export async function findPayeeStanding(
  db: Kysely<Database>,
  sessionId: string,
): Promise<PayeeStanding> {
  const { rows } = await sql<PayeeColumns>`
    select ${PAYEE_COLUMNS} from (values (1)) as one ${payeeJoins(sessionId)}
  `.execute(db);
  const row = rows[0];
  if (!row) throw new Error('findPayeeStanding returned no row');
  return toPayeeStanding(row);
}

/**
 * Each session's payout (if any) and payee standing, for many sessions at once, without a lock:
 * what `payouts preview` plans with, so that it decides as the claim would.
 */
export async function findPayoutsAndPayees(
  db: Kysely<Database>,
  sessionIds: readonly string[],
): Promise<Map<string, { payout: Payout | undefined; payee: PayeeStanding }>> {
  if (sessionIds.length === 0) return new Map();
  const { rows } = await sql<Payout & PayeeColumns & { planned_session_id: string }>`
    select s.id as planned_session_id, p.*, ${PAYEE_COLUMNS}
    from sessions as s
    left join payouts as p on p.session_id = s.id
    ${PAYEE_JOINS}
    where s.id = any(${[...sessionIds]}::uuid[])
  `.execute(db);
  return new Map(
    rows.map(({ planned_session_id, ...payoutAndPayee }) => [
      planned_session_id,
      splitPayoutAndPayee(payoutAndPayee),
    ]),
  );
}

/** A row of a payout's columns (all null when the left join found none) and the payee's. */
function splitPayoutAndPayee(row: Payout & PayeeColumns): {
  payout: Payout | undefined;
  payee: PayeeStanding;
} {
  const {
    payee_account_id,
    payee_transfers_capability,
    payee_disabled_reason,
    hold_reason,
    hold_held_by,
    hold_held_at,
    ...payout
  } = row;
  return {
    payout: payout.session_id === null ? undefined : payout,
    payee: toPayeeStanding(row),
  };
}

interface PayeeColumns {
  payee_account_id: string | null;
  payee_transfers_capability: string | null;
  payee_disabled_reason: string | null;
  hold_reason: string | null;
  hold_held_by: string | null;
  hold_held_at: Date | null;
}

const PAYEE_COLUMNS = sql`a.account_id as payee_account_id,
  a.transfers_capability as payee_transfers_capability,
  a.disabled_reason as payee_disabled_reason,
  h.reason as hold_reason, h.held_by as hold_held_by, h.held_at as hold_held_at`;

/** From a session `s`: its mentor, that mentor's account, their one active hold (one row each). */
const PAYEE_JOINS = sql`
  left join mentors as m on m.id = s.mentor_id
  left join stripe_accounts as a on a.account_id = m.stripe_account_id
  left join mentor_holds as h on h.mentor_id = s.mentor_id and h.released_at is null`;

/** At most one row each: one session and its payee. */
function payeeJoins(sessionId: string) {
  return sql`left join sessions as s on s.id = ${sessionId} ${PAYEE_JOINS}`;
}

function toPayeeStanding(row: PayeeColumns): PayeeStanding {
  return {
    hold:
      row.hold_reason !== null && row.hold_held_at !== null
        ? { reason: row.hold_reason, heldBy: row.hold_held_by ?? '', heldAt: row.hold_held_at }
        : undefined,
    account:
      row.payee_account_id !== null
        ? {
            id: row.payee_account_id,
            transfersActive: row.payee_transfers_capability === 'active',
            disabledReason: row.payee_disabled_reason,
          }
        : undefined,
  };
}

export interface LeaseTimes {
  now: Date;
  leaseExpiresAt: Date;
}

/**
 * Starts key generation `generation` with frozen terms and a lease, its amount reserved against
 * the UTC day of `at.now` (reserveDailyAmount's rule), in one statement; undefined, with nothing
 * written, if that would take the day above `dailyLimit`. Its key is about to be sent.
 */
export async function startPayoutGeneration(
  trx: Transaction<Database>,
  sessionId: string,
  generation: number,
  terms: TransferTerms,
  at: LeaseTimes & { dailyLimit: number },
): Promise<Payout | undefined> {
  const reservation = dailyReservation(
    { session_id: sessionId, key_generation: generation, ...terms },
    at.now,
    at.dailyLimit,
  );
  const { rows } = await sql<Payout>`
    with ${reservation}, started as (
      insert into payouts as p (session_id, claim_count, state, key_generation, amount, currency,
        destination, source_transaction, recovery_point, lease_expires_at, stripe_transfer_id,
        key_first_used_at, key_last_used_at, updated_at)
      select ${sessionId}, 1, 'in_progress', ${generation}, ${terms.amount}, ${terms.currency},
        ${terms.destination}, ${terms.sourceTransaction}, 'transfer_requested', ${at.leaseExpiresAt},
        null, ${at.now}::timestamptz, ${at.now}::timestamptz, ${at.now}::timestamptz
      where exists (select 1 from held) or exists (select 1 from reservation)
      on conflict (session_id) do update set
        state = excluded.state, key_generation = excluded.key_generation,
        amount = excluded.amount, currency = excluded.currency,
        destination = excluded.destination, source_transaction = excluded.source_transaction,
        recovery_point = excluded.recovery_point, lease_expires_at = excluded.lease_expires_at,
        stripe_transfer_id = null, key_first_used_at = excluded.key_first_used_at,
        key_last_used_at = excluded.key_last_used_at, updated_at = excluded.updated_at,
        claim_count = p.claim_count + 1
      returning p.*
    )
    select * from started`.execute(trx);
  return rows[0];
}

/**
 * Takes the lease of an unfinished generation again; its key and terms stay as they were. With
 * `sending`, the key's last use becomes now: a search then waits until this send has settled.
 */
export async function retakePayoutLease(
  trx: Transaction<Database>,
  generation: GenerationRef,
  at: LeaseTimes & { sending: boolean },
): Promise<Payout> {
  return trx
    .updateTable('payouts')
    .set((eb) => ({
      lease_expires_at: at.leaseExpiresAt,
      claim_count: eb('claim_count', '+', 1),
      ...(at.sending && { key_last_used_at: at.now }),
      updated_at: at.now,
    }))
    .where('session_id', '=', generation.session_id)
    .where('key_generation', '=', generation.key_generation)
    .where('state', '=', 'in_progress')
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Ends a generation: paid, or with nothing created (refused, no_transfer); false if it had
 * already ended (another invocation got there first). With `claimCount`, only if nobody claimed
 * the generation since that claim; with `attempt`, the attempt row is written in the same
 * statement, only if the generation ended here.
 */
export async function finishPayoutGeneration(
  trx: Transaction<Database>,
  generation: GenerationRef,
  result: { state: 'paid'; transferId: string } | { state: 'refused' | 'no_transfer' },
  now: Date,
  only: { claimCount?: number; attempt?: NewPayoutAttempt } = {},
): Promise<boolean> {
  let finish = trx
    .updateTable('payouts')
    .set({
      state: result.state,
      stripe_transfer_id: result.state === 'paid' ? result.transferId : null,
      lease_expires_at: null,
      updated_at: now,
    })
    .where('session_id', '=', generation.session_id)
    .where('key_generation', '=', generation.key_generation)
    .where('state', '=', 'in_progress');
  if (only.claimCount !== undefined) finish = finish.where('claim_count', '=', only.claimCount);
  const { attempt } = only;
  if (!attempt) {
    const updated = await finish.executeTakeFirst();
    return updated.numUpdatedRows === 1n;
  }
  const inserted = await trx
    .with('finished', () => finish.returning('session_id'))
    .insertInto('payout_attempts')
    .columns([
      'session_id',
      'outcome',
      'error_code',
      'error_message',
      'stripe_transfer_id',
      'amount',
      'currency',
      'idempotency_key',
    ])
    .expression((eb) =>
      eb
        .selectFrom('finished')
        .select([
          'finished.session_id',
          eb.val(attempt.outcome).as('outcome'),
          eb.val(attempt.error_code ?? null).as('error_code'),
          eb.val(attempt.error_message ?? null).as('error_message'),
          eb.val(attempt.stripe_transfer_id ?? null).as('stripe_transfer_id'),
          eb.val(attempt.amount ?? null).as('amount'),
          eb.val(attempt.currency ?? null).as('currency'),
          eb.val(attempt.idempotency_key ?? null).as('idempotency_key'),
        ]),
    )
    .executeTakeFirst();
  return inserted.numInsertedOrUpdatedRows === 1n;
}

/**
 * recordPaid's common case in one statement, with no transaction around it: the claim's generation
 * becomes paid with its attempt row and its payout.paid event, and the session paid_out, only if
 * the session and its mentor are still the versions the claim read (`rowVersion`), the session is
 * not paid out and the generation is still in progress. Both rows are locked first (the session
 * before the payout, as claims lock them) and rechecked as they are then, so the statement writes
 * all of it or nothing. False: nothing was written, and recordPaid's transaction decides.
 */
export async function recordPaidAsClaimed(
  db: Kysely<Database>,
  generation: GenerationRef,
  rowVersion: string,
  paid: { transferId: string; now: Date; attempt: NewPayoutAttempt; event: NewPayoutEvent },
): Promise<boolean> {
  const { attempt, event } = paid;
  const { rows } = await sql<{ id: string }>`
    with locked as (
      select sessions.id, sessions.mentor_id
      from sessions
      join mentors on mentors.id = sessions.mentor_id
      join payouts on payouts.session_id = sessions.id
      where sessions.id = ${generation.session_id}
        and sessions.payout_status in ('pending', 'not_payable')
        and ${SESSION_ROW_VERSION} = ${rowVersion}
        and payouts.key_generation = ${generation.key_generation}
        and payouts.state = 'in_progress'
      for update of sessions, payouts
    ),
    marked as (
      update sessions set payout_status = 'paid_out'
      from locked where sessions.id = locked.id
      returning sessions.id
    ),
    finished as (
      update payouts
      set state = 'paid', stripe_transfer_id = ${paid.transferId}, lease_expires_at = null,
        updated_at = ${paid.now}
      from marked
      where payouts.session_id = marked.id
        and payouts.key_generation = ${generation.key_generation}
        and payouts.state = 'in_progress'
      returning payouts.session_id
    ),
    attempt as (
      insert into payout_attempts (session_id, outcome, error_code, error_message,
        stripe_transfer_id, amount, currency, idempotency_key)
      select session_id, ${attempt.outcome}, ${attempt.error_code ?? null},
        ${attempt.error_message ?? null}, ${attempt.stripe_transfer_id ?? null},
        ${attempt.amount ?? null}, ${attempt.currency ?? null}, ${attempt.idempotency_key ?? null}
      from finished
      returning session_id
    ),
    new_event as (select gen_random_uuid() as id)
    insert into payout_events (id, event_type, session_id, occurred_at, detail)
    select new_event.id, ${event.type}, attempt.session_id, ${event.occurredAt},
      ${payoutEventDetail(event, 'new_event.id', 'locked.mentor_id')}
    from attempt join locked on locked.id = attempt.session_id cross join new_event
    returning payout_events.id
  `.execute(db);
  return rows.length === 1;
}

/**
 * Records a transfer found at Stripe for a session whose payout row does not expect it (a transfer
 * made by hand, or adopted by reconciliation): the payout becomes paid with the transfer's terms.
 */
export async function adoptTransfer(
  trx: Transaction<Database>,
  sessionId: string,
  transfer: TransferTerms & { id: string },
  now: Date,
): Promise<void> {
  const values = {
    state: 'paid' as const,
    amount: transfer.amount,
    currency: transfer.currency,
    destination: transfer.destination,
    source_transaction: transfer.sourceTransaction,
    stripe_transfer_id: transfer.id,
    lease_expires_at: null,
    updated_at: now,
  };
  await trx
    .insertInto('payouts')
    .values({
      session_id: sessionId,
      key_generation: 1,
      claim_count: 0,
      key_first_used_at: null,
      key_last_used_at: null,
      ...values,
    })
    .onConflict((oc) => oc.column('session_id').doUpdateSet(values))
    .execute();
}

/**
 * Lets the next delivery resume at once instead of waiting for the lease to expire, at the given
 * recovery point. Only the claim that holds the lease (its claim_count) releases it.
 */
export async function releasePayoutLease(
  trx: Transaction<Database>,
  holder: GenerationRef & Pick<Payout, 'claim_count'>,
  recoveryPoint: RecoveryPoint,
  now: Date,
): Promise<void> {
  await trx
    .updateTable('payouts')
    .set({ lease_expires_at: null, recovery_point: recoveryPoint, updated_at: now })
    .where('session_id', '=', holder.session_id)
    .where('key_generation', '=', holder.key_generation)
    .where('state', '=', 'in_progress')
    .where('claim_count', '=', holder.claim_count)
    .execute();
}

export const utcDay = (at: Date) => at.toISOString().slice(0, 10);

/**
 * Reserves the generation's amount against `at`'s UTC day in its currency, unless that would take
 * the day above `limit`; true if the generation now holds a reservation for that day (it may
 * already have had one).
 */
export async function reserveDailyAmount(
  trx: Transaction<Database>,
  payout: GenerationRef & Pick<Payout, 'currency' | 'amount'>,
  at: Date,
  limit: number,
): Promise<boolean> {
  const { rows } = await sql<{ reserved: boolean }>`
    with ${dailyReservation(payout, at, limit)}
    select exists (select 1 from held) or exists (select 1 from reservation) as reserved
  `.execute(trx);
  return rows[0]?.reserved === true;
}

/**
 * The reservation as common table expressions: `held` (the generation already holds the day) and
 * `reservation` (newly reserved). The day's running total is raised by a conditional upsert, so
 * concurrent claims queue on the day's row, and the reservation is written with it.
 */
function dailyReservation(
  payout: GenerationRef & Pick<Payout, 'currency' | 'amount'>,
  at: Date,
  limit: number,
) {
  const { session_id: sessionId, key_generation: generation, currency, amount } = payout;
  const day = utcDay(at);
  return sql`
    held as (
      select 1 from payout_reservations
      where session_id = ${sessionId} and key_generation = ${generation} and day = ${day}
        and released_at is null
    ), total as (
      insert into payout_daily_totals as totals (currency, day, amount)
      select ${currency}, ${day}, ${amount}
      where not exists (select 1 from held) and ${amount}::bigint <= ${limit}::bigint
      on conflict (currency, day) do update set amount = totals.amount + excluded.amount
      where totals.amount + excluded.amount <= ${limit}::bigint
      returning 1
    ), reservation as (
      insert into payout_reservations (session_id, key_generation, day, currency, amount)
      select ${sessionId}, ${generation}, ${day}, ${currency}, ${amount} from total
      on conflict (session_id, key_generation, day) do update set released_at = null
      returning 1
    )`;
}

/** Gives back what a generation holds, on the days it holds it: a request that created nothing. */
export async function releaseReservations(
  trx: Transaction<Database>,
  generation: GenerationRef,
  now: Date,
): Promise<void> {
  await sql`
    with released as (
      update payout_reservations set released_at = ${now}
      where session_id = ${generation.session_id}
        and key_generation = ${generation.key_generation}
        and released_at is null
      returning currency, day, amount
    )
    update payout_daily_totals as totals
    set amount = greatest(0, totals.amount - released.amount)
    from released
    where totals.currency = released.currency and totals.day = released.day`.execute(trx);
}

export interface PaidPayout {
  sessionId: string;
  transferId: string;
  amount: number;
  currency: string;
  destination: string;
}

/** Payouts recorded as paid in a time range (by when they were recorded). */
export async function findPaidPayouts(
  db: Kysely<Database>,
  range: { since: Date; until: Date },
): Promise<PaidPayout[]> {
  const rows = await db
    .selectFrom('payouts')
    .select(['session_id', 'stripe_transfer_id', 'amount', 'currency', 'destination'])
    .where('state', '=', 'paid')
    .where('updated_at', '>=', range.since)
    .where('updated_at', '<=', range.until)
    .orderBy('updated_at')
    .execute();
  return rows.map((row) => ({
    sessionId: row.session_id,
    transferId: row.stripe_transfer_id ?? '',
    amount: row.amount,
    currency: row.currency,
    destination: row.destination,
  }));
}

/** The paid payout that recorded this transfer, if any. */
export async function findPayoutByTransferId(
  db: Kysely<Database>,
  transferId: string,
): Promise<Payout | undefined> {
  return db
    .selectFrom('payouts')
    .selectAll()
    .where('stripe_transfer_id', '=', transferId)
    .executeTakeFirst();
}

/** The transfer id recorded for a session, if its payout is paid. */
export async function findRecordedTransferId(
  db: Kysely<Database>,
  sessionId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('payouts')
    .select('stripe_transfer_id')
    .where('session_id', '=', sessionId)
    .where('state', '=', 'paid')
    .executeTakeFirst();
  return row?.stripe_transfer_id ?? undefined;
}

/**
 * Sessions with an unfinished generation that the eligible-session scan does not cover (cancelled,
 * refunded, not pending any more, …): they are settled first whatever the session says, so the
 * scan enqueues them too, or a transfer behind a lost answer could stay unrecorded.
 */
export async function findUnfinishedPayoutsOutsideScan(
  db: Kysely<Database>,
  cutoff: Date,
): Promise<string[]> {
  const rows = await db
    .selectFrom('payouts as p')
    .innerJoin('sessions as s', 's.id', 'p.session_id')
    .select('p.session_id')
    .where('p.state', '=', 'in_progress')
    .where((eb) =>
      eb.not(
        eb.and([
          eb('s.status', '=', 'confirmed'),
          eb('s.payout_status', '=', 'pending'),
          eb('s.session_end_time', '<', cutoff),
        ]),
      ),
    )
    .execute();
  return rows.map((row) => row.session_id);
}
