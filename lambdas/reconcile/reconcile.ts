import type { Kysely } from 'kysely';
import type Stripe from 'stripe';
import type { Clock } from '../../shared/clock.ts';
import type { Database } from '../../shared/db/database.ts';
import { findReversalsOfSessions } from '../../shared/db/payout-reversals.repository.ts';
import {
  findPaidPayouts,
  findRecordedTransferId,
  type PaidPayout,
} from '../../shared/db/payouts.repository.ts';
import type { Log } from '../../shared/logger.ts';
import {
  type PacingDeps,
  type SendSlot,
  type StripeEndpoint,
  waitForStripeSlot,
} from '../../shared/stripe-budget.ts';
import { transferTerms } from '../../shared/stripe-client.ts';

/**
 * Compares what this database says was paid with what Stripe says was transferred, by session
 * (metadata.session_id, which is always ours; Stripe may file a transfer under its source charge's
 * transfer_group), for transfers created and payouts recorded in a time range. The one comparison
 * of `payouts reconcile` and the daily reconciliation Lambda. Read-only unless given `fix`, which
 * only the CLI passes (`reconcile --fix`): only "paid at Stripe but not marked here" is fixable, and
 * the CLI records it exactly as the transfer Lambda records a transfer. Reversed transfers are
 * listed apart: a reversal is not a mismatch, and nothing here pays a session again.
 */

export type Mismatch =
  | {
      kind: 'paid_at_stripe_not_marked';
      sessionId: string;
      transferId: string;
      amount: number;
      currency: string;
      fixed: boolean;
    }
  | { kind: 'marked_but_absent_at_stripe'; sessionId: string; transferId: string }
  | {
      kind: 'amount_mismatch';
      sessionId: string;
      transferId: string;
      recorded: string;
      atStripe: string;
    }
  | {
      kind: 'destination_mismatch';
      sessionId: string;
      transferId: string;
      recorded: string;
      atStripe: string;
    }
  | { kind: 'several_transfers'; sessionId: string; transferIds: string[] };

/**
 * A transfer of ours that Stripe shows (partly) reversed. Not a mismatch: the transfer was made and
 * recorded; a reversal is a person's decision at Stripe, and nothing here pays the session again.
 */
export interface ReversedTransfer {
  sessionId: string;
  transferId: string;
  /** The transfer's amount and how much of it Stripe reversed, minor units of `currency`. */
  amount: number;
  amountReversed: number;
  currency: string;
  /** The reversals recorded here from transfer.reversed (payout_reversals). */
  recordedReversalIds: string[];
  /** Stripe reversed more than the reversals recorded here add up to (an event not yet handled). */
  unrecordedAmount: number;
}

export interface ReconcileReport {
  since: string;
  until: string;
  stripeTransfers: number;
  paidPayouts: number;
  mismatches: Mismatch[];
  /** Mismatches still open after this run (fixed ones excluded). */
  open: number;
  /** Listed apart from the mismatches: nothing to fix (see ReversedTransfer). */
  reversed: ReversedTransfer[];
}

export interface ReconcileDeps {
  db: Kysely<Database>;
  stripe: { transfers: Pick<Stripe['transfers'], 'list' | 'retrieve'> };
  clock: Clock;
  log: Log;
  /** Reads share the transfer Lambdas' read budget (shared/stripe-budget.ts). */
  pacing: PacingDeps;
}

/**
 * Records a transfer found at Stripe for a session with none recorded; true if it is now recorded
 * paid. `reconcile --fix` passes the transfer Lambda's own recording; nothing else repairs.
 */
export type RecordFoundTransfer = (
  sessionId: string,
  transfer: Stripe.Transfer,
) => Promise<boolean>;

export interface ReconcileOptions {
  since: Date;
  until?: Date;
  fix?: RecordFoundTransfer;
}

/** How long a read may wait for its slot before reconcile gives up (and says so). */
const READ_SLOT_WAIT_MS = 60_000;

export async function reconcile(
  deps: ReconcileDeps,
  options: ReconcileOptions,
): Promise<ReconcileReport> {
  const until = options.until ?? deps.clock.now();
  const range = { since: options.since, until };
  const [atStripe, paidHere] = await Promise.all([
    stripeTransfersBySession(deps, range),
    findPaidPayouts(deps.db, range),
  ]);
  const mismatches: Mismatch[] = [];
  const seen = new Map<string, { sessionId: string; transfer: Stripe.Transfer }>();

  for (const [sessionId, transfers] of atStripe) {
    for (const transfer of transfers) seen.set(transfer.id, { sessionId, transfer });
    if (transfers.length > 1) {
      mismatches.push({
        kind: 'several_transfers',
        sessionId,
        transferIds: transfers.map((t) => t.id),
      });
    }
    const recordedId = await findRecordedTransferId(deps.db, sessionId);
    for (const [index, transfer] of transfers.entries()) {
      if (transfer.id === recordedId) continue;
      // Only the oldest transfer of a session with none recorded can be adopted; any other is a
      // second payment a human must reverse.
      const fixable = recordedId === undefined && index === 0;
      mismatches.push({
        kind: 'paid_at_stripe_not_marked',
        sessionId,
        transferId: transfer.id,
        amount: transfer.amount,
        currency: transfer.currency,
        fixed:
          options.fix && fixable
            ? await fixUnmarked(deps, options.fix, sessionId, transfer)
            : false,
      });
    }
  }

  for (const payout of paidHere) {
    const transfer =
      atStripe.get(payout.sessionId)?.find((candidate) => candidate.id === payout.transferId) ??
      (await retrieveTransfer(deps, payout.transferId));
    if (transfer) seen.set(transfer.id, { sessionId: payout.sessionId, transfer });
    if (!transfer) {
      mismatches.push({
        kind: 'marked_but_absent_at_stripe',
        sessionId: payout.sessionId,
        transferId: payout.transferId,
      });
      continue;
    }
    mismatches.push(...termMismatches(payout, transfer));
  }

  return {
    since: options.since.toISOString(),
    until: until.toISOString(),
    stripeTransfers: [...atStripe.values()].reduce((sum, list) => sum + list.length, 0),
    paidPayouts: paidHere.length,
    mismatches,
    open: mismatches.filter((mismatch) => !('fixed' in mismatch && mismatch.fixed)).length,
    reversed: await reversedTransfers(deps, [...seen.values()]),
  };
}

/** The transfers among those compared that Stripe shows reversed, with what is recorded here. */
async function reversedTransfers(
  deps: ReconcileDeps,
  compared: { sessionId: string; transfer: Stripe.Transfer }[],
): Promise<ReversedTransfer[]> {
  const reversed = compared.filter(({ transfer }) => (transfer.amount_reversed ?? 0) > 0);
  const recorded = await findReversalsOfSessions(deps.db, [
    ...new Set(reversed.map(({ sessionId }) => sessionId)),
  ]);
  return reversed.map(({ sessionId, transfer }) => {
    const own = recorded.filter((row) => row.transfer_id === transfer.id);
    const recordedAmount = own.reduce((sum, row) => sum + row.amount, 0);
    return {
      sessionId,
      transferId: transfer.id,
      amount: transfer.amount,
      amountReversed: transfer.amount_reversed,
      currency: transfer.currency,
      recordedReversalIds: own.map((row) => row.reversal_id),
      unrecordedAmount: Math.max(0, transfer.amount_reversed - recordedAmount),
    };
  });
}

async function stripeTransfersBySession(
  deps: ReconcileDeps,
  range: { since: Date; until: Date },
): Promise<Map<string, Stripe.Transfer[]>> {
  const bySession = new Map<string, Stripe.Transfer[]>();
  let startingAfter: string | undefined;
  do {
    const slot = await readSlot(deps, 'transfers.list');
    const page = await slot.send((options) =>
      deps.stripe.transfers.list(
        {
          created: {
            gte: Math.floor(range.since.getTime() / 1000),
            lte: Math.ceil(range.until.getTime() / 1000),
          },
          limit: 100,
          ...(startingAfter && { starting_after: startingAfter }),
        },
        options,
      ),
    );
    for (const transfer of page.data) {
      const sessionId = transfer.metadata?.session_id;
      // Transfers the platform made for other reasons are not ours to reconcile.
      if (!sessionId) continue;
      bySession.set(sessionId, [...(bySession.get(sessionId) ?? []), transfer]);
    }
    startingAfter = page.has_more ? page.data.at(-1)?.id : undefined;
  } while (startingAfter);
  for (const list of bySession.values()) list.sort((a, b) => a.created - b.created);
  return bySession;
}

async function fixUnmarked(
  deps: ReconcileDeps,
  fix: RecordFoundTransfer,
  sessionId: string,
  transfer: Stripe.Transfer,
): Promise<boolean> {
  try {
    return await fix(sessionId, transfer);
  } catch (error) {
    deps.log.error('Could not record the transfer found at Stripe', {
      sessionId,
      transferId: transfer.id,
      error: error instanceof Error ? error.message : String(error),
    });
    return false;
  }
}

async function retrieveTransfer(
  deps: ReconcileDeps,
  transferId: string,
): Promise<Stripe.Transfer | undefined> {
  const slot = await readSlot(deps, 'transfers.retrieve');
  try {
    return await slot.send((options) => deps.stripe.transfers.retrieve(transferId, {}, options));
  } catch (error) {
    if ((error as { code?: string }).code === 'resource_missing') return undefined;
    throw error;
  }
}

async function readSlot(deps: ReconcileDeps, endpoint: StripeEndpoint): Promise<SendSlot> {
  const slot = await waitForStripeSlot(deps.pacing, endpoint, READ_SLOT_WAIT_MS);
  if (!slot) {
    throw new Error(
      'The Stripe read budget has no slot within a minute (a busy payout run?): run reconcile again later',
    );
  }
  return slot;
}

function termMismatches(payout: PaidPayout, transfer: Stripe.Transfer): Mismatch[] {
  const mismatches: Mismatch[] = [];
  const base = { sessionId: payout.sessionId, transferId: transfer.id };
  if (payout.amount !== transfer.amount || payout.currency !== transfer.currency) {
    mismatches.push({
      kind: 'amount_mismatch',
      ...base,
      recorded: `${payout.amount} ${payout.currency}`,
      atStripe: `${transfer.amount} ${transfer.currency}`,
    });
  }
  const { destination } = transferTerms(transfer);
  if (payout.destination !== destination) {
    mismatches.push({
      kind: 'destination_mismatch',
      ...base,
      recorded: payout.destination,
      atStripe: destination,
    });
  }
  return mismatches;
}
