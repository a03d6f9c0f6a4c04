import { describe, expect, it } from 'vitest';
import {
  type PayeeStanding,
  type PlannedPayout,
  type PlannedSession,
  planPayout,
  searchSince,
  sessionChange,
} from '../../shared/payout-plan.ts';
import {
  HOUR_MS,
  KEY_REUSE_WINDOW_MS,
  LAMBDA_MAX_LIFETIME_MS,
  REQUEST_SETTLE_MS,
  SEARCH_MARGIN_MS,
  STRIPE_KEY_RETENTION_MS,
} from '../../shared/runtime-limits.ts';
import { GENEROUS_LIMITS } from '../helpers/fakes.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');
const ago = (ms: number) => new Date(NOW.getTime() - ms);
const CONFIG = { feeBps: 2000, graceHours: 24, limits: GENEROUS_LIMITS };

function session(overrides: Partial<PlannedSession> = {}): PlannedSession {
  return {
    status: 'confirmed',
    payoutStatus: 'pending',
    sessionEndTime: ago(48 * HOUR_MS),
    priceAmount: 10_000n,
    refundedAmount: 0n,
    currency: 'usd',
    stripeChargeId: 'ch_1',
    stripeAccountId: 'acct_1',
    ...overrides,
  };
}

function unfinished(overrides: Partial<PlannedPayout> = {}): PlannedPayout {
  return {
    state: 'in_progress',
    key_generation: 1,
    recovery_point: 'transfer_requested',
    lease_expires_at: null,
    key_first_used_at: ago(HOUR_MS),
    key_last_used_at: ago(HOUR_MS),
    ...overrides,
  };
}

/** The plan for `payout` and a session (an eligible one unless given; null: no such session). */
const plan = (
  payout: PlannedPayout | undefined,
  current: PlannedSession | null = session(),
  paused = false,
) => planPayout({ session: current ?? undefined, payout, now: NOW, paused, config: CONFIG });

describe('planPayout: an unfinished generation is settled first', () => {
  it('resends the key of a generation with no definitive answer while the key is young', () => {
    expect(plan(unfinished())).toEqual({ step: 'resend' });
  });

  it.each([
    ['cancelled', session({ status: 'cancelled' })],
    ['fully refunded', session({ refundedAmount: 10_000n })],
    ['its mentor disconnected', session({ stripeAccountId: null })],
    ['gone', null],
  ])('resends it even though the session is now %s', (_name, current) => {
    expect(plan(unfinished(), current)).toEqual({ step: 'resend' });
  });

  it('stops while another invocation holds the lease', () => {
    const until = new Date(NOW.getTime() + 1);
    expect(plan(unfinished({ lease_expires_at: until }))).toEqual({
      step: 'stop',
      stop: { kind: 'in_progress', until },
    });
  });

  it('no longer resends a key once the reuse window has passed since its first send', () => {
    const payout = unfinished({
      key_first_used_at: ago(KEY_REUSE_WINDOW_MS),
      key_last_used_at: ago(KEY_REUSE_WINDOW_MS),
    });
    expect(plan(payout)).toEqual({ step: 'search' });
  });

  it('waits instead of searching while the last send has not settled, past the window', () => {
    const lastSent = ago(REQUEST_SETTLE_MS - 1);
    const payout = unfinished({
      key_first_used_at: ago(KEY_REUSE_WINDOW_MS + HOUR_MS),
      key_last_used_at: lastSent,
    });
    expect(plan(payout)).toEqual({
      step: 'stop',
      stop: {
        kind: 'unsettled',
        until: new Date(lastSent.getTime() + REQUEST_SETTLE_MS),
        recoveryPoint: 'transfer_requested',
      },
    });
  });

  it('searches at once after Stripe replayed a stored failure, however young the key', () => {
    expect(plan(unfinished({ recovery_point: 'search_required' }))).toEqual({ step: 'search' });
  });

  it('waits for the window to pass after Stripe rejected the key, then searches', () => {
    const firstSent = ago(HOUR_MS * 2);
    const rejected = unfinished({
      recovery_point: 'key_rejected',
      key_first_used_at: firstSent,
      key_last_used_at: firstSent,
    });
    expect(plan(rejected)).toEqual({
      step: 'stop',
      stop: {
        kind: 'unsettled',
        until: new Date(firstSent.getTime() + KEY_REUSE_WINDOW_MS),
        recoveryPoint: 'key_rejected',
      },
    });
    const old = {
      ...rejected,
      key_first_used_at: ago(KEY_REUSE_WINDOW_MS),
      key_last_used_at: ago(KEY_REUSE_WINDOW_MS),
    };
    expect(plan(old)).toEqual({ step: 'search' });
  });

  it('treats a generation without a recorded first send as old: search, never resend', () => {
    expect(plan(unfinished({ key_first_used_at: null, key_last_used_at: null }))).toEqual({
      step: 'search',
    });
  });

  it('moves no money while paused, unfinished generation or not', () => {
    expect(plan(unfinished(), session(), true)).toEqual({ step: 'stop', stop: { kind: 'paused' } });
    expect(plan(undefined, session(), true)).toEqual({ step: 'stop', stop: { kind: 'paused' } });
  });
});

describe('planPayout: no unfinished generation', () => {
  it('starts generation 1 with the net amount, the mentor account and the charge', () => {
    expect(plan(undefined)).toEqual({
      step: 'start',
      generation: 1,
      terms: { amount: 8000, currency: 'usd', destination: 'acct_1', sourceTransaction: 'ch_1' },
    });
  });

  it.each(['refused', 'no_transfer'] as const)(
    'starts the next generation after one that ended %s',
    (state) => {
      expect(plan(unfinished({ state, key_generation: 3 }))).toMatchObject({
        step: 'start',
        generation: 4,
      });
    },
  );

  it('stops on a session that does not exist', () => {
    expect(plan(undefined, null)).toEqual({
      step: 'stop',
      stop: { kind: 'session_not_found' },
    });
  });

  it('ignores a session that is not eligible', () => {
    expect(plan(undefined, session({ status: 'cancelled' }))).toEqual({
      step: 'stop',
      stop: { kind: 'ineligible', reason: 'not_confirmed' },
    });
  });

  it('marks a fully refunded session not payable', () => {
    expect(plan(undefined, session({ refundedAmount: 10_000n }))).toEqual({
      step: 'stop',
      stop: { kind: 'not_payable', net: 0 },
    });
  });

  it.each([
    ['a negative refund', { refundedAmount: -5000n }, 'sessions.refunded_amount -5000 is negative'],
    [
      'a refund above the price',
      { refundedAmount: 10_001n },
      'sessions.refunded_amount 10001 is above sessions.price_amount 10000',
    ],
    ['a price of zero', { priceAmount: 0n }, 'sessions.price_amount 0 is not positive'],
    [
      'a price above 2^53',
      { priceAmount: 2n ** 53n + 1n },
      'sessions.price_amount 9007199254740993 is above 2^53 - 1',
    ],
    [
      'a currency that is not ISO 4217',
      { currency: 'xyz' },
      'sessions.currency "xyz" is not a lower-case ISO 4217 code',
    ],
    [
      'an upper-case currency',
      { currency: 'USD' },
      'sessions.currency "USD" is not a lower-case ISO 4217 code',
    ],
  ])('fails a row with %s for review, never paying it', (_name, overrides, message) => {
    expect(plan(undefined, session(overrides))).toEqual({
      step: 'stop',
      stop: { kind: 'failed', code: 'invalid_session_row', message },
    });
  });

  it('says a paid payout on a pending session is inconsistent rather than paying again', () => {
    expect(plan(unfinished({ state: 'paid' }))).toMatchObject({
      step: 'stop',
      stop: { kind: 'inconsistent' },
    });
  });

  it('ignores a session whose payout is recorded paid and which is paid out', () => {
    expect(plan(unfinished({ state: 'paid' }), session({ payoutStatus: 'paid_out' }))).toEqual({
      step: 'stop',
      stop: { kind: 'ineligible', reason: 'already_paid_out' },
    });
  });
});

describe('planPayout: the payee’s standing (a hold, the account’s readiness)', () => {
  const HELD_AT = ago(2 * HOUR_MS);
  const held: PayeeStanding = {
    hold: { reason: 'chargeback review', heldBy: 'ops@example.com', heldAt: HELD_AT },
    account: undefined,
  };
  const notReady = (id = 'acct_1'): PayeeStanding => ({
    hold: undefined,
    account: { id, transfersActive: false, disabledReason: 'requirements.past_due' },
  });
  const withPayee = (
    payout: PlannedPayout | undefined,
    payee: PayeeStanding,
    current: PlannedSession = session(),
  ) => planPayout({ session: current, payout, now: NOW, paused: false, config: CONFIG, payee });

  it('fails a held mentor’s payable session with mentor_on_hold, saying who held it, when and why', () => {
    expect(withPayee(undefined, held)).toEqual({
      step: 'stop',
      stop: {
        kind: 'failed',
        code: 'mentor_on_hold',
        message: `Payouts to this mentor are on hold since ${HELD_AT.toISOString()} (ops@example.com): chargeback review`,
        // What the session is owed (10 000 less the 20 % fee), for the payout.failed event.
        owed: { amount: 8000, currency: 'usd' },
      },
    });
  });

  it('fails a session whose account Stripe last reported without active transfers with account_not_ready', () => {
    expect(withPayee(undefined, notReady())).toEqual({
      step: 'stop',
      stop: {
        kind: 'failed',
        code: 'account_not_ready',
        message:
          'Stripe last reported account acct_1 without an active transfers capability (disabled_reason requirements.past_due)',
        owed: { amount: 8000, currency: 'usd' },
      },
    });
  });

  it('starts a generation for an account never seen (Stripe decides) or seen ready', () => {
    const ready: PayeeStanding = {
      hold: undefined,
      account: { id: 'acct_1', transfersActive: true, disabledReason: null },
    };
    expect(withPayee(undefined, { hold: undefined, account: undefined })).toMatchObject({
      step: 'start',
    });
    expect(withPayee(undefined, ready)).toMatchObject({ step: 'start' });
  });

  it('ignores the standing of an account the mentor no longer uses', () => {
    expect(withPayee(undefined, notReady('acct_old'))).toMatchObject({ step: 'start' });
  });

  it.each([
    ['held', held],
    ['not ready', notReady()],
  ])(
    'still settles an unfinished generation of a %s payee: resend, then search',
    (_name, payee) => {
      expect(withPayee(unfinished(), payee)).toEqual({ step: 'resend' });
      expect(withPayee(unfinished({ recovery_point: 'search_required' }), payee)).toEqual({
        step: 'search',
      });
    },
  );

  it('judges the session first: nothing to pay is not_payable and a stale message ignored, held or not', () => {
    expect(withPayee(undefined, held, session({ refundedAmount: 10_000n }))).toEqual({
      step: 'stop',
      stop: { kind: 'not_payable', net: 0 },
    });
    expect(withPayee(undefined, notReady(), session({ payoutStatus: 'paid_out' }))).toEqual({
      step: 'stop',
      stop: { kind: 'ineligible', reason: 'already_paid_out' },
    });
  });

  it('names the hold before the account when both apply', () => {
    expect(withPayee(undefined, { ...notReady(), hold: held.hold })).toMatchObject({
      stop: { code: 'mentor_on_hold' },
    });
  });
});

describe('searchSince', () => {
  it('starts the search a margin before the key was first sent', () => {
    expect(searchSince({ key_first_used_at: NOW })).toEqual(ago(SEARCH_MARGIN_MS));
  });
});

describe('sessionChange', () => {
  const terms = { amount: 8000, currency: 'usd', destination: 'acct_1', sourceTransaction: 'ch_1' };

  it('finds no change when the session would be paid exactly so today', () => {
    expect(sessionChange(session(), terms, CONFIG)).toBeUndefined();
  });

  it.each([
    ['cancelled', session({ status: 'cancelled' }), 'the session is now cancelled'],
    ['refunded in full', session({ refundedAmount: 10_000n }), 'the net amount is now 0 usd'],
    [
      'refunded in part',
      session({ refundedAmount: 5000n }),
      'the session changed: net 8000 → 4000',
    ],
    [
      'disconnected',
      session({ stripeAccountId: null }),
      'the session would now fail (no_connected_account): The mentor has no connected Stripe account',
    ],
    [
      'reconnected elsewhere',
      session({ stripeAccountId: 'acct_2' }),
      'the session changed: destination acct_1 → acct_2',
    ],
    ['deleted', undefined, 'the session no longer exists'],
  ])('describes a session %s since its transfer was requested', (_name, current, description) => {
    expect(sessionChange(current, terms, CONFIG)).toBe(description);
  });
});

describe('the timings the protocol rests on', () => {
  it('lets every send started inside the window arrive while Stripe still keeps the key', () => {
    expect(KEY_REUSE_WINDOW_MS + LAMBDA_MAX_LIFETIME_MS).toBeLessThan(STRIPE_KEY_RETENTION_MS);
  });

  it('searches only after any request under the key has outlived every Lambda', () => {
    expect(REQUEST_SETTLE_MS).toBeGreaterThan(LAMBDA_MAX_LIFETIME_MS);
  });
});
