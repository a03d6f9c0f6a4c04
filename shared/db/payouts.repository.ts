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

/** Starts key generation 1, or a fresh generation after a refusal, with new terms and a lease. */
export async function startPayoutGeneration(
  trx: DbOrTrx,
  sessionId: string,
  generation: number,
  terms: TransferTerms,
  leaseExpiresAt: Date,
): Promise<Payout> {
  const values = {
    state: 'in_progress' as const,
    key_generation: generation,
    amount: terms.amount,
    currency: terms.currency,
    destination: terms.destination,
    source_transaction: terms.sourceTransaction,
    lease_expires_at: leaseExpiresAt,
    stripe_transfer_id: null,
    updated_at: new Date(),
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
  leaseExpiresAt: Date,
): Promise<Payout> {
  return trx
    .updateTable('payouts')
    .set((eb) => ({
      lease_expires_at: leaseExpiresAt,
      claim_count: eb('claim_count', '+', 1),
      updated_at: new Date(),
    }))
    .where('session_id', '=', sessionId)
    .where('state', '=', 'in_progress')
    .returningAll()
    .executeTakeFirstOrThrow();
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

/** Lets the next delivery claim the payout at once instead of waiting for the lease to expire. */
export async function releasePayoutLease(
  trx: DbOrTrx,
  payout: Pick<Payout, 'session_id' | 'key_generation'>,
): Promise<void> {
  await trx
    .updateTable('payouts')
    .set({ lease_expires_at: null, updated_at: new Date() })
    .where('session_id', '=', payout.session_id)
    .where('key_generation', '=', payout.key_generation)
    .where('state', '=', 'in_progress')
    .execute();
}

export async function recordAttempt(trx: DbOrTrx, attempt: NewPayoutAttempt): Promise<void> {
  await trx.insertInto('payout_attempts').values(attempt).execute();
}
