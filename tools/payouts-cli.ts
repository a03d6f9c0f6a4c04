import { Command, InvalidArgumentError } from 'commander';
import { ConfigError } from '../shared/errors.ts';
import { createCliDeps } from './cli-deps.ts';
import { type ReconcileReport, reconcile } from './reconcile.ts';

/** `npm run payouts -- <command>`: the on-call and admin commands. */

/** `2026-11-01`, an ISO timestamp, or a duration back from now: `36h`, `7d`. */
export function parseSince(value: string, now = new Date()): Date {
  const relative = /^(\d+)([hd])$/.exec(value);
  if (relative) {
    const hours = Number(relative[1]) * (relative[2] === 'd' ? 24 : 1);
    return new Date(now.getTime() - hours * 3_600_000);
  }
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(
      'expected a date (2026-11-01), a timestamp, or a duration like 7d or 36h',
    );
  }
  return date;
}

function printReconcile(report: ReconcileReport): void {
  console.log(
    `Reconciled ${report.since} → ${report.until}: ${report.stripeTransfers} transfer(s) at Stripe, ${report.paidPayouts} payout(s) marked paid here.`,
  );
  if (report.mismatches.length === 0) {
    console.log('No mismatches.');
    return;
  }
  console.table(
    report.mismatches.map((mismatch) => ({
      kind: mismatch.kind,
      session: mismatch.sessionId,
      transfer: 'transferId' in mismatch ? mismatch.transferId : mismatch.transferIds.join(' '),
      detail:
        'recorded' in mismatch
          ? `here ${mismatch.recorded}, Stripe ${mismatch.atStripe}`
          : 'fixed' in mismatch
            ? `${mismatch.amount} ${mismatch.currency}${mismatch.fixed ? ' (fixed)' : ''}`
            : '',
    })),
  );
  console.log(`${report.open} mismatch(es) open.`);
}

export function buildCli(): Command {
  const program = new Command('payouts')
    .description('Operate mentor payouts: reconcile with Stripe')
    .showHelpAfterError()
    .exitOverride();
  program
    .command('reconcile')
    .description(
      'Compare payouts recorded here with transfers at Stripe; exit 1 on open mismatches',
    )
    .requiredOption('--since <date>', 'start of the range (2026-11-01, or 7d, 36h)', (value) =>
      parseSince(value),
    )
    .option('--until <date>', 'end of the range (default: now)', (value) => parseSince(value))
    .option('--fix', 'record transfers found at Stripe but not marked here', false)
    .option('--json', 'print the report as JSON', false)
    .action(async (options: { since: Date; until?: Date; fix: boolean; json: boolean }) => {
      const deps = await createCliDeps();
      try {
        const report = await reconcile(deps, options);
        if (options.json) console.log(JSON.stringify(report, null, 2));
        else printReconcile(report);
        process.exitCode = report.open > 0 ? 1 : 0;
      } finally {
        await deps.close();
      }
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildCli().parseAsync(argv, { from: 'user' });
    return Number(process.exitCode ?? 0);
  } catch (error) {
    const { exitCode, code } = error as { exitCode?: number; code?: string };
    // commander has already printed its own message for usage errors, help and --version.
    if (typeof code === 'string' && code.startsWith('commander.')) return exitCode ?? 2;
    console.error(
      `payouts: ${error instanceof ConfigError ? error.message : error instanceof Error ? error.message : String(error)}`,
    );
    return 2;
  }
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exit(await main(process.argv.slice(2)));
}
