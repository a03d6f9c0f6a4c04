import { setTimeout as sleepFor } from 'node:timers/promises';
import type { Kysely, Transaction } from 'kysely';
import type Stripe from 'stripe';
import type { Clock } from '../../shared/clock.ts';
import type { Database } from '../../shared/db/database.ts';
import {
  recordAttempt,
  recordAttemptOncePerDay,
} from '../../shared/db/payout-attempts.repository.ts';
import type { NewPayoutAttempt } from '../../shared/db/payout-attempts.table.ts';
import {
  type NewPayoutEvent,
  recordPayoutEvent,
} from '../../shared/db/payout-events.repository.ts';
import {
  adoptTransfer,
  findPayout,
  findPayoutPauseAndPayee,
  finishPayoutGeneration,
  recordPaidAsClaimed,
  releasePayoutLease,
  releaseReservations,
  reserveDailyAmount,
  retakePayoutLease,
  startPayoutGeneration,
  utcDay,
} from '../../shared/db/payouts.repository.ts';
import type { Payout, RecoveryPoint } from '../../shared/db/payouts.table.ts';
import {
  lockSessionForPayout,
  markSessionNotPayable,
  markSessionPaidOut,
  type SessionForPayout,
} from '../../shared/db/sessions.repository.ts';
import {
  DeferredPayoutError,
  type PayoutError,
  PayoutInProgressError,
  PermanentPayoutError,
  TransientPayoutError,
} from '../../shared/errors.ts';
import type { Log } from '../../shared/logger.ts';
import type {
  AttemptCode,
  FailureCode,
  PayeeFailureCode,
  SkipCode,
  StripeErrorCode,
} from '../../shared/payout-codes.ts';
import {
  type PlanConfig,
  type PlanStop,
  planPayout,
  searchSince,
  sessionChange,
} from '../../shared/payout-plan.ts';
import { type Ineligibility, limitFor } from '../../shared/payout-policy.ts';
import { EVENT_PUBLISH_BUDGET_MS, REQUEST_SETTLE_MS } from '../../shared/runtime-limits.ts';
import {
  hasTimeForStripeCall,
  MAX_RATE_LIMITED_REQUESTS,
  rateLimitBackoffMs,
  readInSlot,
  type SendSlot,
  type StripeBudget,
  type StripeEndpoint,
  type TimedPacingDeps,
  waitForSlotInTime,
} from '../../shared/stripe-budget.ts';
import { transferTerms, watchIdempotencyKey } from '../../shared/stripe-client.ts';
import { classifyStripeReadFailure, classifyTransferFailure } from '../../shared/stripe-errors.ts';

/**
 * The money path for one session, in flow order (docs/payout-protocol.md):
 * claim → send or search → record, and after a generation ended without a transfer, claim again.
 * Each phase returns the next step; the loop in paySession is the one place that stops, by
 * returning a result or throwing a transient error for SQS to redeliver. The next delivery
 * resumes from the recovery point stored on the payout row. No transaction is open while Stripe
 * is called.
 */

/** Test hooks at the points where a crash is most dangerous; a throw stops the payout there. */
export interface PayoutFaults {
  afterClaim?(payout: Payout): Promise<void> | void;
  afterStripeCall?(payout: Payout, transfer: Stripe.Transfer): Promise<void> | void;
  beforeRecordCommit?(payout: Payout): Promise<void> | void;
  /** After the outcome (and its event) committed, before the event is published. */
  afterRecordCommit?(sessionId: string): Promise<void> | void;
}

export interface PaySessionDeps {
  db: Kysely<Database>;
  stripe: Pick<Stripe, 'on' | 'off'> & { transfers: Pick<Stripe['transfers'], 'create' | 'list'> };
  clock: Clock;
  log: Log;
  config: PlanConfig & {
    paused: boolean;
    /** How long a claim keeps other invocations off the payout (saves calls; safety never needs it). */
    leaseMs: number;
    /** Every Stripe request waits for a slot of this budget, shared by all Lambdas. */
    stripeBudget: StripeBudget;
  };
  /** What the invocation has left; a Stripe call is started only with time for it. */
  timeLeftMs?: () => number;
  /** Waits for a send slot or a backoff; injectable so tests need not wait. */
  sleep?: (ms: number) => Promise<void>;
  /**
   * Publishes the session's payout events once its outcome committed, best effort (never throws);
   * without it, or if it fails, the sweeper publishes them (shared/payout-events.ts).
   */
  publishEvents?: (sessionId: string) => Promise<void>;
  faults?: PayoutFaults;
}

export type PayoutResult =
  | { outcome: 'paid'; sessionId: string; transferId: string; amount: number; currency: string }
  /** Held for admin review. */
  | { outcome: 'failed'; sessionId: string; code: FailureCode | StripeErrorCode; message: string }
  | { outcome: 'skipped'; sessionId: string; code: SkipCode }
  /** `failure_recorded_today`: the payee may not be paid, which today's attempt row already says. */
  | {
      outcome: 'ignored';
      sessionId: string;
      reason: Ineligibility | 'already_recorded' | 'failure_recorded_today';
    };

/** What recording a transfer needs: the Lambda's deps, or reconcile's. */
export type RecordDeps = Pick<PaySessionDeps, 'db' | 'clock' | 'log' | 'faults'> & {
  config: Pick<PlanConfig, 'feeBps' | 'limits'>;
};

/** An unfinished generation whose lease this invocation holds. */
interface Claim {
  payout: Payout;
  /**
   * No earlier request under the key can still be on its way: the generation starts with this
   * claim, or the key's previous send had settled before it.
   */
  soleSender: boolean;
  /** The session as this claim read it, when the claim sends: recordPaid skips re-reading it if unchanged. */
  session?: SessionForPayout;
}

type Step =
  | { kind: 'claim' }
  /** `rateLimited`: Stripe's 429s to this claim's sends so far. */
  | { kind: 'send'; claim: Claim; rateLimited?: number }
  | { kind: 'search'; claim: Claim }
  | { kind: 'done'; result: PayoutResult }
  | { kind: 'retry'; error: Error };

/** Claims in one delivery: a search that finds nothing, then a new generation, then stop. */
const MAX_CLAIMS_PER_DELIVERY = 3;

export async function paySession(deps: PaySessionDeps, sessionId: string): Promise<PayoutResult> {
  let step: Step = { kind: 'claim' };
  let claims = 0;
  for (;;) {
    switch (step.kind) {
      case 'claim':
        claims += 1;
        step =
          claims > MAX_CLAIMS_PER_DELIVERY
            ? { kind: 'retry', error: deferred('Several generations in one delivery') }
            : await claimPayout(deps, sessionId);
        break;
      case 'send':
        step = hasTimeForStripeCall(deps)
          ? await sendTransfer(deps, step.claim, step.rateLimited ?? 0)
          : await releaseForRetry(
              deps,
              step.claim,
              deferred('Too little time left to call Stripe'),
            );
        break;
      case 'search':
        step = await searchForTransfer(deps, step.claim);
        break;
      case 'done':
        // A paid or failed outcome committed with its event in the outbox: announce it now, if the
        // invocation has the time (the next records' time is theirs); else the sweeper does.
        if (step.result.outcome === 'paid' || step.result.outcome === 'failed') {
          await deps.faults?.afterRecordCommit?.(sessionId);
          if (!deps.timeLeftMs || deps.timeLeftMs() >= EVENT_PUBLISH_BUDGET_MS) {
            await deps.publishEvents?.(sessionId);
          }
        }
        return step.result;
      case 'retry':
        throw step.error;
    }
  }
}

/**
 * One transaction under the session's row lock: reads the kill switch, the session, its payout and
 * the payee's standing (a hold, the account's readiness), asks planPayout what to do, and takes the
 * payout (lease, reservation) or records the decision.
 */
async function claimPayout(deps: PaySessionDeps, sessionId: string): Promise<Step> {
  const now = deps.clock.now();
  return inTransaction(async (trx) => {
    const session = await lockSessionForPayout(trx, sessionId);
    // Its own statement, after the lock: it sees what the claim we may have waited for wrote,
    // and the kill switch and the payee's hold as they are now (once `payouts pause` or a hold
    // commits, no new generation starts).
    const stored = await findPayoutPauseAndPayee(trx, sessionId);
    const { payout, payee } = stored;
    const paused = deps.config.paused || stored.paused;
    const plan = planPayout({ session, payout, now, paused, config: deps.config, payee });
    const lease = { now, leaseExpiresAt: new Date(now.getTime() + deps.config.leaseMs) };
    switch (plan.step) {
      case 'resend': {
        const unfinished = payout as Payout;
        if (!(await reserveToday(deps, trx, unfinished, now))) {
          return holdOverDailyLimit(deps, trx, unfinished);
        }
        deps.log.info('Resending the transfer request of an unfinished generation', {
          sessionId,
          keyGeneration: unfinished.key_generation,
        });
        const lastSent = unfinished.key_last_used_at?.getTime() ?? Number.NEGATIVE_INFINITY;
        const claimed = await retakePayoutLease(trx, unfinished, { ...lease, sending: true });
        const soleSender = lastSent + REQUEST_SETTLE_MS <= now.getTime();
        return { kind: 'send', claim: { payout: claimed, soleSender, session } };
      }
      case 'search': {
        const claimed = await retakePayoutLease(trx, payout as Payout, {
          ...lease,
          sending: false,
        });
        return { kind: 'search', claim: { payout: claimed, soleSender: false } };
      }
      case 'start': {
        const started = await startPayoutGeneration(trx, sessionId, plan.generation, plan.terms, {
          ...lease,
          dailyLimit: limitFor(deps.config.limits.dailyTotal, plan.terms.currency),
        });
        if (!started) {
          const generation = { session_id: sessionId, key_generation: plan.generation };
          return holdOverDailyLimit(deps, trx, { ...generation, ...plan.terms });
        }
        return { kind: 'send', claim: { payout: started, soleSender: true, session } };
      }
      case 'stop':
        return stopAt(deps, trx, sessionId, plan.stop);
    }
  });

  async function inTransaction(work: (trx: Transaction<Database>) => Promise<Step>) {
    return withBoundedLockWait(deps.log, sessionId, () => deps.db.transaction().execute(work));
  }
}

/** Records what a plan that moves no money decided, and says how the delivery ends. */
async function stopAt(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  sessionId: string,
  stop: PlanStop,
): Promise<Step> {
  const done = (result: PayoutResult): Step => ({ kind: 'done', result });
  switch (stop.kind) {
    case 'paused':
      // The session stays pending, so the first scan after resuming enqueues it again.
      deps.log.warn('Payouts paused; message acknowledged without paying', { sessionId });
      return done({ outcome: 'skipped', sessionId, code: 'payouts_paused' });
    case 'in_progress':
      return { kind: 'retry', error: new PayoutInProgressError(sessionId) };
    case 'unsettled': {
      const error = new TransientPayoutError(
        `An earlier transfer request may still be running at Stripe and its key can no longer be resent; the payout waits until ${stop.until.toISOString()}`,
        'request_unsettled',
      );
      await recordAttempt(trx, {
        ...emptyAttempt(sessionId, 'retrying'),
        error_code: error.code,
        error_message: error.message,
      });
      deps.log.warn('Payout waits for an earlier request to settle', {
        sessionId,
        recoveryPoint: stop.recoveryPoint,
        until: stop.until.toISOString(),
      });
      return { kind: 'retry', error };
    }
    case 'session_not_found':
      return done(
        await recordFailure(deps, trx, sessionId, stop.kind, 'No session has this id', null),
      );
    case 'ineligible':
      // A duplicate or stale message: the database says there is nothing to pay.
      deps.log.info('Session not eligible; message acknowledged', {
        sessionId,
        reason: stop.reason,
      });
      return done({ outcome: 'ignored', sessionId, reason: stop.reason });
    case 'not_payable':
      await markSessionNotPayable(trx, sessionId);
      await recordAttempt(trx, {
        ...emptyAttempt(sessionId, 'skipped'),
        error_code: 'net_not_positive',
        error_message: `Net amount ${stop.net} is not positive`,
        amount: stop.net,
      });
      deps.log.info('Session not payable', { sessionId, net: stop.net });
      return done({ outcome: 'skipped', sessionId, code: 'net_not_positive' });
    case 'failed':
      if (isPayeeFailure(stop.code)) {
        return done(
          await recordPayeeFailure(
            deps,
            trx,
            sessionId,
            stop.code,
            stop.message,
            stop.owed ?? null,
          ),
        );
      }
      return done(
        await recordFailure(deps, trx, sessionId, stop.code, stop.message, stop.owed ?? null),
      );
    case 'inconsistent':
      return { kind: 'retry', error: new Error(`Session ${sessionId}: ${stop.message}`) };
  }
}

/**
 * Sends the generation's key with its frozen terms, in a slot of the Stripe request budget, and
 * sorts Stripe's answer. A 429 is answered before Stripe looks at the key: the same key is sent
 * again after a backoff while the invocation has time, else the payout is handed back.
 */
async function sendTransfer(
  deps: PaySessionDeps,
  claim: Claim,
  rateLimited: number,
): Promise<Step> {
  const { payout } = claim;
  await deps.faults?.afterClaim?.(payout);
  const slot = await waitForSlot(deps, 'transfers.create');
  if (!slot) return releaseForRetry(deps, claim, budgetFullyBooked('transfer'));
  const key = watchIdempotencyKey(deps.stripe, idempotencyKey(payout));
  let transfer: Stripe.Transfer;
  try {
    transfer = await slot.send((options) =>
      deps.stripe.transfers.create(
        {
          amount: payout.amount,
          currency: payout.currency,
          destination: payout.destination,
          transfer_group: transferGroup(payout.session_id),
          metadata: { session_id: payout.session_id },
          ...(payout.source_transaction && { source_transaction: payout.source_transaction }),
        },
        { idempotencyKey: idempotencyKey(payout), ...options },
      ),
    );
  } catch (error) {
    const failure = classifyTransferFailure(error);
    switch (failure.kind) {
      case 'refused':
        // A fresh refusal proves nothing was created under the key only if no other request
        // under it can still arrive: ours was the only one, and it was answered.
        return failure.stored
          ? endGeneration(deps, claim, 'refused')
          : recordRefusal(
              deps,
              claim,
              failure.error,
              claim.soleSender && key.everyRequestAnswered(),
            );
      case 'stored_failure':
        // Every request under the key has finished; the next delivery searches for its transfer.
        return releaseForRetry(deps, claim, failure.error, 'search_required');
      case 'key_rejected':
        return releaseForRetry(deps, claim, failure.error, 'key_rejected');
      case 'unknown':
        return releaseForRetry(deps, claim, failure.error);
      case 'rate_limited': {
        const attempt = rateLimited + 1;
        const backoffMs = rateLimitBackoffMs(failure.reason, attempt);
        const details = { sessionId: payout.session_id, reason: failure.reason, backoffMs };
        if (attempt < MAX_RATE_LIMITED_REQUESTS && hasTimeForStripeCall(deps, backoffMs)) {
          deps.log.warn(
            'Stripe rate-limited the transfer request; the same key goes again',
            details,
          );
          await sleep(deps, backoffMs);
          // This call's attempts stay this claim's: one the SDK gave up on may still arrive.
          const soleSender = claim.soleSender && key.everyRequestAnswered();
          return { kind: 'send', claim: { ...claim, soleSender }, rateLimited: attempt };
        }
        return releaseForRetry(deps, claim, rateLimitedByStripe(failure.reason, failure.error));
      }
    }
  } finally {
    key.stop();
  }
  await deps.faults?.afterStripeCall?.(payout, transfer);
  return recordPaid(deps, payout.session_id, transfer, {
    generation: payout,
    claimed: claim.session,
  });
}

/**
 * Lists the frozen destination's transfers since the key's first send, every page, and keeps the
 * session's by metadata (transfer_group is not ours when Stripe files a transfer under its
 * source charge's group). Found: recorded paid. None: the generation created nothing.
 */
async function searchForTransfer(deps: PaySessionDeps, claim: Claim): Promise<Step> {
  const { payout } = claim;
  let found: Stripe.Transfer[];
  try {
    found = await listSessionTransfers(deps, payout);
  } catch (error) {
    const failure =
      error instanceof TransientPayoutError ? error : classifyStripeReadFailure(error);
    return releaseForRetry(deps, claim, failure);
  }
  const sessionId = payout.session_id;
  if (found.length > 1) {
    deps.log.error('Several transfers exist for one session', {
      sessionId,
      transferIds: found.map((transfer) => transfer.id),
    });
  }
  const oldest = found.sort((a, b) => a.created - b.created)[0];
  deps.log.info(oldest ? 'Found the transfer of an earlier request' : 'No earlier transfer found', {
    sessionId,
    keyGeneration: payout.key_generation,
    transferId: oldest?.id,
  });
  return oldest
    ? recordPaid(deps, sessionId, oldest, { generation: payout })
    : endGeneration(deps, claim, 'no_transfer');
}

async function listSessionTransfers(
  deps: PaySessionDeps,
  payout: Payout,
): Promise<Stripe.Transfer[]> {
  const since = Math.floor(searchSince(payout).getTime() / 1000);
  const mine: Stripe.Transfer[] = [];
  let startingAfter: string | undefined;
  do {
    const page = await listPage(deps, {
      destination: payout.destination,
      created: { gte: since },
      limit: 100,
      ...(startingAfter && { starting_after: startingAfter }),
    });
    mine.push(...page.data.filter((t) => t.metadata?.session_id === payout.session_id));
    startingAfter = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (startingAfter);
  return mine;
}

/** One page of a search, in a slot of the read budget; Stripe's 429 backed off as for a send. */
function listPage(
  deps: PaySessionDeps,
  params: Stripe.TransferListParams,
): Promise<Stripe.ApiList<Stripe.Transfer>> {
  return readInSlot(
    pacing(deps),
    'transfers.list',
    (options) => deps.stripe.transfers.list(params, options),
    {
      noTime: () => deferred('Too little time left to search Stripe'),
      noSlot: () => budgetFullyBooked('search'),
      rateLimited: rateLimitedByStripe,
    },
  );
}

/**
 * Stripe refused this request, which created nothing; the refusal is recorded (permanent: the
 * payout fails, for admin review; transient: retried). If no other request under the key can
 * still arrive, nothing ever will be created under it: the key is retired and its reservation
 * given back. Otherwise (a refusal Stripe may not have stored, while another request under the
 * key is on its way) the key and its reservation stay, and the next delivery resends the key first.
 */
async function recordRefusal(
  deps: PaySessionDeps,
  claim: Claim,
  error: PermanentPayoutError | TransientPayoutError,
  lastRequestUnderKey: boolean,
): Promise<Step> {
  const { payout } = claim;
  const sessionId = payout.session_id;
  const now = deps.clock.now();
  const permanent = error instanceof PermanentPayoutError;
  const retired = await deps.db.transaction().execute(async (trx) => {
    // No claim since ours (claim_count), so no later request under the key either.
    const ended =
      lastRequestUnderKey &&
      (await finishPayoutGeneration(trx, payout, { state: 'refused' }, now, {
        claimCount: payout.claim_count,
      }));
    if (ended) await releaseReservations(trx, payout, now);
    else await releasePayoutLease(trx, payout, payout.recovery_point, now);
    await recordAttempt(trx, payoutAttempt(payout, permanent ? 'failed' : 'retrying', { error }));
    if (permanent) {
      await recordPayoutEvent(trx, {
        type: 'payout.failed',
        sessionId,
        amount: payout.amount,
        currency: payout.currency,
        code: error.code,
        stripeTransferId: null,
        occurredAt: now,
      });
    }
    return ended;
  });
  const details = { sessionId, code: error.code, keyRetired: retired };
  if (!permanent) {
    deps.log.warn('Stripe refused the transfer for now; SQS will redeliver it', details);
    return { kind: 'retry', error };
  }
  deps.log.error('Payout failed: Stripe refused the transfer; held for admin review', details);
  return {
    kind: 'done',
    result: { outcome: 'failed', sessionId, code: error.code, message: error.message },
  };
}

/**
 * The generation is over without a transfer (Stripe replayed its stored refusal, or a search found
 * none): its reservations are given back and its key retired; the session is claimed again, to be
 * paid with a new key if it still is payable.
 */
async function endGeneration(
  deps: PaySessionDeps,
  claim: Claim,
  how: 'refused' | 'no_transfer',
): Promise<Step> {
  const { payout } = claim;
  const now = deps.clock.now();
  const ended = await deps.db.transaction().execute(async (trx) => {
    if (!(await finishPayoutGeneration(trx, payout, { state: how }, now))) return false;
    await releaseReservations(trx, payout, now);
    return true;
  });
  // Not ended: another invocation got there first; the next claim sees what it recorded.
  if (ended) {
    deps.log.info('The generation created no transfer; its key is retired', {
      sessionId: payout.session_id,
      keyGeneration: payout.key_generation,
      how,
    });
  }
  return { kind: 'claim' };
}

/**
 * Records a transfer Stripe made for the session: the payout paid, the session paid_out, a paid
 * attempt row and its event, all or nothing (in one statement when the session is as the claim read
 * it, else in one transaction). Also reached by `reconcile --fix`. A transfer for a session that
 * no longer matches its terms is flagged paid_after_change: a reversal is a human decision.
 */
async function recordPaid(
  deps: RecordDeps,
  sessionId: string,
  transfer: Stripe.Transfer,
  how: PaidHow,
): Promise<Step> {
  const now = deps.clock.now();
  const paid = paidRows(sessionId, transfer, how, now);
  const { generation, claimed } = how;
  // The common case in one statement: the session is still the version the claim read, and that
  // version warranted this transfer, so the transaction below would record exactly this.
  const asClaimed =
    generation &&
    claimed &&
    !sessionChange(claimed, transferTerms(transfer), deps.config) &&
    (await withBoundedLockWait(deps.log, sessionId, async () => {
      await deps.faults?.beforeRecordCommit?.(generation);
      return recordPaidAsClaimed(deps.db, generation, claimed.rowVersion, {
        transferId: transfer.id,
        now,
        attempt: paid.attempt(undefined, idempotencyKey(generation)),
        event: paid.event(undefined),
      });
    }));
  const recorded = asClaimed
    ? { change: undefined }
    : await withBoundedLockWait(deps.log, sessionId, () =>
        deps.db
          .transaction()
          .execute((trx) =>
            recordPaidInTransaction(deps, trx, sessionId, transfer, how, paid, now),
          ),
      );
  if ('already' in recorded) {
    if (recorded.already !== transfer.id) {
      deps.log.error('Several transfers exist for one session', {
        sessionId,
        transferIds: [recorded.already, transfer.id],
      });
      return {
        kind: 'retry',
        error: new Error(
          `Session ${sessionId} has transfer ${transfer.id} at Stripe besides the recorded ${recorded.already}`,
        ),
      };
    }
    deps.log.info('Transfer already recorded', { sessionId, transferId: transfer.id });
    return { kind: 'done', result: { outcome: 'ignored', sessionId, reason: 'already_recorded' } };
  }
  const details = {
    sessionId,
    transferId: transfer.id,
    amount: transfer.amount,
    currency: transfer.currency,
  };
  if (recorded.change) {
    deps.log.error(
      'Transfer made for a session that changed since; an admin decides on a reversal',
      {
        ...details,
        change: recorded.change,
      },
    );
  } else {
    deps.log.info('Transfer created', details);
  }
  return {
    kind: 'done',
    result: {
      outcome: 'paid',
      sessionId,
      transferId: transfer.id,
      amount: transfer.amount,
      currency: transfer.currency,
    },
  };
}

interface PaidHow {
  /** The generation this delivery sent (or searched for), if any. */
  generation?: Payout;
  /** The session as the claim that sent it read it. */
  claimed?: SessionForPayout;
  reconciled?: boolean;
}

/** The paid attempt row and the payout.paid event of a transfer, flagged if the session changed. */
function paidRows(sessionId: string, transfer: Stripe.Transfer, how: PaidHow, now: Date) {
  const code = (change: string | undefined): AttemptCode | null =>
    change ? 'paid_after_change' : how.reconciled ? 'reconciled' : null;
  return {
    attempt: (change: string | undefined, idempotencyKeySent: string | null): NewPayoutAttempt => ({
      ...emptyAttempt(sessionId, 'paid'),
      error_code: code(change),
      error_message:
        change ?? (how.reconciled ? 'Transfer found at Stripe by reconciliation' : null),
      stripe_transfer_id: transfer.id,
      amount: transfer.amount,
      currency: transfer.currency,
      idempotency_key: idempotencyKeySent,
    }),
    event: (change: string | undefined): NewPayoutEvent => ({
      type: 'payout.paid',
      sessionId,
      amount: transfer.amount,
      currency: transfer.currency,
      code: code(change),
      stripeTransferId: transfer.id,
      occurredAt: now,
    }),
  };
}

/**
 * recordPaid's transaction, for whatever the common case does not cover: the session is re-read
 * (and compared with the transfer's terms), the claim's generation becomes paid if it still is in
 * progress, else the generation in progress, else the transfer is adopted.
 */
async function recordPaidInTransaction(
  deps: RecordDeps,
  trx: Transaction<Database>,
  sessionId: string,
  transfer: Stripe.Transfer,
  how: PaidHow,
  paid: ReturnType<typeof paidRows>,
  now: Date,
): Promise<{ already: string | null } | { change: string | undefined }> {
  const terms = transferTerms(transfer);
  const paidWith = { state: 'paid' as const, transferId: transfer.id };
  const { generation } = how;
  // The session row first, as claims lock it: marked paid_out and read in one statement.
  const session =
    (await markSessionPaidOut(trx, sessionId)) ?? (await lockSessionForPayout(trx, sessionId));
  if (!session) {
    throw new Error(`Transfer ${transfer.id} names session ${sessionId}, which does not exist`);
  }
  const change = sessionChange(session, terms, deps.config);
  // This delivery's generation becomes paid, with its row, in one statement.
  let payout = generation;
  const finishedOurs =
    generation &&
    (await finishPayoutGeneration(trx, generation, paidWith, now, {
      attempt: paid.attempt(change, idempotencyKey(generation)),
    }));
  if (!finishedOurs) {
    payout = await findPayout(trx, sessionId);
    if (payout?.state === 'paid') return { already: payout.stripe_transfer_id };
    const unfinished = payout?.state === 'in_progress' ? payout : undefined;
    const finished = unfinished && (await finishPayoutGeneration(trx, unfinished, paidWith, now));
    if (!finished) {
      if (!how.reconciled) {
        deps.log.error('Recording a transfer for a payout that did not expect one', {
          sessionId,
          transferId: transfer.id,
          payoutState: payout?.state ?? 'none',
        });
      }
      await adoptTransfer(trx, sessionId, { ...terms, id: transfer.id }, now);
    }
    await recordAttempt(trx, paid.attempt(change, unfinished ? idempotencyKey(unfinished) : null));
  }
  // A paid attempt row was written above: its event goes with it, in this transaction.
  await recordPayoutEvent(trx, paid.event(change));
  if (payout) await deps.faults?.beforeRecordCommit?.(payout);
  return { change };
}

/** `reconcile --fix`: records a transfer found at Stripe exactly as the Lambda would. */
export async function recordReconciledTransfer(
  deps: RecordDeps,
  sessionId: string,
  transfer: Stripe.Transfer,
): Promise<PayoutResult> {
  const step = await recordPaid(deps, sessionId, transfer, { reconciled: true });
  if (step.kind === 'retry') throw step.error;
  if (step.kind !== 'done') throw new Error(`Unexpected step ${step.kind} while recording`);
  return step.result;
}

/**
 * Transient trouble: the generation keeps (or moves to) its recovery point, the lease is let go so
 * the redelivery can resume at once, and a retrying row tells the admin why.
 */
async function releaseForRetry(
  deps: PaySessionDeps,
  claim: Claim,
  error: TransientPayoutError,
  recoveryPoint: RecoveryPoint = claim.payout.recovery_point,
): Promise<Step> {
  const { payout } = claim;
  const sessionId = payout.session_id;
  const details = {
    sessionId,
    keyGeneration: payout.key_generation,
    code: error.code,
    recoveryPoint,
  };
  if (recoveryPoint === 'key_rejected') {
    deps.log.error(
      'Stripe refused the idempotency key; the payout waits until it can be searched',
      details,
    );
  } else if (error instanceof DeferredPayoutError) {
    deps.log.info('Payout deferred; the record is handed back to the queue', details);
  } else {
    deps.log.warn('Payout failed transiently; SQS will redeliver it', details);
  }
  try {
    await deps.db.transaction().execute(async (trx) => {
      await releasePayoutLease(trx, payout, recoveryPoint, deps.clock.now());
      await recordAttempt(trx, payoutAttempt(payout, 'retrying', { error }));
    });
  } catch (recordError) {
    // The lease then simply expires; the redelivery is what matters.
    deps.log.warn('Could not record the transient failure', {
      sessionId,
      error: recordError instanceof Error ? recordError.message : String(recordError),
    });
  }
  return { kind: 'retry', error };
}

async function reserveToday(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  generation: Pick<Payout, 'session_id' | 'key_generation' | 'currency' | 'amount'>,
  now: Date,
): Promise<boolean> {
  const limit = limitFor(deps.config.limits.dailyTotal, generation.currency);
  return reserveDailyAmount(trx, generation, now, limit);
}

async function holdOverDailyLimit(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  generation: Pick<Payout, 'session_id' | 'currency' | 'amount'>,
): Promise<Step> {
  const limit = limitFor(deps.config.limits.dailyTotal, generation.currency);
  const message = `Paying ${generation.amount} ${generation.currency} would take today (UTC) above the daily limit of ${limit}`;
  const result = await recordFailure(
    deps,
    trx,
    generation.session_id,
    'amount_over_limit',
    message,
    { amount: generation.amount, currency: generation.currency },
  );
  return { kind: 'done', result };
}

/** `owed`: the net the session would be paid, when it can be computed. */
async function recordFailure(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  sessionId: string,
  code: FailureCode,
  message: string,
  owed: { amount: number; currency: string } | null,
): Promise<PayoutResult> {
  await recordAttempt(trx, {
    ...emptyAttempt(sessionId, 'failed'),
    error_code: code,
    error_message: message,
  });
  await announceFailure(deps, trx, sessionId, code, owed);
  deps.log.error('Payout failed before calling Stripe; held for admin review', { sessionId, code });
  return { outcome: 'failed', sessionId, code, message };
}

/** The payout.failed event of a failure recorded in this transaction, for the outbox. */
async function announceFailure(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  sessionId: string,
  code: FailureCode,
  owed: { amount: number; currency: string } | null,
): Promise<void> {
  // Nothing is written for an unknown session: the marketplace has no mentor to tell.
  await recordPayoutEvent(trx, {
    type: 'payout.failed',
    sessionId,
    amount: owed?.amount ?? null,
    currency: owed?.currency ?? null,
    code,
    stripeTransferId: null,
    occurredAt: deps.clock.now(),
  });
}

const PAYEE_FAILURES: ReadonlySet<FailureCode> = new Set<PayeeFailureCode>([
  'account_not_ready',
  'mentor_on_hold',
]);

function isPayeeFailure(code: FailureCode): code is PayeeFailureCode {
  return PAYEE_FAILURES.has(code);
}

/**
 * The payee may not be paid now (held, or an account Stripe says cannot receive transfers): no
 * Stripe request. Recorded once per session and UTC day, so the scan's daily delivery, redeliveries
 * and duplicates add no rows; a change of reason is recorded at once.
 */
async function recordPayeeFailure(
  deps: PaySessionDeps,
  trx: Transaction<Database>,
  sessionId: string,
  code: PayeeFailureCode,
  message: string,
  owed: { amount: number; currency: string } | null,
): Promise<PayoutResult> {
  const now = deps.clock.now();
  const recorded = await recordAttemptOncePerDay(
    trx,
    {
      ...emptyAttempt(sessionId, 'failed'),
      error_code: code,
      error_message: message,
      created_at: now,
    },
    new Date(`${utcDay(now)}T00:00:00Z`),
  );
  if (!recorded) {
    deps.log.info('Payout failed again; today’s attempt row already says so', { sessionId, code });
    return { outcome: 'ignored', sessionId, reason: 'failure_recorded_today' };
  }
  await announceFailure(deps, trx, sessionId, code, owed);
  deps.log.error('Payout failed before calling Stripe; held for admin review', { sessionId, code });
  return { outcome: 'failed', sessionId, code, message };
}

/** Waits for the endpoint's next slot, as long as a Stripe call still fits after it. */
function waitForSlot(deps: PaySessionDeps, endpoint: StripeEndpoint): Promise<SendSlot | null> {
  return waitForSlotInTime(pacing(deps), endpoint);
}

function pacing(deps: PaySessionDeps): TimedPacingDeps {
  return {
    db: deps.db,
    sleep: (ms) => sleep(deps, ms),
    budget: deps.config.stripeBudget,
    ...(deps.timeLeftMs && { timeLeftMs: deps.timeLeftMs }),
  };
}

function sleep(deps: Pick<PaySessionDeps, 'sleep'>, ms: number): Promise<void> {
  return deps.sleep ? deps.sleep(ms) : sleepFor(ms);
}

function deferred(reason: string): DeferredPayoutError {
  return new DeferredPayoutError(`Deferred: ${reason}; the payout is handed back`, 'deferred');
}

function budgetFullyBooked(what: 'transfer' | 'search'): DeferredPayoutError {
  return new DeferredPayoutError(
    `The Stripe request budget has no slot for this ${what} soon enough; the payout is handed back`,
    'rate_limited',
  );
}

function rateLimitedByStripe(reason: string | undefined, cause: unknown): DeferredPayoutError {
  return new DeferredPayoutError(
    `Stripe rate-limited the request (${reason ?? 'no reason given'}); the payout is handed back`,
    'rate_limited',
    { cause },
  );
}

/** A session row locked elsewhere (the marketplace, say) fails the delivery instead of hanging. */
async function withBoundedLockWait<T>(
  log: Log,
  sessionId: string,
  work: () => Promise<T>,
): Promise<T> {
  try {
    return await work();
  } catch (error) {
    if ((error as { code?: string }).code === '55P03') {
      log.warn('Session row locked by another transaction; SQS will redeliver it', { sessionId });
      throw new TransientPayoutError(
        `Session ${sessionId} is locked by another database transaction`,
        'session_locked',
        { cause: error },
      );
    }
    throw error;
  }
}

function emptyAttempt(sessionId: string, outcome: NewPayoutAttempt['outcome']): NewPayoutAttempt {
  return {
    session_id: sessionId,
    outcome,
    error_code: null,
    error_message: null,
    stripe_transfer_id: null,
    amount: null,
    currency: null,
    idempotency_key: null,
  };
}

/** The admin-review row for an outcome of a claimed generation. */
function payoutAttempt(
  payout: Payout,
  outcome: 'failed' | 'retrying',
  detail: { error: PayoutError },
): NewPayoutAttempt {
  return {
    ...emptyAttempt(payout.session_id, outcome),
    error_code: detail.error.code,
    error_message: detail.error.message,
    amount: payout.amount,
    currency: payout.currency,
    idempotency_key: idempotencyKey(payout),
  };
}

export function transferGroup(sessionId: string): string {
  return `session_${sessionId}`;
}

/** The same on every send of a generation; a new generation only once the last one created nothing. */
export function idempotencyKey(payout: Pick<Payout, 'session_id' | 'key_generation'>): string {
  return `payout-${payout.session_id}-${payout.key_generation}`;
}
