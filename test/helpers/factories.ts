import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Database } from '../../shared/db/database.ts';
import type { NewPayout, PayoutState } from '../../shared/db/payouts.table.ts';
import type { NewSession } from '../../shared/db/sessions.table.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';

export async function insertMentor(
  db: Kysely<Database>,
  overrides: { id?: string; stripeAccountId?: string | null } = {},
): Promise<string> {
  const id = overrides.id ?? randomUUID();
  await db
    .insertInto('mentors')
    .values({
      id,
      stripe_account_id:
        overrides.stripeAccountId === undefined
          ? `acct_${randomUUID().slice(0, 16)}`
          : overrides.stripeAccountId,
    })
    .execute();
  return id;
}

/** A session that is eligible by default: confirmed, pending, ended 48 h before `now`. */
export async function insertSession(
  db: Kysely<Database>,
  mentorId: string,
  overrides: Partial<NewSession> & { endedHoursAgo?: number; now?: Date } = {},
): Promise<string> {
  const { endedHoursAgo = 48, now = new Date(), ...columns } = overrides;
  const id = columns.id ?? randomUUID();
  await db
    .insertInto('sessions')
    .values({
      id,
      mentor_id: mentorId,
      status: 'confirmed',
      session_end_time: new Date(now.getTime() - endedHoursAgo * HOUR_MS),
      price_amount: 10_000,
      currency: 'usd',
      stripe_charge_id: null,
      ...columns,
    })
    .execute();
  return id;
}

/**
 * A session's payouts row as a claim leaves it: generation 1 in progress, 8000 usd, its key first
 * and last sent at `keyFirstUsedAt` (now by default), no lease unless given.
 */
export async function seedPayout(
  db: Kysely<Database>,
  sessionId: string,
  overrides: {
    state?: PayoutState;
    amount?: number;
    destination?: string;
    leaseExpiresAt?: Date | null;
    keyFirstUsedAt?: Date;
  } = {},
): Promise<void> {
  const keyFirstUsedAt = overrides.keyFirstUsedAt ?? new Date();
  const payout: NewPayout = {
    session_id: sessionId,
    state: overrides.state ?? 'in_progress',
    key_generation: 1,
    amount: overrides.amount ?? 8000,
    currency: 'usd',
    destination: overrides.destination ?? 'acct_1SeededPayout',
    source_transaction: null,
    lease_expires_at: overrides.leaseExpiresAt ?? null,
    stripe_transfer_id: null,
    claim_count: 1,
    key_first_used_at: keyFirstUsedAt,
    key_last_used_at: keyFirstUsedAt,
  };
  await db.insertInto('payouts').values(payout).execute();
}

export async function sessionPayoutStatus(
  db: Kysely<Database>,
  sessionId: string,
): Promise<string | undefined> {
  const row = await db
    .selectFrom('sessions')
    .select('payout_status')
    .where('id', '=', sessionId)
    .executeTakeFirst();
  return row?.payout_status;
}

export async function attemptsFor(db: Kysely<Database>, sessionId: string) {
  return db
    .selectFrom('payout_attempts')
    .selectAll()
    .where('session_id', '=', sessionId)
    .orderBy('id')
    .execute();
}
