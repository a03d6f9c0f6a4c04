import { describe, expect, it } from 'vitest';
import {
  checkEligibility,
  eligibilityCutoff,
  netAmount,
  type PayableSession,
  payoutDecision,
  roundHalfUpDivide,
} from '../../shared/payout-policy.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';

const NOW = new Date('2026-11-25T12:00:00.000Z');

function session(overrides: Partial<PayableSession> = {}): PayableSession {
  return {
    status: 'confirmed',
    payoutStatus: 'pending',
    sessionEndTime: new Date(NOW.getTime() - 48 * HOUR_MS),
    priceAmount: 10_000,
    refundedAmount: 0,
    ...overrides,
  };
}

describe('checkEligibility', () => {
  it('accepts a confirmed, pending session that ended more than 24 h ago', () => {
    expect(checkEligibility(session(), NOW, 24)).toEqual({ eligible: true });
  });

  it('refuses a session that ended exactly 24 h ago', () => {
    const endedExactly = session({ sessionEndTime: new Date(NOW.getTime() - 24 * HOUR_MS) });
    expect(checkEligibility(endedExactly, NOW, 24)).toEqual({
      eligible: false,
      reason: 'too_recent',
    });
  });

  it('accepts a session that ended 24 h and one millisecond ago', () => {
    const endedJustBefore = session({ sessionEndTime: new Date(NOW.getTime() - 24 * HOUR_MS - 1) });
    expect(checkEligibility(endedJustBefore, NOW, 24)).toEqual({ eligible: true });
  });

  it('honours a custom grace period', () => {
    const endedTwoHoursAgo = session({ sessionEndTime: new Date(NOW.getTime() - 2 * HOUR_MS) });
    expect(checkEligibility(endedTwoHoursAgo, NOW, 1)).toEqual({ eligible: true });
    expect(checkEligibility(endedTwoHoursAgo, NOW, 2).eligible).toBe(false);
  });

  it.each([
    ['pending', 'not_confirmed'],
    ['cancelled', 'not_confirmed'],
    ['completed', 'not_confirmed'],
  ])('refuses a session whose status is %s', (status, reason) => {
    expect(checkEligibility(session({ status }), NOW, 24)).toEqual({ eligible: false, reason });
  });

  it('refuses a session already paid out', () => {
    expect(checkEligibility(session({ payoutStatus: 'paid_out' }), NOW, 24)).toEqual({
      eligible: false,
      reason: 'already_paid_out',
    });
  });

  it('refuses a session marked not payable', () => {
    expect(checkEligibility(session({ payoutStatus: 'not_payable' }), NOW, 24)).toEqual({
      eligible: false,
      reason: 'not_payable',
    });
  });

  it('puts the cutoff exactly grace hours before now', () => {
    expect(eligibilityCutoff(NOW, 24).toISOString()).toBe('2026-11-24T12:00:00.000Z');
  });
});

describe('netAmount', () => {
  it('takes the platform fee from what the mentee kept paid', () => {
    expect(netAmount({ priceAmount: 10_000, refundedAmount: 2_000 }, 2000)).toEqual({
      kept: 8_000,
      fee: 1_600,
      net: 6_400,
    });
  });

  it('rounds a fee of exactly half a minor unit up', () => {
    // 2.5 * 2000 / 10000 = 0.5 → 1
    expect(netAmount({ priceAmount: 5, refundedAmount: 0 }, 1000)).toEqual({
      kept: 5,
      fee: 1,
      net: 4,
    });
  });

  it('rounds a fee below half a minor unit down', () => {
    // 1234 * 2000 / 10000 = 246.8 → 247; 1232 * 2000 / 10000 = 246.4 → 246
    expect(netAmount({ priceAmount: 1234, refundedAmount: 0 }, 2000).fee).toBe(247);
    expect(netAmount({ priceAmount: 1232, refundedAmount: 0 }, 2000).fee).toBe(246);
  });

  it('works in whole units for a zero-decimal currency such as jpy', () => {
    // ¥1,999 at 20 %: fee 399.8 → 400, net 1,599
    expect(netAmount({ priceAmount: 1_999, refundedAmount: 0 }, 2000)).toEqual({
      kept: 1_999,
      fee: 400,
      net: 1_599,
    });
  });

  it('gives a net of zero when the whole price was refunded', () => {
    expect(netAmount({ priceAmount: 10_000, refundedAmount: 10_000 }, 2000).net).toBe(0);
  });

  it('gives a negative net and no fee when more was refunded than paid', () => {
    expect(netAmount({ priceAmount: 100, refundedAmount: 150 }, 2000)).toEqual({
      kept: -50,
      fee: 0,
      net: -50,
    });
  });

  it('keeps integer precision for amounts whose fee product exceeds 2^53', () => {
    const price = 9_007_199_254_740_991; // Number.MAX_SAFE_INTEGER
    const { fee, net } = netAmount({ priceAmount: price, refundedAmount: 0 }, 2000);
    expect(BigInt(fee)).toBe((BigInt(price) * 2000n * 2n + 10_000n) / 20_000n);
    expect(BigInt(fee) + BigInt(net)).toBe(BigInt(price));
  });

  it('takes no fee at 0 bps and everything at 10000 bps', () => {
    expect(netAmount({ priceAmount: 999, refundedAmount: 0 }, 0).net).toBe(999);
    expect(netAmount({ priceAmount: 999, refundedAmount: 0 }, 10_000).net).toBe(0);
  });
});

describe('roundHalfUpDivide', () => {
  it.each([
    [14n, 10n, 1n],
    [15n, 10n, 2n],
    [16n, 10n, 2n],
    [25n, 10n, 3n],
    [0n, 10n, 0n],
  ])('rounds %i / %i to %i', (numerator, denominator, expected) => {
    expect(roundHalfUpDivide(numerator, denominator)).toBe(expected);
  });
});

describe('payoutDecision', () => {
  const config = {
    feeBps: 2000,
    limits: { perTransfer: { usd: 5000, '*': 1_000_000 }, dailyTotal: { '*': 1 } },
  };
  const session = {
    priceAmount: 1000,
    refundedAmount: 0,
    currency: 'usd',
    stripeAccountId: 'acct_1',
  };

  it('pays the net amount to the mentor account', () => {
    expect(payoutDecision(session, config)).toEqual({
      kind: 'pay',
      net: 800,
      destination: 'acct_1',
    });
  });

  it('marks a fully refunded session not payable, before looking at the account', () => {
    expect(
      payoutDecision({ ...session, refundedAmount: 1000, stripeAccountId: null }, config),
    ).toEqual({
      kind: 'not_payable',
      net: 0,
    });
  });

  it('fails a net amount above the currency’s per-transfer limit', () => {
    expect(payoutDecision({ ...session, priceAmount: 10_000 }, config)).toMatchObject({
      kind: 'failed',
      code: 'amount_over_limit',
    });
  });

  it('applies the * limit to other currencies', () => {
    expect(payoutDecision({ ...session, priceAmount: 10_000, currency: 'eur' }, config).kind).toBe(
      'pay',
    );
  });

  it('fails a mentor without a connected account', () => {
    expect(payoutDecision({ ...session, stripeAccountId: null }, config)).toMatchObject({
      kind: 'failed',
      code: 'no_connected_account',
    });
  });

  it('fails a row whose currency is not a lower-case ISO code', () => {
    expect(payoutDecision({ ...session, currency: 'USD' }, config)).toMatchObject({
      kind: 'failed',
      code: 'invalid_session_row',
    });
  });

  it('says what a failed session is owed when its row allows computing it, and not otherwise', () => {
    const overLimit = payoutDecision({ ...session, priceAmount: 10_000 }, config);
    const unconnected = payoutDecision({ ...session, stripeAccountId: null }, config);
    const invalid = payoutDecision({ ...session, currency: 'USD' }, config);

    expect(overLimit).toMatchObject({ kind: 'failed', net: 8000 });
    expect(unconnected).toMatchObject({ kind: 'failed', net: netAmount(session, 2000).net });
    expect(invalid).not.toHaveProperty('net');
  });
});
