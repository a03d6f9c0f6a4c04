/**
 * What one delivery of a session's payout does next, decided from the stored rows and the clock
 * alone (docs/payout-protocol.md). The Lambda's claim, `payouts retry` and `dlq redrive` all ask
 * this one function, so none of them can take a different decision.
 * - An unfinished generation is settled first, whatever the session row says now: its key is
 *   resent while inside the reuse window; Stripe is searched only once every request under the
 *   key has surely finished (a replayed stored failure, or past the window and settled); else wait.
 * - Otherwise the session is judged as the contract says; a payable one is then held back if an
 *   admin holds its mentor or Stripe last said its account cannot receive transfers (unknown: try),
 *   and a new generation is started only if neither.
 */
import type { Payout, RecoveryPoint } from './db/payouts.table.ts';
import type { PayeeFailureCode, PolicyFailureCode } from './payout-codes.ts';
import {
  type AmountLimits,
  checkEligibility,
  type Ineligibility,
  type PayableSession,
  payoutDecision,
} from './payout-policy.ts';
import { KEY_REUSE_WINDOW_MS, REQUEST_SETTLE_MS, SEARCH_MARGIN_MS } from './runtime-limits.ts';

export interface TransferTerms {
  amount: number;
  currency: string;
  destination: string;
  sourceTransaction: string | null;
}

/** A session as the plan needs it: the row, its mentor's connected account. */
export type PlannedSession = PayableSession & {
  currency: string;
  stripeChargeId: string | null;
  stripeAccountId: string | null;
};

export type PlannedPayout = Pick<
  Payout,
  | 'state'
  | 'key_generation'
  | 'recovery_point'
  | 'lease_expires_at'
  | 'key_first_used_at'
  | 'key_last_used_at'
>;

/**
 * What the claim knows about the payee beyond the session row (the claim's second statement reads
 * it): an admin's active hold on the mentor, and the connected account as Stripe last described it.
 */
export interface PayeeStanding {
  hold: { reason: string; heldBy: string; heldAt: Date } | undefined;
  /** Undefined: no account.updated seen for it yet, so Stripe decides when asked for the transfer. */
  account: { id: string; transfersActive: boolean; disabledReason: string | null } | undefined;
}

export interface PlanConfig {
  feeBps: number;
  graceHours: number;
  limits: AmountLimits;
}

export type PayoutPlan =
  /** Send the generation's key again, with its frozen terms. */
  | { step: 'resend' }
  /** Every request under the key has finished: look for its transfer at Stripe (searchSince). */
  | { step: 'search' }
  /** Start key generation `generation` with these terms. */
  | { step: 'start'; generation: number; terms: TransferTerms }
  | { step: 'stop'; stop: PlanStop };

export type PlanStop =
  | { kind: 'paused' }
  /** Another invocation holds the payout's lease. */
  | { kind: 'in_progress'; until: Date }
  /** A request under the key may still run and the key may not be resent: wait until then. */
  | { kind: 'unsettled'; until: Date; recoveryPoint: RecoveryPoint }
  | { kind: 'session_not_found' }
  | { kind: 'ineligible'; reason: Ineligibility }
  | { kind: 'not_payable'; net: number }
  /** Not paid: held for admin review (attempt outcome failed); `owed` when it can be computed. */
  | {
      kind: 'failed';
      code: PolicyFailureCode | PayeeFailureCode;
      message: string;
      owed?: { amount: number; currency: string };
    }
  /** The payout is recorded paid but the session is not paid_out: someone edited data by hand. */
  | { kind: 'inconsistent'; message: string };

export function planPayout(input: {
  session: PlannedSession | undefined;
  payout: PlannedPayout | undefined;
  now: Date;
  paused: boolean;
  config: PlanConfig;
  /** Absent: no hold and an unknown account (a caller that does not read them). */
  payee?: PayeeStanding;
}): PayoutPlan {
  const { session, payout, now, config } = input;
  const stop = (value: PlanStop): PayoutPlan => ({ step: 'stop', stop: value });
  if (input.paused) return stop({ kind: 'paused' });
  if (payout?.state === 'in_progress') return planRecovery(payout, now);
  if (!session) return stop({ kind: 'session_not_found' });
  if (payout?.state === 'paid' && session.payoutStatus !== 'paid_out') {
    return stop({
      kind: 'inconsistent',
      message: `the payout is recorded paid but the session is ${session.payoutStatus}`,
    });
  }
  const eligibility = checkEligibility(session, now, config.graceHours);
  if (!eligibility.eligible) return stop({ kind: 'ineligible', reason: eligibility.reason });
  const decision = payoutDecision(session, config);
  if (decision.kind === 'not_payable') return stop({ kind: 'not_payable', net: decision.net });
  if (decision.kind === 'failed') {
    const { code, message, net } = decision;
    const owed = net === undefined ? {} : { owed: { amount: net, currency: session.currency } };
    return stop({ kind: 'failed', code, message, ...owed });
  }
  // Only here, after the recovery branch: a hold or an account gone restricted keeps a new key
  // from being sent, never an unfinished generation from being settled.
  const payeeFailure = payeeFailureOf(input.payee, decision.destination);
  if (payeeFailure) {
    return stop({ ...payeeFailure, owed: { amount: decision.net, currency: session.currency } });
  }
  return {
    step: 'start',
    generation: (payout?.key_generation ?? 0) + 1,
    terms: {
      amount: decision.net,
      currency: session.currency,
      destination: decision.destination,
      sourceTransaction: session.stripeChargeId,
    },
  };
}

/** The next step of an unfinished generation, from its recovery point and the key's age. */
function planRecovery(payout: PlannedPayout, now: Date): PayoutPlan {
  if (payout.lease_expires_at && payout.lease_expires_at > now) {
    return { step: 'stop', stop: { kind: 'in_progress', until: payout.lease_expires_at } };
  }
  // A generation without a recorded first send is treated as an old one: search, never resend.
  const firstUsed = payout.key_first_used_at ?? new Date(0);
  const search: PayoutPlan = { step: 'search' };
  if (payout.recovery_point === 'search_required') return search;
  const windowEnds = firstUsed.getTime() + KEY_REUSE_WINDOW_MS;
  if (payout.recovery_point === 'transfer_requested' && now.getTime() < windowEnds) {
    return { step: 'resend' };
  }
  // The key may not be sent (any more): search once no request under it can still be running.
  const settles = Math.max(
    windowEnds,
    (payout.key_last_used_at ?? firstUsed).getTime() + REQUEST_SETTLE_MS,
  );
  if (now.getTime() >= settles) return search;
  return {
    step: 'stop',
    stop: { kind: 'unsettled', until: new Date(settles), recoveryPoint: payout.recovery_point },
  };
}

/** Why the payee may not be paid now, if so: held by an admin, or an account Stripe says is not ready. */
function payeeFailureOf(
  payee: PayeeStanding | undefined,
  destination: string,
): Extract<PlanStop, { kind: 'failed' }> | undefined {
  if (payee?.hold) {
    const { reason, heldBy, heldAt } = payee.hold;
    return {
      kind: 'failed',
      code: 'mentor_on_hold',
      message: `Payouts to this mentor are on hold since ${heldAt.toISOString()} (${heldBy}): ${reason}`,
    };
  }
  // The standing of another account (the mentor re-connected since) says nothing about this one.
  const account = payee?.account;
  if (account && account.id === destination && !account.transfersActive) {
    const disabled = account.disabledReason ? ` (disabled_reason ${account.disabledReason})` : '';
    return {
      kind: 'failed',
      code: 'account_not_ready',
      message: `Stripe last reported account ${account.id} without an active transfers capability${disabled}`,
    };
  }
  return undefined;
}

/** Where a search for a generation's transfer starts: its key's first send, less a margin for clock skew. */
export function searchSince(payout: Pick<PlannedPayout, 'key_first_used_at'>): Date {
  return new Date((payout.key_first_used_at?.getTime() ?? 0) - SEARCH_MARGIN_MS);
}

/**
 * How the session differs from the terms its transfer was requested with, or undefined if it
 * would still be paid exactly so: a transfer found for a changed session needs an admin's eye.
 */
export function sessionChange(
  session: PlannedSession | undefined,
  terms: TransferTerms,
  config: Pick<PlanConfig, 'feeBps' | 'limits'>,
): string | undefined {
  if (!session) return 'the session no longer exists';
  if (session.status !== 'confirmed') return `the session is now ${session.status}`;
  const decision = payoutDecision(session, config);
  if (decision.kind === 'not_payable') {
    return `the net amount is now ${decision.net} ${session.currency}`;
  }
  if (decision.kind === 'failed') {
    return `the session would now fail (${decision.code}): ${decision.message}`;
  }
  const changes = [
    decision.net !== terms.amount && `net ${terms.amount} → ${decision.net}`,
    session.currency !== terms.currency && `currency ${terms.currency} → ${session.currency}`,
    decision.destination !== terms.destination &&
      `destination ${terms.destination} → ${decision.destination}`,
    session.stripeChargeId !== terms.sourceTransaction && 'source charge changed',
  ].filter((change): change is string => typeof change === 'string');
  return changes.length > 0 ? `the session changed: ${changes.join(', ')}` : undefined;
}
