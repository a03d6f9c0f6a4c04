import type Stripe from 'stripe';
import type { Clock } from '../../shared/clock.ts';
import { readPayoutControls } from '../../shared/db/controls.repository.ts';
import type { Db, DbOrTrx } from '../../shared/db/database.ts';
import type { NewPayoutAttempt } from '../../shared/db/payout-attempts.table.ts';
import {
  findPayout,
  finishPayoutGeneration,
  recordAttempt,
  releaseDailyAmount,
  releasePayoutLease,
  renewPayoutLease,
  reserveDailyAmount,
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
import {
  type AmountLimits,
  checkEligibility,
  type Ineligibility,
  limitFor,
  payoutDecision,
} from '../../shared/payout-policy.ts';
import { classifyStripeError } from '../../shared/stripe-errors.ts';

/**
 * The money path for one session, top to bottom: load → decide → claim → (recover) → call Stripe
 * → record. Exactly-once rests on Postgres, never on memory: the session row lock serialises
 * claims, the payouts row (one per session) holds a lease and the idempotency key generation, and
 * a generation's key and terms never change while reusing them is safe. When it is not (the last
 * call ended without a definitive answer, or the key is older than Stripe is sure to keep it),
 * Stripe is searched by transfer_group before a new key is used.
 * No database transaction is open while Stripe is called.
 */

/** Stripe keeps idempotency keys at least 24 h; an older key is never sent again. */
export const KEY_REUSE_WINDOW_MS = 20 * 3_600_000;

/** Test hooks at the points where a crash is most dangerous; a throw stops the payout there. */
export interface PayoutFaults {
  afterClaim?(payout: Payout): Promise<void> | void;
  afterStripeCall?(payout: Payout, transfer: Stripe.Transfer): Promise<void> | void;
  beforeRecordCommit?(payout: Payout): Promise<void> | void;
}

export interface PaySessionDeps {
  db: Db;
  stripe: { transfers: Pick<Stripe['transfers'], 'create' | 'list'> };
  clock: Clock;
  log: Log;
  config: {
    feeBps: number;
    graceHours: number;
    paused: boolean;
    /** Longer than the slowest Stripe call, so two claims never overlap in flight. */
    leaseMs: number;
    limits: AmountLimits;
  };
  faults?: PayoutFaults;
}

export type PayoutResult =
  | { outcome: 'paid'; sessionId: string; transferId: string; amount: number; currency: string }
  | { outcome: 'failed'; sessionId: string; code: string; message: string }
  | { outcome: 'skipped'; sessionId: string; code: string }
  | { outcome: 'ignored'; sessionId: string; reason: Ineligibility | 'already_recorded' };

type Decision =
  | { kind: 'done'; result: PayoutResult }
  | { kind: 'transfer'; session: SessionForPayout; terms: TransferTerms };

type Claim =
  | { kind: 'done'; result: PayoutResult }
  | { kind: 'send'; payout: Payout }
  | { kind: 'recover'; payout: Payout; terms: TransferTerms };

export async function paySession(deps: PaySessionDeps, sessionId: string): Promise<PayoutResult> {
  const claim = await deps.db.transaction().execute(async (trx): Promise<Claim> => {
    // Read in the claim transaction: once `payouts pause` commits, no new claim starts.
    if (deps.config.paused || (await readPayoutControls(trx)).paused)
      return holdWhilePaused(deps, sessionId);
    const decision = await loadAndDecide(deps, trx, sessionId);
    return decision.kind === 'done' ? decision : claimPayout(deps, trx, decision);
  });
  if (claim.kind === 'done') return claim.result;
  await deps.faults?.afterClaim?.(claim.payout);

  let payout = claim.payout;
  if (claim.kind === 'recover') {
    const search = await callStripe(deps, payout, () => findExistingTransfer(deps, payout));
    if (!search.ok) return search.refused;
    if (search.value) return recordPaid(deps, payout, search.value);
    payout = await startFreshGeneration(deps, payout, claim.terms);
  }
  const created = await callStripe(deps, payout, () => createTransfer(deps, payout));
  if (!created.ok) return created.refused;
  await deps.faults?.afterStripeCall?.(payout, created.value);
  return recordPaid(deps, payout, created.value);
}

/** The session stays pending, so the first scan after resuming enqueues it again. */
function holdWhilePaused(deps: PaySessionDeps, sessionId: string): Claim {
  deps.log.warn('Payouts paused; message acknowledged without paying', { sessionId });
  return { kind: 'done', result: { outcome: 'skipped', sessionId, code: 'payouts_paused' } };
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
  const decision = payoutDecision(session, deps.config);
  if (decision.kind === 'not_payable') return markNotPayable(deps, trx, session, decision.net);
  if (decision.kind === 'hold') {
    return recordFailure(deps, trx, sessionId, decision.code, decision.message);
  }
  return {
    kind: 'transfer',
    session,
    terms: {
      amount: decision.net,
      currency: session.currency,
      destination: decision.destination,
      sourceTransaction: session.stripeChargeId,
    },
  };
}

async function claimPayout(
  deps: PaySessionDeps,
  trx: DbOrTrx,
  decision: Extract<Decision, { kind: 'transfer' }>,
): Promise<Claim> {
  const sessionId = decision.session.id;
  const now = deps.clock.now();
  const at = { now, leaseExpiresAt: new Date(now.getTime() + deps.config.leaseMs) };
  const existing = await findPayout(trx, sessionId);
  if (existing?.lease_expires_at && existing.lease_expires_at > now) {
    throw new PayoutInProgressError(sessionId);
  }
  if (!existing || existing.state === 'refused') {
    const dailyLimit = limitFor(deps.config.limits.dailyTotal, decision.terms.currency);
    const reserved = await reserveDailyAmount(trx, {
      currency: decision.terms.currency,
      amount: decision.terms.amount,
      at: now,
      limit: dailyLimit,
    });
    if (!reserved) {
      return recordFailure(
        deps,
        trx,
        sessionId,
        'amount_over_limit',
        `Paying ${decision.terms.amount} ${decision.terms.currency} would take today (UTC) above the daily limit of ${dailyLimit}`,
      );
    }
    const generation = (existing?.key_generation ?? 0) + 1;
    const payout = await startPayoutGeneration(trx, sessionId, generation, decision.terms, at);
    return { kind: 'send', payout };
  }
  if (existing.state === 'paid') {
    // Recorded atomically with paid_out, so this means someone edited the data by hand.
    throw new Error(`Session ${sessionId} is pending but its payout is recorded as paid`);
  }
  const payout = await renewPayoutLease(trx, sessionId, at);
  const keyAge = payout.key_first_used_at ? now.getTime() - payout.key_first_used_at.getTime() : 0;
  if (payout.outcome_unknown || keyAge > KEY_REUSE_WINDOW_MS) {
    deps.log.warn('Earlier transfer request has no known outcome; searching Stripe before paying', {
      sessionId,
      keyGeneration: payout.key_generation,
      outcomeUnknown: payout.outcome_unknown,
      keyAgeHours: Math.floor(keyAge / 3_600_000),
    });
    return { kind: 'recover', payout, terms: decision.terms };
  }
  if (!sameTerms(payout, decision.terms)) {
    // The earlier request may have reached Stripe: only its exact terms are safe to resend.
    deps.log.warn(
      'Session changed since its transfer was first requested; resending the original terms',
      { sessionId, keyGeneration: payout.key_generation },
    );
  }
  return { kind: 'send', payout };
}

/** Runs a Stripe call for a claimed payout: a refusal is recorded and returned, anything else rethrown. */
async function callStripe<T>(
  deps: PaySessionDeps,
  payout: Payout,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; refused: PayoutResult }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    const classified = classifyStripeError(error);
    if (classified instanceof PermanentPayoutError) {
      return { ok: false, refused: await recordRefusal(deps, payout, classified) };
    }
    await releaseForRetry(deps, payout, classified);
    throw classified;
  }
}

/** The session's transfer, if Stripe has one under its transfer_group; the oldest if several. */
async function findExistingTransfer(
  deps: PaySessionDeps,
  payout: Payout,
): Promise<Stripe.Transfer | undefined> {
  const sessionId = payout.session_id;
  const page = await deps.stripe.transfers.list({
    transfer_group: transferGroup(sessionId),
    limit: 100,
  });
  const transfers = page.data.filter((transfer) => transfer.metadata?.session_id === sessionId);
  if (transfers.length > 1) {
    deps.log.error('Several transfers exist for one session', {
      sessionId,
      transferIds: transfers.map((transfer) => transfer.id),
    });
  }
  const oldest = transfers.sort((a, b) => a.created - b.created)[0];
  deps.log.info(oldest ? 'Found the transfer of an earlier request' : 'No earlier transfer found', {
    sessionId,
    transferId: oldest?.id,
  });
  return oldest;
}

async function startFreshGeneration(
  deps: PaySessionDeps,
  payout: Payout,
  terms: TransferTerms,
): Promise<Payout> {
  const now = deps.clock.now();
  const at = { now, leaseExpiresAt: new Date(now.getTime() + deps.config.leaseMs) };
  return deps.db
    .transaction()
    .execute((trx) =>
      startPayoutGeneration(trx, payout.session_id, payout.key_generation + 1, terms, at),
    );
}

async function createTransfer(deps: PaySessionDeps, payout: Payout): Promise<Stripe.Transfer> {
  const sessionId = payout.session_id;
  return deps.stripe.transfers.create(
    {
      amount: payout.amount,
      currency: payout.currency,
      destination: payout.destination,
      transfer_group: transferGroup(sessionId),
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
    await recordAttempt(trx, payoutAttempt(payout, 'paid', { transfer }));
    await deps.faults?.beforeRecordCommit?.(payout);
    return true;
  });
  if (!recorded) {
    return confirmRecordedElsewhere(deps, payout, transfer);
  }
  deps.log.info('Transfer created', {
    sessionId,
    transferId: transfer.id,
    amount: transfer.amount,
    currency: transfer.currency,
  });
  return {
    outcome: 'paid',
    sessionId,
    transferId: transfer.id,
    amount: transfer.amount,
    currency: transfer.currency,
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
  await deps.db.transaction().execute(async (trx) => {
    const finished = await finishPayoutGeneration(trx, payout, { state: 'refused' });
    if (finished) {
      await releaseDailyAmount(trx, {
        currency: payout.currency,
        amount: payout.amount,
        at: payout.generation_started_at,
      });
    }
    await recordAttempt(trx, payoutAttempt(payout, 'failed', { error }));
  });
  deps.log.error('Payout refused by Stripe; held for admin review', {
    sessionId: payout.session_id,
    code: error.code,
  });
  return {
    outcome: 'failed',
    sessionId: payout.session_id,
    code: error.code,
    message: error.message,
  };
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
    outcomeUnknown: error.outcomeUnknown,
  });
  try {
    await deps.db.transaction().execute(async (trx) => {
      await releasePayoutLease(trx, payout, error.outcomeUnknown);
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
): Promise<{ kind: 'done'; result: PayoutResult }> {
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
  detail: { transfer?: Stripe.Transfer; error?: PayoutError },
): NewPayoutAttempt {
  return {
    session_id: payout.session_id,
    outcome,
    error_code: detail.error?.code ?? null,
    error_message: detail.error?.message ?? null,
    stripe_transfer_id: detail.transfer?.id ?? null,
    amount: detail.transfer?.amount ?? payout.amount,
    currency: detail.transfer?.currency ?? payout.currency,
    idempotency_key: idempotencyKey(payout),
  };
}

export function transferGroup(sessionId: string): string {
  return `session_${sessionId}`;
}

/** The same on every retry of a generation; a new generation only once reuse is unsafe or refused. */
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
