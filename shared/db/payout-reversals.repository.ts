import type { Kysely } from 'kysely';
import type { Database } from './database.ts';
import type { PayoutReversal } from './payout-reversals.table.ts';

export interface NewPayoutReversal {
  reversalId: string;
  sessionId: string;
  transferId: string;
  amount: number;
  currency: string;
  reversedAt: Date;
  stripeEventId: string;
}

/**
 * Records reversals Stripe reported; one already recorded (by its `trr_…` id, from an earlier or a
 * duplicated event) is left as it is. Resolves to the rows this call added.
 */
export async function recordPayoutReversals(
  db: Kysely<Database>,
  reversals: readonly NewPayoutReversal[],
  now: Date,
): Promise<PayoutReversal[]> {
  if (reversals.length === 0) return [];
  return db
    .insertInto('payout_reversals')
    .values(
      reversals.map((reversal) => ({
        reversal_id: reversal.reversalId,
        session_id: reversal.sessionId,
        transfer_id: reversal.transferId,
        amount: reversal.amount,
        currency: reversal.currency,
        reversed_at: reversal.reversedAt,
        stripe_event_id: reversal.stripeEventId,
        recorded_at: now,
      })),
    )
    .onConflict((oc) => oc.column('reversal_id').doNothing())
    .returningAll()
    .execute();
}

export interface ReversalOfSession extends PayoutReversal {
  /** Null when the session row no longer exists. */
  mentor_id: string | null;
}

/** Reversals made by Stripe in a time range (by the reversal's own time), optionally one mentor's. */
export async function findReversals(
  db: Kysely<Database>,
  filter: { since: Date; until?: Date; mentor?: string },
): Promise<ReversalOfSession[]> {
  let query = db
    .selectFrom('payout_reversals as r')
    .leftJoin('sessions as s', 's.id', 'r.session_id')
    .selectAll('r')
    .select('s.mentor_id')
    .where('r.reversed_at', '>=', filter.since);
  if (filter.until) query = query.where('r.reversed_at', '<=', filter.until);
  if (filter.mentor) query = query.where('s.mentor_id', '=', filter.mentor);
  return query.orderBy('r.reversed_at', 'desc').orderBy('r.reversal_id').execute();
}

/** Every recorded reversal of these sessions, oldest first. */
export async function findReversalsOfSessions(
  db: Kysely<Database>,
  sessionIds: readonly string[],
): Promise<PayoutReversal[]> {
  if (sessionIds.length === 0) return [];
  return db
    .selectFrom('payout_reversals')
    .selectAll()
    .where('session_id', 'in', sessionIds)
    .orderBy('reversed_at')
    .orderBy('reversal_id')
    .execute();
}
