import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';
import type { StripeAccount } from './stripe-accounts.table.ts';

/** What one read of a connected account (GET /v1/accounts/:id) said, and when it was sent. */
export interface AccountObservation {
  accountId: string;
  transfersCapability: string | null;
  payoutsEnabled: boolean;
  disabledReason: string | null;
  observedAt: Date;
}

/**
 * Stores what Stripe said of the account, unless a read sent later is stored already (events come
 * in any order, and two may be handled at once): resolves to the row as stored, or undefined if
 * this observation was older. When the transfers capability becomes active (from anything else, or
 * never seen), `catch_up_pending` is set in the same statement, and stays set until finishCatchUp:
 * a handler that dies before enqueueing the mentor's sessions leaves it for the event's redelivery.
 */
export async function recordAccountObservation(
  db: Kysely<Database>,
  observation: AccountObservation,
  now: Date,
): Promise<StripeAccount | undefined> {
  const active = observation.transfersCapability === 'active';
  const { rows } = await sql<StripeAccount>`
    insert into stripe_accounts as a (account_id, transfers_capability, payouts_enabled,
      disabled_reason, observed_at, catch_up_pending, updated_at)
    values (${observation.accountId}, ${observation.transfersCapability},
      ${observation.payoutsEnabled}, ${observation.disabledReason},
      ${observation.observedAt}::timestamptz, ${active}, ${now}::timestamptz)
    on conflict (account_id) do update set
      transfers_capability = excluded.transfers_capability,
      payouts_enabled = excluded.payouts_enabled,
      disabled_reason = excluded.disabled_reason,
      observed_at = excluded.observed_at,
      catch_up_pending = excluded.catch_up_pending
        and (a.catch_up_pending or a.transfers_capability is distinct from 'active'),
      updated_at = excluded.updated_at
    where a.observed_at <= excluded.observed_at
    returning *`.execute(db);
  return rows[0];
}

/**
 * The waiting sessions were enqueued for this observation: clears the catch-up, unless a newer
 * observation has been stored since (its own handler enqueues).
 */
export async function finishCatchUp(
  db: Kysely<Database>,
  observation: Pick<AccountObservation, 'accountId' | 'observedAt'>,
  now: Date,
): Promise<void> {
  await db
    .updateTable('stripe_accounts')
    .set({ catch_up_pending: false, updated_at: now })
    .where('account_id', '=', observation.accountId)
    .where('observed_at', '=', observation.observedAt)
    .where('catch_up_pending', '=', true)
    .execute();
}

/** The stored standing of these accounts (those ever seen). */
export async function findStripeAccounts(
  db: Kysely<Database>,
  accountIds: readonly string[],
): Promise<StripeAccount[]> {
  if (accountIds.length === 0) return [];
  return db
    .selectFrom('stripe_accounts')
    .selectAll()
    .where('account_id', 'in', accountIds)
    .orderBy('account_id')
    .execute();
}
