import type { Kysely } from 'kysely';
import type { Database } from '../shared/db/database.ts';
import { HOUR_MS } from '../shared/runtime-limits.ts';

/**
 * The demo marketplace `npm start` pays and the transfer handler tests check:
 * - Ada's account is active: her three eligible sessions (usd with a charge, eur with a partial
 *   refund, jpy) are paid.
 * - Ben's account is restricted: Stripe refuses his session, which fails for admin review and
 *   stays pending. (`npm start` then makes his account active at the Stripe stand-in, and its
 *   `account.updated` gets the session paid: the catch-up.)
 * - Cleo has no connected account (fails too); a full refund is not payable; and sessions that are
 *   not eligible (too recent, cancelled, already paid out) are left alone.
 */
export const DEMO_ACCOUNTS = {
  active: 'acct_1DemoAdaActive',
  restricted: 'acct_1DemoBenRestricted',
} as const;

export const DEMO_MENTORS = {
  ada: '11111111-1111-4111-8111-111111111111',
  ben: '22222222-2222-4222-8222-222222222222',
  cleo: '33333333-3333-4333-8333-333333333333',
} as const;

export const DEMO_SESSIONS = {
  adaUsd: 'a0000000-0000-4000-8000-000000000001',
  adaEurRefunded: 'a0000000-0000-4000-8000-000000000002',
  adaJpy: 'a0000000-0000-4000-8000-000000000003',
  benRestricted: 'b0000000-0000-4000-8000-000000000001',
  cleoNoAccount: 'c0000000-0000-4000-8000-000000000001',
  adaFullyRefunded: 'a0000000-0000-4000-8000-000000000004',
  adaTooRecent: 'a0000000-0000-4000-8000-000000000005',
  adaCancelled: 'a0000000-0000-4000-8000-000000000006',
  adaAlreadyPaid: 'a0000000-0000-4000-8000-000000000007',
} as const;

export const DEMO_CHARGE_ID = 'ch_1DemoAdaUsdCharge';

export async function seedDemoData(db: Kysely<Database>, now: Date): Promise<void> {
  const hoursAgo = (hours: number) => new Date(now.getTime() - hours * HOUR_MS);
  await db
    .insertInto('mentors')
    .values([
      { id: DEMO_MENTORS.ada, stripe_account_id: DEMO_ACCOUNTS.active },
      { id: DEMO_MENTORS.ben, stripe_account_id: DEMO_ACCOUNTS.restricted },
      { id: DEMO_MENTORS.cleo, stripe_account_id: null },
    ])
    .execute();
  const session = (id: string, mentorId: string, endedHoursAgo: number) => ({
    id,
    mentor_id: mentorId,
    status: 'confirmed',
    session_end_time: hoursAgo(endedHoursAgo),
    price_amount: 10_000,
    currency: 'usd',
    stripe_charge_id: null as string | null,
  });
  await db
    .insertInto('sessions')
    .values([
      {
        ...session(DEMO_SESSIONS.adaUsd, DEMO_MENTORS.ada, 30),
        price_amount: 12_000,
        stripe_charge_id: DEMO_CHARGE_ID,
      },
      {
        ...session(DEMO_SESSIONS.adaEurRefunded, DEMO_MENTORS.ada, 50),
        price_amount: 8_000,
        refunded_amount: 2_000,
        currency: 'eur',
      },
      {
        ...session(DEMO_SESSIONS.adaJpy, DEMO_MENTORS.ada, 26),
        price_amount: 5_000,
        currency: 'jpy',
      },
      { ...session(DEMO_SESSIONS.benRestricted, DEMO_MENTORS.ben, 40), price_amount: 9_000 },
      { ...session(DEMO_SESSIONS.cleoNoAccount, DEMO_MENTORS.cleo, 72) },
      { ...session(DEMO_SESSIONS.adaFullyRefunded, DEMO_MENTORS.ada, 36), refunded_amount: 10_000 },
      { ...session(DEMO_SESSIONS.adaTooRecent, DEMO_MENTORS.ada, 2) },
      { ...session(DEMO_SESSIONS.adaCancelled, DEMO_MENTORS.ada, 48), status: 'cancelled' },
      { ...session(DEMO_SESSIONS.adaAlreadyPaid, DEMO_MENTORS.ada, 96), payout_status: 'paid_out' },
    ])
    .execute();
}
