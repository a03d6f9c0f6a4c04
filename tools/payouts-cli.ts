import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError } from '../shared/errors.ts';
import { HOUR_MS } from '../shared/runtime-limits.ts';
import { type CliDeps, createCliDeps, type Output } from './cli-deps.ts';
import {
  ENVIRONMENT_NAMES,
  endpointOverrideNote,
  environmentVariables,
} from './cli-environment.ts';
import { pauseCommand, resumeCommand, statusCommand } from './commands/controls.ts';
import { dlqListCommand, dlqRedriveCommand } from './commands/dlq.ts';
import { failuresCommand } from './commands/failures.ts';
import { previewCommand } from './commands/preview.ts';
import { reconcileCommand } from './commands/reconcile.ts';
import { retryCommand } from './commands/retry.ts';

/** `npm run payouts -- <command>` (or `npx payouts`): the on-call and admin commands. */

/** `2026-11-01`, an ISO timestamp, or a duration back from now: `36h`, `7d`. */
function parseSince(value: string, now = new Date()): Date {
  const relative = /^(\d+)([hd])$/.exec(value);
  if (relative) {
    const hours = Number(relative[1]) * (relative[2] === 'd' ? 24 : 1);
    return new Date(now.getTime() - hours * HOUR_MS);
  }
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}/.test(value) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError(
      'expected a date (2026-11-01), a timestamp, or a duration like 7d or 36h',
    );
  }
  return date;
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('expected a whole number of at least 1');
  return Number(value);
}

export interface CliContext {
  env: Record<string, string | undefined>;
  out: Output;
}

function buildCli(context: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('payouts')
    .description('Operate mentor payouts: review failures, preview, DLQ, retry, pause, reconcile')
    .addOption(
      new Option(
        '--env <name>',
        'environment to operate (default: the variables already set)',
      ).choices([...ENVIRONMENT_NAMES]),
    )
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.out.log(text.trimEnd()),
      writeErr: (text) => context.out.error(text.trimEnd()),
    });

  /** Builds the dependencies for one command, runs it, and always closes them. */
  const run =
    <A extends unknown[]>(command: (deps: CliDeps, ...args: A) => Promise<number>) =>
    async (...args: A) => {
      const name = program.opts<{ env?: string }>().env;
      const note = endpointOverrideNote(name, context.env);
      if (note) context.out.error(note);
      const env = await environmentVariables(name, context.env);
      const deps = await createCliDeps(env, context.out);
      try {
        setExitCode(await command(deps, ...args));
      } finally {
        await deps.close();
      }
    };
  const json = () => new Option('--json', 'print JSON for scripts').default(false);

  program
    .command('failures')
    .description('Unpaid sessions whose payout failed, grouped by code, with what to do')
    .option('--since <date>', 'how far back (2026-11-01, 7d, 36h)', parseSince, parseSince('7d'))
    .option('--code <code>', 'only this error code')
    .option('--mentor <id>', 'only this mentor')
    .addOption(json())
    .action(
      run((deps, options: { since: Date; code?: string; mentor?: string; json: boolean }) =>
        failuresCommand(deps, options),
      ),
    );

  program
    .command('preview')
    .description('Dry run of the next scan: what would be paid and skipped (reads only)')
    .addOption(json())
    .action(run((deps, options: { json: boolean }) => previewCommand(deps, options)));

  const dlq = program.command('dlq').description('The payout dead-letter queue');
  dlq
    .command('list')
    .description('Show dead-lettered messages without consuming them')
    .option('--max <n>', 'at most this many', positiveInteger, 100)
    .addOption(json())
    .action(run((deps, options: { max: number; json: boolean }) => dlqListCommand(deps, options)));
  dlq
    .command('redrive')
    .description('Move dead letters back to the payout queue (sessions already paid are dropped)')
    .option('--dry-run', 'only say what would be done', false)
    .option('--max <n>', 'at most this many messages', positiveInteger, 1000)
    .option('--rate <n>', 'at most this many messages per second', positiveInteger, 50)
    .addOption(json())
    .action(
      run((deps, options: { dryRun: boolean; max: number; rate: number; json: boolean }) =>
        dlqRedriveCommand(deps, options),
      ),
    );

  program
    .command('retry')
    .description('Enqueue one session now, after checking it is eligible')
    .argument('<sessionId>', 'the session to pay')
    .action(run((deps, sessionId: string) => retryCommand(deps, sessionId)));

  program
    .command('pause')
    .description('Kill switch: the scan enqueues nothing and no new payout starts')
    .requiredOption('--reason <text>', 'why (shown by status and in the logs)')
    .action(run((deps, options: { reason: string }) => pauseCommand(deps, options)));
  program
    .command('resume')
    .description('Undo pause')
    .action(run((deps) => resumeCommand(deps)));
  program
    .command('status')
    .description('Paused or not, queue and DLQ depth, the last scan')
    .addOption(json())
    .action(run((deps, options: { json: boolean }) => statusCommand(deps, options)));

  program
    .command('reconcile')
    .description(
      'Compare payouts recorded here with transfers at Stripe; exit 1 on open mismatches',
    )
    .requiredOption('--since <date>', 'start of the range (2026-11-01, or 7d, 36h)', parseSince)
    .option('--until <date>', 'end of the range (default: now)', parseSince)
    .option('--fix', 'record transfers found at Stripe but not marked here', false)
    .addOption(json())
    .action(
      run((deps, options: { since: Date; until?: Date; fix: boolean; json: boolean }) =>
        reconcileCommand(deps, options),
      ),
    );
  return program;
}

/** Runs one command line; resolves to the exit code. Usage errors exit 2, failures 1. */
export async function main(argv: string[], context: CliContext): Promise<number> {
  let exitCode = 0;
  try {
    await buildCli(context, (code) => {
      exitCode = code;
    }).parseAsync(argv, { from: 'user' });
    return exitCode;
  } catch (error) {
    const { exitCode: commanderExit, code } = error as { exitCode?: number; code?: string };
    // commander has printed its own message; help and --version exit 0.
    if (typeof code === 'string' && code.startsWith('commander.'))
      return commanderExit === 0 ? 0 : 2;
    const message = error instanceof Error ? error.message : String(error);
    context.out.error(`payouts: ${error instanceof ConfigError ? message : `failed: ${message}`}`);
    return 1;
  }
}

/** The command line of this process, printing to the terminal. */
export function runFromProcess(): Promise<number> {
  // Node 20 is the local runtime by decision (the Lambdas run on nodejs22.x).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const out: Output = {
    log: (text) => console.log(text),
    error: (text) => console.error(text),
    isTTY: Boolean(process.stdout.isTTY),
  };
  return main(process.argv.slice(2), { env: process.env, out });
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exit(await runFromProcess());
}
