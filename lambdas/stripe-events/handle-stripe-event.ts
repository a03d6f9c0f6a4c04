import type { Kysely } from 'kysely';
import Stripe from 'stripe';
import type { Clock } from '../../shared/clock.ts';
import type { Database } from '../../shared/db/database.ts';
import { findMentorIdsByStripeAccount } from '../../shared/db/mentors.repository.ts';
import { readPayoutControls } from '../../shared/db/payout-controls.repository.ts';
import { recordPayoutEvent } from '../../shared/db/payout-events.repository.ts';
import { recordPayoutReversals } from '../../shared/db/payout-reversals.repository.ts';
import { findPayoutByTransferId } from '../../shared/db/payouts.repository.ts';
import {
  type EligibleCursor,
  findEligibleSessionPage,
} from '../../shared/db/sessions.repository.ts';
import {
  finishCatchUp,
  recordAccountObservation,
} from '../../shared/db/stripe-accounts.repository.ts';
import {
  beginStripeEvent,
  markStripeEventProcessed,
} from '../../shared/db/stripe-events.repository.ts';
import type { Log } from '../../shared/logger.ts';
import { eligibilityCutoff } from '../../shared/payout-policy.ts';
import { enqueueSessionIds, type PayoutQueue } from '../../shared/payout-queue.ts';
import { readInSlot, type StripeBudget } from '../../shared/stripe-budget.ts';
import { classifyStripeReadFailure } from '../../shared/stripe-errors.ts';
import type { StripeEventMessage } from './stripe-event-message.ts';

/**
 * One Stripe event, in order: noted by its id (one already handled to the end changes nothing),
 * acted on, then marked handled. Events are not trusted for order or for state:
 * - account.updated: the account is read from Stripe now and stored unless a later read is stored
 *   already; when its transfers capability becomes active, its mentors' eligible unpaid sessions
 *   go on the payout queue at once (the catch-up), instead of waiting for the next daily scan.
 * - transfer.reversed / transfer.updated: each reversal of one of our transfers is recorded by its
 *   id, with its payout.reversed event for the marketplace in the same transaction; the payout
 *   stays paid and the session paid_out (nothing is paid again by itself).
 * Every effect is idempotent, so a duplicate handled at the same time as the first is harmless.
 */

export interface StripeEventDeps {
  db: Kysely<Database>;
  stripe: { accounts: Pick<Stripe['accounts'], 'retrieve'> };
  queue: PayoutQueue;
  clock: Clock;
  log: Log;
  sleep: (ms: number) => Promise<void>;
  config: { graceHours: number; paused: boolean; stripeBudget: StripeBudget };
  /** What the invocation has left; the account read starts only with time for it. */
  timeLeftMs?: () => number;
}

export type AccountRefresh =
  /** No mentor is paid through the account: not read (it would spend the budget for nothing). */
  | { kind: 'not_a_mentor' }
  /** Stripe answered 404 resource_missing: nothing stored, so the transfer path lets Stripe decide. */
  | { kind: 'unknown_to_stripe' }
  /** A read sent later is stored already; its own handling catches up if needed. */
  | { kind: 'older_than_stored' }
  | { kind: 'stored'; ready: boolean; enqueued: number };

export type StripeEventResult =
  | { outcome: 'duplicate'; eventId: string }
  | { outcome: 'account'; eventId: string; accountId: string; refresh: AccountRefresh }
  | { outcome: 'transfer'; eventId: string; transferId: string; reversalsRecorded: number }
  | { outcome: 'unhandled'; eventId: string; type: string };

const CATCH_UP_PAGE_SIZE = 1000;

export async function handleStripeEvent(
  deps: StripeEventDeps,
  message: StripeEventMessage,
): Promise<StripeEventResult> {
  const { event } = message;
  const eventId = event.id;
  const { processed } = await beginStripeEvent(deps.db, event, deps.clock.now());
  if (processed) {
    deps.log.info('Stripe event already handled; nothing to do', { eventId, type: event.type });
    return { outcome: 'duplicate', eventId };
  }
  let result: StripeEventResult;
  switch (message.kind) {
    case 'account_updated': {
      const refresh = await refreshAccountStanding(deps, message.accountId);
      result = { outcome: 'account', eventId, accountId: message.accountId, refresh };
      break;
    }
    case 'transfer_changed': {
      const reversalsRecorded = await recordReversals(deps, eventId, message.transfer);
      result = { outcome: 'transfer', eventId, transferId: message.transfer.id, reversalsRecorded };
      break;
    }
    case 'unhandled':
      deps.log.warn('Stripe event of a type payouts does not handle; acknowledged', {
        eventId,
        type: event.type,
      });
      result = { outcome: 'unhandled', eventId, type: event.type };
      break;
  }
  await markStripeEventProcessed(deps.db, eventId, deps.clock.now());
  return result;
}

/**
 * Reads the connected account from Stripe now and stores its standing; if its transfers capability
 * has just become active, enqueues its mentors' eligible unpaid sessions. Also what an operator
 * runs to refresh an account by hand.
 */
export async function refreshAccountStanding(
  deps: StripeEventDeps,
  accountId: string,
): Promise<AccountRefresh> {
  const mentorIds = await findMentorIdsByStripeAccount(deps.db, accountId);
  if (mentorIds.length === 0) {
    deps.log.info('No mentor is paid through this account; not read', { accountId });
    return { kind: 'not_a_mentor' };
  }
  // Taken before the read: of two reads of one account, the one sent later wins.
  const observedAt = deps.clock.now();
  const account = await retrieveAccount(deps, accountId);
  if (!account) {
    deps.log.error('Stripe has no such account; its standing stays unknown', {
      accountId,
      mentorIds,
    });
    return { kind: 'unknown_to_stripe' };
  }
  const observation = {
    accountId,
    transfersCapability: account.capabilities?.transfers ?? null,
    payoutsEnabled: account.payouts_enabled,
    disabledReason: account.requirements?.disabled_reason ?? null,
    observedAt,
  };
  const stored = await recordAccountObservation(deps.db, observation, deps.clock.now());
  if (!stored) {
    deps.log.info('A later read of the account is stored already', { accountId });
    return { kind: 'older_than_stored' };
  }
  const ready = stored.transfers_capability === 'active';
  deps.log.info('Connected account standing stored', {
    accountId,
    transfers: stored.transfers_capability,
    payoutsEnabled: stored.payouts_enabled,
    disabledReason: stored.disabled_reason,
    catchUp: stored.catch_up_pending,
  });
  if (!stored.catch_up_pending) return { kind: 'stored', ready, enqueued: 0 };
  const enqueued = await catchUp(deps, accountId, mentorIds);
  await finishCatchUp(deps.db, observation, deps.clock.now());
  return { kind: 'stored', ready, enqueued };
}

/** GET /v1/accounts/:id in a slot of the read budget; undefined if Stripe has no such account. */
async function retrieveAccount(
  deps: StripeEventDeps,
  accountId: string,
): Promise<Stripe.Account | undefined> {
  const pacing = {
    db: deps.db,
    sleep: deps.sleep,
    budget: deps.config.stripeBudget,
    ...(deps.timeLeftMs && { timeLeftMs: deps.timeLeftMs }),
  };
  try {
    return await readInSlot(
      pacing,
      'accounts.retrieve',
      (options) => deps.stripe.accounts.retrieve(accountId, {}, options),
      {
        noTime: () => new Error('Too little time left to read the account from Stripe'),
        noSlot: () => new Error('The Stripe request budget has no slot for the account read soon'),
        rateLimited: (_reason, cause) => classifyStripeReadFailure(cause),
      },
    );
  } catch (error) {
    if (
      error instanceof Stripe.errors.StripeInvalidRequestError &&
      error.statusCode === 404 &&
      error.code === 'resource_missing'
    ) {
      return undefined;
    }
    throw error instanceof Stripe.errors.StripeError ? classifyStripeReadFailure(error) : error;
  }
}

/**
 * The mentors' eligible unpaid sessions, by the scan's own query, onto the payout queue; the
 * transfer Lambda decides each as usual. Nothing while paused: the first scan after resuming
 * enqueues them, as it does every other session. Throws, after sending what it could, if any id
 * stayed unsent: the event is redelivered and the catch-up, still pending, runs again.
 */
async function catchUp(
  deps: StripeEventDeps,
  accountId: string,
  mentorIds: string[],
): Promise<number> {
  const paused = deps.config.paused || (await readPayoutControls(deps.db)).paused;
  if (paused) {
    deps.log.warn('Payouts paused; the account’s waiting sessions are left to the next scan', {
      accountId,
    });
    return 0;
  }
  const cutoff = eligibilityCutoff(deps.clock.now(), deps.config.graceHours);
  const enqueue = { ...deps, sendConcurrency: 4, sendRetries: 3 };
  let enqueued = 0;
  const unsent: string[] = [];
  let after: EligibleCursor | undefined;
  do {
    const page = await findEligibleSessionPage(deps.db, {
      cutoff,
      after,
      limit: CATCH_UP_PAGE_SIZE,
      mentorIds,
    });
    const failed = await enqueueSessionIds(enqueue, page.ids);
    enqueued += page.ids.length - failed.length;
    unsent.push(...failed);
    after = page.next;
  } while (after);
  if (unsent.length > 0) {
    deps.log.error('Could not enqueue every waiting session of a ready account', {
      accountId,
      enqueued,
      unsent,
    });
    throw new Error(`Could not enqueue ${unsent.length} sessions of account ${accountId}`);
  }
  deps.log.info('Account can receive transfers again; its waiting sessions are enqueued', {
    accountId,
    mentorIds,
    enqueued,
  });
  return enqueued;
}

/**
 * Records each reversal the transfer carries, if the transfer is ours: recorded paid here, or
 * naming one of our sessions in its metadata (a transfer whose answer was lost, not yet found).
 */
async function recordReversals(
  deps: StripeEventDeps,
  eventId: string,
  transfer: Extract<StripeEventMessage, { kind: 'transfer_changed' }>['transfer'],
): Promise<number> {
  const transferId = transfer.id;
  const payout = await findPayoutByTransferId(deps.db, transferId);
  const sessionId = payout?.session_id ?? transfer.sessionId;
  if (!sessionId) {
    deps.log.info('Event about a transfer payouts did not make; ignored', { eventId, transferId });
    return 0;
  }
  if (!payout) {
    deps.log.warn('Reversal of a transfer not recorded as paid here; recorded by its session', {
      eventId,
      transferId,
      sessionId,
    });
  }
  if (transfer.hasMoreReversals) {
    // Each reversal has an event of its own, which carries it among the newest.
    deps.log.warn(
      'The transfer shows only its newest reversals; older ones come with their own events',
      {
        eventId,
        transferId,
      },
    );
  }
  // Each reversal newly recorded is announced (payout.reversed) in the same transaction: a
  // duplicated or replayed event records nothing, so it announces nothing either.
  const recorded = await deps.db.transaction().execute(async (trx) => {
    const now = deps.clock.now();
    const added = await recordPayoutReversals(
      trx,
      transfer.reversals.map((reversal) => ({
        reversalId: reversal.id,
        sessionId,
        transferId,
        amount: reversal.amount,
        currency: reversal.currency,
        reversedAt: reversal.created,
        stripeEventId: eventId,
      })),
      now,
    );
    for (const reversal of added) {
      await recordPayoutEvent(trx, {
        type: 'payout.reversed',
        sessionId,
        amount: reversal.amount,
        currency: reversal.currency,
        code: null,
        stripeTransferId: transferId,
        reversal: { id: reversal.reversal_id, reversedAt: reversal.reversed_at },
        occurredAt: now,
      });
    }
    return added;
  });
  for (const reversal of recorded) {
    deps.log.warn('Transfer reversed at Stripe; the payout stays paid and is not paid again', {
      sessionId,
      transferId,
      reversalId: reversal.reversal_id,
      amount: reversal.amount,
      currency: reversal.currency,
    });
  }
  return recorded.length;
}
