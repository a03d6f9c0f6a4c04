import {
  findLatestAttemptsOfPendingSessions,
  findPaidAfterChange,
  type PaidAfterChange,
} from '../../shared/db/payout-attempts.repository.ts';
import { findReversals } from '../../shared/db/payout-reversals.repository.ts';
import type { FailureCode } from '../../shared/payout-codes.ts';
import { netAmount } from '../../shared/payout-policy.ts';
import type { CliDeps } from '../cli-deps.ts';
import {
  formatMoney,
  formatTotals,
  formatWhen,
  paint,
  printJson,
  printTable,
  relativeTime,
  sumByCurrency,
} from './format.ts';

/** What an admin does about each failure code (docs/runbook.md has the longer story). */
const FAILURE_ADVICE: Record<FailureCode, string> = {
  insufficient_capabilities_for_transfer:
    'Restricted account: ask the mentor to finish Stripe onboarding.',
  transfers_not_allowed:
    'Transfers are disabled on the account: ask the mentor to finish Stripe onboarding.',
  account_invalid: 'The connected account is not usable: ask the mentor to reconnect Stripe.',
  resource_missing:
    'Stripe has no such account: check mentors.stripe_account_id (test vs live mode?).',
  no_connected_account: 'The mentor never connected Stripe: ask them to connect an account.',
  amount_over_limit:
    'Above the payout limits: verify the session, then raise the limit or pay by hand.',
  session_not_found: 'A message named a session that does not exist: check the producer.',
  invalid_session_row: 'The session row is malformed (see the message): fix the data.',
  account_not_ready:
    'Stripe says the account cannot receive transfers: ask the mentor to finish Stripe onboarding; they are paid within minutes of Stripe activating it.',
  mentor_on_hold:
    'An admin holds this mentor’s payouts (npx payouts status says who and why): once reviewed, npx payouts release --mentor <mentorId>.',
};
const PAID_AFTER_CHANGE_ADVICE =
  'Stripe paid the original terms; decide whether to reverse the transfer (docs/runbook.md, "Paid after a change").';
const DEFAULT_ADVICE =
  'Unexpected refusal: read error_message and escalate to the payouts engineers.';

/** Stripe refuses with codes beyond those we know; those get the default advice. */
function adviceFor(code: string): string {
  return Object.hasOwn(FAILURE_ADVICE, code) ? FAILURE_ADVICE[code as FailureCode] : DEFAULT_ADVICE;
}

export interface FailureRow {
  sessionId: string;
  mentorId: string;
  code: string;
  message: string;
  failedAt: string;
  owed: number;
  currency: string;
}

export interface FailuresReport {
  since: string;
  sessions: FailureRow[];
  /** Paid, but the session changed after its transfer was requested: reverse or keep, by hand. */
  paidAfterChange: PaidAfterChange[];
  byCode: { code: string; count: number; owed: Record<string, number>; advice: string }[];
  /** Paid, then reversed at Stripe (transfer.reversed): not paid again by itself. */
  reversed: ReversedRow[];
}

export interface ReversedRow {
  sessionId: string;
  mentorId: string | null;
  transferId: string;
  reversalId: string;
  amount: number;
  currency: string;
  reversedAt: string;
}

const REVERSED_ADVICE =
  'Reversed at Stripe (dashboard or API): the session stays paid_out and is not paid again; paying the mentor again is a business decision (docs/runbook.md, "A transfer was reversed at Stripe").';

/** The admin review list: unpaid sessions whose latest attempt failed, newest first. */
async function listFailures(
  deps: CliDeps,
  options: { since: Date; code?: string; mentor?: string },
): Promise<FailuresReport> {
  const latest = await findLatestAttemptsOfPendingSessions(deps.db, options);
  const sessions = latest
    .filter((row) => row.outcome === 'failed' && (!options.code || row.errorCode === options.code))
    .map(
      (row): FailureRow => ({
        sessionId: row.sessionId,
        mentorId: row.mentorId,
        code: row.errorCode ?? 'unknown',
        message: row.errorMessage ?? '',
        failedAt: row.createdAt.toISOString(),
        owed: Math.max(0, netAmount(row, deps.config.feeBps).net),
        currency: row.currency,
      }),
    )
    .sort((a, b) => b.failedAt.localeCompare(a.failedAt));
  const codes = [...new Set(sessions.map((row) => row.code))];
  const byCode = codes
    .map((code) => {
      const rows = sessions.filter((row) => row.code === code);
      return {
        code,
        count: rows.length,
        owed: sumByCurrency(rows.map((row) => ({ amount: row.owed, currency: row.currency }))),
        advice: adviceFor(code),
      };
    })
    .sort((a, b) => b.count - a.count);
  const paidAfterChange =
    !options.code || options.code === 'paid_after_change'
      ? await findPaidAfterChange(deps.db, options)
      : [];
  // Reversals are not failures of a code: shown unless one code is asked for.
  const reversed = options.code
    ? []
    : (await findReversals(deps.db, options)).map(
        (row): ReversedRow => ({
          sessionId: row.session_id,
          mentorId: row.mentor_id,
          transferId: row.transfer_id,
          reversalId: row.reversal_id,
          amount: row.amount,
          currency: row.currency,
          reversedAt: row.reversed_at.toISOString(),
        }),
      );
  return { since: options.since.toISOString(), sessions, byCode, paidAfterChange, reversed };
}

export async function failuresCommand(
  deps: CliDeps,
  options: { since: Date; code?: string; mentor?: string; json: boolean },
): Promise<number> {
  const report = await listFailures(deps, options);
  if (options.json) {
    printJson(deps.out, report);
    return 0;
  }
  const now = deps.clock.now();
  const since = formatWhen(options.since, now);
  printPaidAfterChange(deps, report.paidAfterChange);
  printReversed(deps, report.reversed);
  if (report.sessions.length === 0) {
    deps.out.log(`No unpaid sessions with a failed payout since ${since}.`);
    return 0;
  }
  deps.out.log(
    paint(
      deps.out.colour,
      'warning',
      `${report.sessions.length} unpaid session(s) with a failed payout since ${since}:`,
    ),
  );
  deps.out.log('');
  for (const group of report.byCode) {
    deps.out.log(
      `${paint(deps.out.colour, 'bold', group.code)}: ${group.count} session(s), owed ${formatTotals(group.owed)}`,
    );
    deps.out.log(`  → ${group.advice}`);
  }
  deps.out.log('');
  printTable(
    deps.out,
    [
      { header: 'failed' },
      { header: 'session' },
      { header: 'mentor' },
      { header: 'code', wrap: true },
      { header: 'owed' },
    ],
    report.sessions.map((row) => [
      relativeTime(new Date(row.failedAt), now),
      row.sessionId,
      row.mentorId,
      row.code,
      formatMoney(row.owed, row.currency),
    ]),
  );
  return 0;
}

function printPaidAfterChange(deps: CliDeps, rows: PaidAfterChange[]): void {
  if (rows.length === 0) return;
  deps.out.log(
    paint(
      deps.out.colour,
      'alert',
      `${rows.length} session(s) paid although they changed after the transfer was requested:`,
    ),
  );
  deps.out.log(`  → ${PAID_AFTER_CHANGE_ADVICE}\n`);
  const now = deps.clock.now();
  printTable(
    deps.out,
    [
      { header: 'paid' },
      { header: 'session' },
      { header: 'transfer' },
      { header: 'amount' },
      { header: 'change', wrap: true },
    ],
    rows.map((row) => [
      relativeTime(row.paidAt, now),
      row.sessionId,
      row.transferId,
      formatMoney(row.amount, row.currency),
      row.change,
    ]),
  );
  deps.out.log('');
}

function printReversed(deps: CliDeps, rows: ReversedRow[]): void {
  if (rows.length === 0) return;
  deps.out.log(
    paint(
      deps.out.colour,
      'warning',
      `${rows.length} payout(s) reversed at Stripe (${formatTotals(sumByCurrency(rows))} taken back from the mentors):`,
    ),
  );
  deps.out.log(`  → ${REVERSED_ADVICE}\n`);
  const now = deps.clock.now();
  printTable(
    deps.out,
    [
      { header: 'reversed' },
      { header: 'session' },
      { header: 'transfer', wrap: true },
      { header: 'reversal', wrap: true },
      { header: 'amount' },
    ],
    rows.map((row) => [
      relativeTime(new Date(row.reversedAt), now),
      row.sessionId,
      row.transferId,
      row.reversalId,
      formatMoney(row.amount, row.currency),
    ]),
  );
  deps.out.log('');
}
