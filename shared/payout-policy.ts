import type { PolicyFailureCode } from './payout-codes.ts';
import { HOUR_MS } from './runtime-limits.ts';

/**
 * Payout rules (README, "Eligibility and amount"):
 * - eligible: status 'confirmed', payout_status 'pending', ended strictly before now - grace hours
 * - a row outside the rules is never paid: price <= 0 or above 2^53 - 1, refunded < 0 or above
 *   the price, currency not a lower-case ISO 4217 code ('invalid_session_row')
 * - kept = price - refunded; fee = round_half_up(kept * feeBps / 10000); net = kept - fee
 * - net <= 0: nothing is transferred and the session becomes 'not_payable'
 * - net above the currency's per-transfer limit, or pushing the day's total in that currency above
 *   its daily limit: the payout fails (held for admin review) instead of being paid
 * All amounts are integers in the currency's minor unit; no floating point anywhere.
 */

/** Amounts as the database holds them (bigint); a value past 2^53 must be seen, not rounded. */
export type MinorUnits = number | bigint;

export interface PayableSession {
  status: string;
  payoutStatus: string;
  sessionEndTime: Date;
  priceAmount: MinorUnits;
  refundedAmount: MinorUnits;
}

export type Ineligibility = 'not_confirmed' | 'already_paid_out' | 'not_payable' | 'too_recent';

export type Eligibility = { eligible: true } | { eligible: false; reason: Ineligibility };

export interface NetAmount {
  kept: number;
  fee: number;
  net: number;
}

const BPS_DENOMINATOR = 10_000n;
const MAX_AMOUNT = BigInt(Number.MAX_SAFE_INTEGER);
/** ISO 4217 codes in use, lower case, as Stripe writes them (ICU's list, shipped with Node). */
const ISO_CURRENCIES = new Set(
  Intl.supportedValuesOf('currency').map((code) => code.toLowerCase()),
);

/** Sessions that ended strictly before this instant are old enough to pay. */
export function eligibilityCutoff(now: Date, graceHours: number): Date {
  return new Date(now.getTime() - graceHours * HOUR_MS);
}

export function checkEligibility(
  session: PayableSession,
  now: Date,
  graceHours: number,
): Eligibility {
  if (session.status !== 'confirmed') return { eligible: false, reason: 'not_confirmed' };
  if (session.payoutStatus === 'paid_out') return { eligible: false, reason: 'already_paid_out' };
  if (session.payoutStatus !== 'pending') return { eligible: false, reason: 'not_payable' };
  if (session.sessionEndTime.getTime() >= eligibilityCutoff(now, graceHours).getTime()) {
    return { eligible: false, reason: 'too_recent' };
  }
  return { eligible: true };
}

/** Why a session row breaks the rules above, or undefined for a row that may be paid. */
function invalidSessionRow(
  session: Pick<PayableSession, 'priceAmount' | 'refundedAmount'> & { currency: string },
): string | undefined {
  const price = BigInt(session.priceAmount);
  const refunded = BigInt(session.refundedAmount);
  if (price <= 0n) return `sessions.price_amount ${price} is not positive`;
  if (price > MAX_AMOUNT) return `sessions.price_amount ${price} is above 2^53 - 1`;
  if (refunded < 0n) return `sessions.refunded_amount ${refunded} is negative`;
  if (refunded > price) {
    return `sessions.refunded_amount ${refunded} is above sessions.price_amount ${price}`;
  }
  if (!ISO_CURRENCIES.has(session.currency)) {
    return `sessions.currency ${JSON.stringify(session.currency.slice(0, 16))} is not a lower-case ISO 4217 code`;
  }
  return undefined;
}

/** BigInt inside so that kept * feeBps cannot lose precision for any safe-integer amount. */
export function netAmount(
  session: Pick<PayableSession, 'priceAmount' | 'refundedAmount'>,
  feeBps: number,
): NetAmount {
  const kept = BigInt(session.priceAmount) - BigInt(session.refundedAmount);
  const fee = kept > 0n ? roundHalfUpDivide(kept * BigInt(feeBps), BPS_DENOMINATOR) : 0n;
  return { kept: Number(kept), fee: Number(fee), net: Number(kept - fee) };
}

/** Rounds numerator / denominator to the nearest integer, halves up; both non-negative. */
export function roundHalfUpDivide(numerator: bigint, denominator: bigint): bigint {
  return (numerator * 2n + denominator) / (denominator * 2n);
}

/** Minor units per lower-case currency code, with '*' for every other currency. */
export type AmountsPerCurrency = Readonly<Record<string, number>>;

export interface AmountLimits {
  perTransfer: AmountsPerCurrency;
  dailyTotal: AmountsPerCurrency;
}

export function limitFor(amounts: AmountsPerCurrency, currency: string): number {
  return amounts[currency] ?? amounts['*'] ?? 0;
}

export type PayoutDecision =
  | { kind: 'pay'; net: number; destination: string }
  | { kind: 'not_payable'; net: number }
  /** `net`: what the session would be paid, when its row allows computing it. */
  | { kind: 'failed'; code: PolicyFailureCode; message: string; net?: number };

/** What to do with an eligible session, before any I/O: pay, mark not payable, or fail it for review. */
export function payoutDecision(
  session: Pick<PayableSession, 'priceAmount' | 'refundedAmount'> & {
    currency: string;
    stripeAccountId: string | null;
  },
  config: { feeBps: number; limits: AmountLimits },
): PayoutDecision {
  const invalid = invalidSessionRow(session);
  if (invalid) return { kind: 'failed', code: 'invalid_session_row', message: invalid };
  const { net } = netAmount(session, config.feeBps);
  if (net <= 0) return { kind: 'not_payable', net };
  const maxTransfer = limitFor(config.limits.perTransfer, session.currency);
  if (net > maxTransfer) {
    return {
      kind: 'failed',
      code: 'amount_over_limit',
      message: `Net ${net} ${session.currency} is above the per-transfer limit of ${maxTransfer}`,
      net,
    };
  }
  if (!session.stripeAccountId) {
    return {
      kind: 'failed',
      code: 'no_connected_account',
      message: 'The mentor has no connected Stripe account',
      net,
    };
  }
  return { kind: 'pay', net, destination: session.stripeAccountId };
}
