import type Stripe from 'stripe';
import type { Clock } from '../../shared/clock.ts';
import type { Db, DbOrTrx } from '../../shared/db/database.ts';
import type { NewPayoutAttempt } from '../../shared/db/payout-attempts.table.ts';
import {
  findPayout,
  finishPayoutGeneration,
  recordAttempt,
  releasePayoutLease,
  renewPayoutLease,
  startPayoutGeneration,
  type TransferTerms,
} from '../../shared/db/payouts.repository.ts';
import type { Payout } from '../../shared/db/payouts.table.ts';
import {
  findSessionForPayoutForUpdate,
  type SessionForPayout,
  settleSessionPayoutStatus,
} from '../../shared/db/sessions.repository.ts';
import {
  type PayoutError,
  PayoutInProgressError,
  PermanentPayoutError,
  type TransientPayoutError,
} from '../../shared/errors.ts';
import type { Log } from '../../shared/logger.ts';
import { checkEligibility, type Ineligibility, netAmount } from '../../shared/payout-policy.ts';
import { classifyStripeError } from '../../shared/stripe-errors.ts';

/**
 * The money path for one session, top to bottom: load → decide → claim → call Stripe → record.
 * Exactly-once rests on Postgres, never on memory: the session row lock serialises claims, the
 * payouts row (one per session) holds a lease and the idempotency key generation, and a
 * generation's key and terms never change until Stripe has answered definitively.
 * No database transaction is open while Stripe is called.
 */

export interface PaySessionDeps {
  db: Db;
  stripe: { transfers: Pick<Stripe['transfers'], 'create'> };
  clock: Clock;
  log: Log;
  config: {
    feeBps: number;
    graceHours: number;
    paused: boolean;
    /** Longer than the slowest Stripe call, so two claims never overlap in flight. */
    leaseMs: number;
  };
}

export type PayoutResult =
  | { outcome: 'paid'; sessionId: string; transferId: string; amount: number; currency: string }
  | { outcome: 'failed'; sessionId: string; code: string; message: string }
  | { outcome: 'skipped'; sessionId: string; code: string }
  | { outcome: 'ignored'; sessionId: string; reason: Ineligibility | 'already_recorded' };

type Decision =
  | { kind: 'done'; result: PayoutResult }
  | { kind: 'transfer'; session: SessionForPayout; terms: TransferTerms };

export async function paySession(deps: PaySessionDeps, sessionId: string): Promise<PayoutResult> {
  if (deps.config.paused) {
    // The session stays pending, so the first scan after resuming enqueues it again.
    deps.log.warn('Payouts paused; message acknowledged without paying', { sessionId });
    return { outcome: 'skipped', sessionId, code: 'payouts_paused' };
  }
  const claim = await deps.db.transaction().execute(async (trx) => {
    const decision = await loadAndDecide(deps, trx, sessionId);
    if (decision.kind === 'done') return decision;
    return { kind: 'claimed' as const, payout: await claimPayout(deps, trx, decision) };
  });
  if (claim.kind === 'done') return claim.result;

  let transfer: Stripe.Transfer;
  try {
    transfer = await createTransfer(deps, claim.payout);
  } catch (error) {
    const classified = classifyStripeError(error);
    if (classified instanceof PermanentPayoutError) {
      return recordRefusal(deps, claim.payout, classified);
    }
    await releaseForRetry(deps, claim.payout, classified);
    throw classified;
  }
  return recordPaid(deps, claim.payout, transfer);
}

async function loadAndDecide(
  deps: PaySessionDeps,
  trx: DbOrTrx,
  sessionId: string,
): Promise<Decision> {
  const session = await findSessionForPayoutForUpdate(trx, sessionId);
  if (!session) {
    return recordFailure(deps, trx, sessionId, 'session_not_found', 'No session has this id');
  }
  const eligibility = checkEligibility(session, deps.clock.now(), deps.config.graceHours);
  if (!eligibility.eligible) {
    // A duplicate or stale message: the database says there is nothing to pay.
    deps.log.info('Session not eligible; message acknowledged', {
      sessionId,
      reason: eligibility.reason,
    });
    return { kind: 'done', result: { outcome: 'ignored', sessionId, reason: eligibility.reason } };
  }
  if (!/^[a-z]{3}$/.test(session.currency)) {
    return recordFailure(
      deps,
      trx,
      sessionId,
      'invalid_session_row',
      'sessions.currency is not a lower-case ISO 4217 code',
    );
  }
  const { net } = netAmount(session, deps.config.feeBps);
  if (net <= 0) return markNotPayable(deps, trx, session, net);
  if (!session.stripeAccountId) {
    return recordFailure(
      deps,
      trx,
      sessionId,
      'no_connected_account',
      'The mentor has no connected Stripe account',
    );
  }
  return {
    kind: 'transfer',
    session,
    terms: {
      amount: net,
      currency: session.currency,
      destination: session.stripeAccountId,
      sourceTransaction: session.stripeChargeId,
    },
  };
}

async function claimPayout(
  deps: PaySessionDeps,
  trx: DbOrTrx,
  decision: Extract<Decision, { kind: 'transfer' }>,
): Promise<Payout> {
  const sessionId = decision.session.id;
  const now = deps.clock.now();
  const leaseExpiresAt = new Date(now.getTime() + deps.config.leaseMs);
  const existing = await findPayout(trx, sessionId);
  if (existing?.lease_expires_at && existing.lease_expires_at > now) {
    throw new PayoutInProgressError(sessionId);
  }
  if (!existing || existing.state === 'refused') {
    const generation = (existing?.key_generation ?? 0) + 1;
    return startPayoutGeneration(trx, sessionId, generation, decision.terms, leaseExpiresAt);
  }
  if (existing.state === 'paid') {
    // Recorded atomically with paid_out, so this means someone edited the data by hand.
    throw new Error(`Session ${sessionId} is pending but its payout is recorded as paid`);
  }
  if (!sameTerms(existing, decision.terms)) {
    // The earlier request may have reached Stripe: only its exact terms are safe to resend.
    deps.log.warn(
      'Session changed since its transfer was first requested; resending the original terms',
      {
        sessionId,
        keyGeneration: existing.key_generation,
      },
    );
  }
  return renewPayoutLease(trx, sessionId, leaseExpiresAt);
}

async function createTransfer(deps: PaySessionDeps, payout: Payout): Promise<Stripe.Transfer> {
  const sessionId = payout.session_id;
  return deps.stripe.transfers.create(
    {
      amount: payout.amount,
      currency: payout.currency,
      destination: payout.destination,
      transfer_group: `session_${sessionId}`,
      metadata: { session_id: sessionId },
      ...(payout.source_transaction && { source_transaction: payout.source_transaction }),
    },
    { idempotencyKey: idempotencyKey(payout) },
  );
}

async function recordPaid(
  deps: PaySessionDeps,
  payout: Payout,
  transfer: Stripe.Transfer,
): Promise<PayoutResult> {
  const sessionId = payout.session_id;
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const finished = await finishPayoutGeneration(trx, payout, {
      state: 'paid',
      transferId: transfer.id,
    });
    if (!finished) return false;
    await settleSessionPayoutStatus(trx, sessionId, 'paid_out');
    await recordAttempt(trx, payoutAttempt(payout, 'paid', { transferId: transfer.id }));
    return true;
  });
  if (!recorded) {
    return confirmRecordedElsewhere(deps, payout, transfer);
  }
  deps.log.info('Transfer created', {
    sessionId,
    transferId: transfer.id,
    amount: payout.amount,
    currency: payout.currency,
  });
  return {
    outcome: 'paid',
    sessionId,
    transferId: transfer.id,
    amount: payout.amount,
    currency: payout.currency,
  };
}

/** Another invocation with the same key got Stripe's replay and recorded it first. */
async function confirmRecordedElsewhere(
  deps: PaySessionDeps,
  payout: Payout,
  transfer: Stripe.Transfer,
): Promise<PayoutResult> {
  const sessionId = payout.session_id;
  const current = await findPayout(deps.db, sessionId);
  if (current?.state === 'paid' && current.stripe_transfer_id === transfer.id) {
    deps.log.info('Transfer already recorded', { sessionId, transferId: transfer.id });
    return { outcome: 'ignored', sessionId, reason: 'already_recorded' };
  }
  throw new Error(
    `Transfer ${transfer.id} for session ${sessionId} could not be recorded: payout is ${current?.state ?? 'missing'}`,
  );
}

async function recordRefusal(
  deps: PaySessionDeps,
  payout: Payout,
  error: PermanentPayoutError,
): Promise<PayoutResult> {
  const sessionId = payout.session_id;
  await deps.db.transaction().execute(async (trx) => {
    await finishPayoutGeneration(trx, payout, { state: 'refused' });
    await recordAttempt(trx, payoutAttempt(payout, 'failed', { error }));
  });
  deps.log.error('Payout refused by Stripe; held for admin review', {
    sessionId,
    code: error.code,
  });
  return { outcome: 'failed', sessionId, code: error.code, message: error.message };
}

async function releaseForRetry(
  deps: PaySessionDeps,
  payout: Payout,
  error: TransientPayoutError,
): Promise<void> {
  const sessionId = payout.session_id;
  deps.log.warn('Payout failed transiently; SQS will redeliver it', {
    sessionId,
    code: error.code,
  });
  try {
    await deps.db.transaction().execute(async (trx) => {
      await releasePayoutLease(trx, payout);
      await recordAttempt(trx, payoutAttempt(payout, 'retrying', { error }));
    });
  } catch (recordError) {
    // The lease then simply expires; the redelivery is what matters.
    deps.log.warn('Could not record the transient failure', {
      sessionId,
      error: recordError instanceof Error ? recordError.message : String(recordError),
    });
  }
}

async function markNotPayable(
  deps: PaySessionDeps,
  trx: DbOrTrx,
  session: SessionForPayout,
  net: number,
): Promise<Decision> {
  await settleSessionPayoutStatus(trx, session.id, 'not_payable');
  await recordAttempt(trx, {
    session_id: session.id,
    outcome: 'skipped',
    error_code: 'net_not_positive',
    error_message: `Net amount ${net} ${session.currency} is not positive`,
    amount: net,
    currency: session.currency,
    idempotency_key: null,
    stripe_transfer_id: null,
  });
  deps.log.info('Session not payable', { sessionId: session.id, net });
  return {
    kind: 'done',
    result: { outcome: 'skipped', sessionId: session.id, code: 'net_not_positive' },
  };
}

async function recordFailure(
  deps: PaySessionDeps,
  trx: DbOrTrx,
  sessionId: string,
  code: string,
  message: string,
): Promise<Decision> {
  await recordAttempt(trx, {
    session_id: sessionId,
    outcome: 'failed',
    error_code: code,
    error_message: message,
    amount: null,
    currency: null,
    idempotency_key: null,
    stripe_transfer_id: null,
  });
  deps.log.error('Payout not possible; held for admin review', { sessionId, code });
  return { kind: 'done', result: { outcome: 'failed', sessionId, code, message } };
}

/** The admin-review row for an outcome of a claimed payout. */
function payoutAttempt(
  payout: Payout,
  outcome: 'paid' | 'failed' | 'retrying',
  detail: { transferId?: string; error?: PayoutError },
): NewPayoutAttempt {
  return {
    session_id: payout.session_id,
    outcome,
    error_code: detail.error?.code ?? null,
    error_message: detail.error?.message ?? null,
    stripe_transfer_id: detail.transferId ?? null,
    amount: payout.amount,
    currency: payout.currency,
    idempotency_key: idempotencyKey(payout),
  };
}

/** The same on every retry of a generation; a new generation only after Stripe refused. */
export function idempotencyKey(payout: Pick<Payout, 'session_id' | 'key_generation'>): string {
  return `payout-${payout.session_id}-${payout.key_generation}`;
}

function sameTerms(payout: Payout, terms: TransferTerms): boolean {
  return (
    payout.amount === terms.amount &&
    payout.currency === terms.currency &&
    payout.destination === terms.destination &&
    payout.source_transaction === terms.sourceTransaction
  );
}
