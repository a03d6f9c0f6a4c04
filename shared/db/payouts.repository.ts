import { sql } from 'kysely';
import type { DbOrTrx } from './database.ts';
import type { NewPayoutAttempt } from './payout-attempts.table.ts';
import type { Payout } from './payouts.table.ts';

export async function findPayout(trx: DbOrTrx, sessionId: string): Promise<Payout | undefined> {
  return trx
    .selectFrom('payouts')
    .selectAll()
    .where('session_id', '=', sessionId)
    .executeTakeFirst();
}

export interface TransferTerms {
  amount: number;
  currency: string;
  destination: string;
  sourceTransaction: string | null;
}

/** Starts key generation 1, or a fresh generation, with new terms, a lease, and an unused key. */
export async function startPayoutGeneration(
  trx: DbOrTrx,
  sessionId: string,
  generation: number,
  terms: TransferTerms,
  at: { now: Date; leaseExpiresAt: Date },
): Promise<Payout> {
  const values = {
    state: 'in_progress' as const,
    key_generation: generation,
    amount: terms.amount,
    currency: terms.currency,
    destination: terms.destination,
    source_transaction: terms.sourceTransaction,
    lease_expires_at: at.leaseExpiresAt,
    stripe_transfer_id: null,
    key_first_used_at: at.now,
    outcome_unknown: false,
    generation_started_at: at.now,
    updated_at: at.now,
  };
  return trx
    .insertInto('payouts')
    .values({ session_id: sessionId, claim_count: 1, ...values })
    .onConflict((oc) =>
      oc.column('session_id').doUpdateSet((eb) => ({
        ...values,
        claim_count: eb('payouts.claim_count', '+', 1),
      })),
    )
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Takes the lease again on an unfinished generation; its key and terms stay as they were. */
export async function renewPayoutLease(
  trx: DbOrTrx,
  sessionId: string,
  at: { now: Date; leaseExpiresAt: Date },
): Promise<Payout> {
  return trx
    .updateTable('payouts')
    .set((eb) => ({
      lease_expires_at: at.leaseExpiresAt,
      claim_count: eb('claim_count', '+', 1),
      key_first_used_at: eb.fn.coalesce('key_first_used_at', eb.val(at.now)),
      updated_at: at.now,
    }))
    .where('session_id', '=', sessionId)
    .where('state', '=', 'in_progress')
    .returningAll()
    .executeTakeFirstOrThrow();
}

const utcDay = (at: Date) => at.toISOString().slice(0, 10);

/**
 * Adds `amount` to what was started in `currency` on `at`'s UTC day, unless that would exceed
 * `limit`; true if added. One conditional upsert: concurrent claims queue on the day's row.
 */
export async function reserveDailyAmount(
  trx: DbOrTrx,
  reservation: { currency: string; amount: number; at: Date; limit: number },
): Promise<boolean> {
  const { currency, amount, at, limit } = reservation;
  if (amount > limit) return false;
  const row = await trx
    .insertInto('payout_daily_totals')
    .values({ currency, day: utcDay(at), amount })
    .onConflict((oc) =>
      oc
        .columns(['currency', 'day'])
        .doUpdateSet((eb) => ({
          amount: eb('payout_daily_totals.amount', '+', eb.ref('excluded.amount')),
        }))
        .where(sql`payout_daily_totals.amount + excluded.amount`, '<=', limit),
    )
    .returning('amount')
    .executeTakeFirst();
  return row !== undefined;
}

/** Gives back a reservation whose transfer Stripe refused (nothing was sent). */
export async function releaseDailyAmount(
  trx: DbOrTrx,
  reservation: { currency: string; amount: number; at: Date },
): Promise<void> {
  await trx
    .updateTable('payout_daily_totals')
    .set((eb) => ({
      amount: sql<number>`greatest(0, ${eb.ref('amount')} - ${reservation.amount})`,
    }))
    .where('currency', '=', reservation.currency)
    .where('day', '=', utcDay(reservation.at))
    .execute();
}

/** Ends a generation; false if it had already ended (another invocation recorded it first). */
export async function finishPayoutGeneration(
  trx: DbOrTrx,
  payout: Pick<Payout, 'session_id' | 'key_generation'>,
  result: { state: 'paid'; transferId: string } | { state: 'refused' },
): Promise<boolean> {
  const updated = await trx
    .updateTable('payouts')
    .set({
      state: result.state,
      stripe_transfer_id: result.state === 'paid' ? result.transferId : null,
      lease_expires_at: null,
      updated_at: new Date(),
    })
    .where('session_id', '=', payout.session_id)
    .where('key_generation', '=', payout.key_generation)
    .where('state', '=', 'in_progress')
    .executeTakeFirst();
  return updated.numUpdatedRows === 1n;
}

/**
 * Lets the next delivery claim the payout at once instead of waiting for the lease to expire;
 * an unknown outcome is remembered until a search of Stripe settles it.
 */
export async function releasePayoutLease(
  trx: DbOrTrx,
  payout: Pick<Payout, 'session_id' | 'key_generation'>,
  outcomeUnknown: boolean,
): Promise<void> {
  await trx
    .updateTable('payouts')
    .set({
      lease_expires_at: null,
      outcome_unknown: sql<boolean>`outcome_unknown or ${outcomeUnknown}`,
      updated_at: new Date(),
    })
    .where('session_id', '=', payout.session_id)
    .where('key_generation', '=', payout.key_generation)
    .where('state', '=', 'in_progress')
    .execute();
}

export async function recordAttempt(trx: DbOrTrx, attempt: NewPayoutAttempt): Promise<void> {
  await trx.insertInto('payout_attempts').values(attempt).execute();
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
  db: DbOrTrx,
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

/**
 * Records a transfer found at Stripe but not here: the payout becomes paid with the transfer's
 * own terms, the session paid_out, and an attempt row says it was reconciled. False when the
 * session does not exist or its payout is already recorded as paid.
 */
export async function recordReconciledTransfer(
  trx: DbOrTrx,
  transfer: {
    id: string;
    sessionId: string;
    amount: number;
    currency: string;
    destination: string;
  },
  now: Date,
): Promise<boolean> {
  const session = await trx
    .selectFrom('sessions')
    .select('id')
    .where('id', '=', transfer.sessionId)
    .forUpdate()
    .executeTakeFirst();
  const existing = await findPayout(trx, transfer.sessionId);
  if (!session || existing?.state === 'paid') return false;
  const values = {
    state: 'paid' as const,
    amount: transfer.amount,
    currency: transfer.currency,
    destination: transfer.destination,
    stripe_transfer_id: transfer.id,
    lease_expires_at: null,
    outcome_unknown: false,
    updated_at: now,
  };
  await trx
    .insertInto('payouts')
    .values({
      session_id: transfer.sessionId,
      key_generation: 1,
      source_transaction: null,
      claim_count: 0,
      key_first_used_at: null,
      ...values,
    })
    .onConflict((oc) => oc.column('session_id').doUpdateSet(values))
    .execute();
  await trx
    .updateTable('sessions')
    .set({ payout_status: 'paid_out' })
    .where('id', '=', transfer.sessionId)
    .execute();
  await recordAttempt(trx, {
    session_id: transfer.sessionId,
    outcome: 'paid',
    error_code: 'reconciled',
    error_message: 'Transfer found at Stripe by reconciliation and recorded',
    stripe_transfer_id: transfer.id,
    amount: transfer.amount,
    currency: transfer.currency,
    idempotency_key: null,
  });
  return true;
}
