import { setTimeout as sleepFor } from 'node:timers/promises';
import type Stripe from 'stripe';
import { type RecordDeps, recordReconciledTransfer } from '../../lambdas/transfer/pay-session.ts';
import {
  findPaidPayouts,
  findRecordedTransferId,
  type PaidPayout,
} from '../../shared/db/payouts.repository.ts';
import {
  type PacingDeps,
  type StripeEndpoint,
  waitForStripeSlot,
} from '../../shared/stripe-budget.ts';
import { transferTerms } from '../../shared/stripe-client.ts';
import type { CliDeps, Output } from '../cli-deps.ts';
import { formatMoney, formatWhen, paint, printJson, printTable } from './format.ts';

/**
 * Compares what this database says was paid with what Stripe says was transferred, by session
 * (metadata.session_id, which is always ours; Stripe may file a transfer under its source charge's
 * transfer_group), for transfers created and payouts recorded in a time range. Read-only unless
 * `fix`; only "paid at Stripe but not marked here" is fixable, and it is recorded exactly as the
 * transfer Lambda records a transfer.
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

export interface ReconcileReport {
  since: string;
  until: string;
  stripeTransfers: number;
  paidPayouts: number;
  mismatches: Mismatch[];
  /** Mismatches still open after this run (fixed ones excluded). */
  open: number;
}

export type ReconcileDeps = Omit<RecordDeps, 'faults'> & {
  stripe: { transfers: Pick<Stripe['transfers'], 'list' | 'retrieve'> };
  /** Reads share the transfer Lambdas' read budget (shared/stripe-budget.ts). */
  pacing: PacingDeps;
};

/** How long a read may wait for its slot before reconcile gives up (and says so). */
const READ_SLOT_WAIT_MS = 60_000;

export async function reconcile(
  deps: ReconcileDeps,
  options: { since: Date; until?: Date; fix: boolean },
): Promise<ReconcileReport> {
  const until = options.until ?? deps.clock.now();
  const range = { since: options.since, until };
  const [atStripe, paidHere] = await Promise.all([
    stripeTransfersBySession(deps, range),
    findPaidPayouts(deps.db, range),
  ]);
  const mismatches: Mismatch[] = [];

  for (const [sessionId, transfers] of atStripe) {
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
        fixed: options.fix && fixable ? await fixUnmarked(deps, sessionId, transfer) : false,
      });
    }
  }

  for (const payout of paidHere) {
    const transfer =
      atStripe.get(payout.sessionId)?.find((candidate) => candidate.id === payout.transferId) ??
      (await retrieveTransfer(deps, payout.transferId));
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
  };
}

async function stripeTransfersBySession(
  deps: ReconcileDeps,
  range: { since: Date; until: Date },
): Promise<Map<string, Stripe.Transfer[]>> {
  const bySession = new Map<string, Stripe.Transfer[]>();
  let startingAfter: string | undefined;
  do {
    await readSlot(deps, 'transfers.list');
    const page = await deps.stripe.transfers.list({
      created: {
        gte: Math.floor(range.since.getTime() / 1000),
        lte: Math.ceil(range.until.getTime() / 1000),
      },
      limit: 100,
      ...(startingAfter && { starting_after: startingAfter }),
    });
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
  sessionId: string,
  transfer: Stripe.Transfer,
): Promise<boolean> {
  try {
    const result = await recordReconciledTransfer(deps, sessionId, transfer);
    return result.outcome === 'paid';
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
  await readSlot(deps, 'transfers.retrieve');
  try {
    return await deps.stripe.transfers.retrieve(transferId);
  } catch (error) {
    if ((error as { code?: string }).code === 'resource_missing') return undefined;
    throw error;
  }
}

async function readSlot(deps: ReconcileDeps, endpoint: StripeEndpoint): Promise<void> {
  if (!(await waitForStripeSlot(deps.pacing, endpoint, READ_SLOT_WAIT_MS))) {
    throw new Error(
      'The Stripe read budget has no slot within a minute (a busy payout run?): run reconcile again later',
    );
  }
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

export async function reconcileCommand(
  deps: CliDeps,
  options: { since: Date; until?: Date; fix: boolean; json: boolean },
): Promise<number> {
  const report = await reconcile(
    {
      db: deps.db,
      stripe: await deps.stripe(),
      clock: deps.clock,
      log: deps.log,
      config: deps.config,
      pacing: {
        db: deps.db,
        sleep: (ms) => sleepFor(ms),
        budget: deps.config.stripeBudget,
      },
    },
    options,
  );
  if (options.json) printJson(deps.out, report);
  else printReconcile(deps.out, report, deps.clock.now());
  return report.open > 0 ? 1 : 0;
}

function printReconcile(out: Output, report: ReconcileReport, now: Date): void {
  out.log(
    `Reconciled ${formatWhen(new Date(report.since), now)} → ${formatWhen(new Date(report.until), now)}: ${report.stripeTransfers} transfer(s) at Stripe, ${report.paidPayouts} payout(s) marked paid here.`,
  );
  if (report.mismatches.length === 0) {
    out.log(paint(out.colour, 'good', 'No mismatches.'));
    return;
  }
  printTable(
    out,
    [
      { header: 'kind', wrap: true },
      { header: 'session' },
      { header: 'transfer', wrap: true },
      { header: 'detail', wrap: true },
    ],
    report.mismatches.map((mismatch) => [
      mismatch.kind,
      mismatch.sessionId,
      'transferId' in mismatch ? mismatch.transferId : mismatch.transferIds.join(' '),
      'recorded' in mismatch
        ? `here ${mismatch.recorded}, Stripe ${mismatch.atStripe}`
        : 'fixed' in mismatch
          ? `${formatMoney(mismatch.amount, mismatch.currency)}${mismatch.fixed ? ' (fixed)' : ''}`
          : '',
    ]),
  );
  const open = `${report.open} mismatch(es) open.`;
  out.log(report.open > 0 ? paint(out.colour, 'alert', open) : open);
}
