import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { ConfigError } from '../shared/errors.ts';
import {
  codeArgument,
  parseWhen,
  positiveInteger,
  reasonArgument,
  uuidArgument,
  whenArgument,
} from './cli-arguments.ts';
import { type CliDeps, createCliDeps, type Output, processOutput } from './cli-deps.ts';
import {
  ENVIRONMENT_NAMES,
  endpointOverrideNote,
  environmentVariables,
  localConnectionRefused,
} from './cli-environment.ts';
import { pauseCommand, resumeCommand, statusCommand } from './commands/controls.ts';
import { dlqListCommand, dlqRedriveCommand, dlqRemoveCommand } from './commands/dlq.ts';
import { failuresCommand } from './commands/failures.ts';
import { holdCommand, releaseCommand } from './commands/holds.ts';
import { previewCommand } from './commands/preview.ts';
import { reconcileCommand } from './commands/reconcile.ts';
import { retryCommand } from './commands/retry.ts';
import { scanCommand } from './commands/scan.ts';

/** `npx payouts <command>` (or `npm run -s payouts -- <command>`): the on-call and admin commands. */

const VERSION = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

export interface CliContext {
  env: Record<string, string | undefined>;
  out: Output;
  /** Ctrl-C: commands that move messages stop at the next safe point and say what they did. */
  signal?: AbortSignal;
}

type Json = { json: boolean };

export function buildCli(context: CliContext, setExitCode: (code: number) => void): Command {
  const program = new Command('payouts')
    .description(
      'Operate mentor payouts: review failures, preview, DLQ, retry, pause, hold, reconcile',
    )
    .version(VERSION, '-V, --version', 'print the version')
    .addOption(
      new Option(
        '--env <name>',
        'environment to operate (default: the variables already set)',
      ).choices([...ENVIRONMENT_NAMES]),
    )
    .exitOverride()
    .configureOutput({
      writeOut: (text) => context.out.log(text.trimEnd()),
      writeErr: (text) => context.out.error(text.trimEnd()),
      // One line that names the bad argument; --help has the rest.
      outputError: (text, write) => write(`${text.trim()} (see --help)`),
    });

  /** Builds the dependencies for one command, runs it, and always closes them. */
  const run =
    <A extends unknown[]>(command: (deps: CliDeps, ...args: A) => Promise<number>) =>
    async (...args: A) => {
      const name = program.opts<{ env?: string }>().env;
      const note = endpointOverrideNote(name, context.env);
      if (note) context.out.error(note);
      try {
        const env = await environmentVariables(name, context.env, (line) =>
          context.out.error(line),
        );
        const deps = await createCliDeps(env, context.out, context.signal);
        try {
          setExitCode(await command(deps, ...args));
        } finally {
          await deps.close();
        }
      } catch (error) {
        const notRunning = name === 'local' ? localConnectionRefused(error) : undefined;
        throw notRunning ? new ConfigError(notRunning) : error;
      }
    };
  const json = () => new Option('--json', 'print JSON for scripts (stdout holds only the JSON)');

  program
    .command('status')
    .description('Paused or not, payout queue and DLQ depth, the last scan')
    .option('--wait', 'first wait until the payout queue is empty (Ctrl-C stops waiting)', false)
    .addOption(json())
    .action(run((deps, options: { wait: boolean } & Json) => statusCommand(deps, options)));

  program
    .command('failures')
    .description('Unpaid sessions whose payout failed, grouped by code, with what to do')
    .option('--since <when>', 'how far back: 2026-11-01, 36h, 7d (default: 7d)', whenArgument)
    .option('--code <code>', 'only this error code', codeArgument)
    .option('--mentor <id>', 'only this mentor', uuidArgument)
    .addOption(json())
    .action(
      run((deps, options: { since?: Date; code?: string; mentor?: string } & Json) =>
        failuresCommand(deps, { ...options, since: options.since ?? parseWhen('7d') }),
      ),
    );

  program
    .command('preview')
    .description('Dry run of the next scan: what would be paid and skipped (reads only)')
    .addOption(json())
    .action(run((deps, options: Json) => previewCommand(deps, options)));

  program
    .command('scan')
    .description('Run the daily scan now (re-run a failed day): enqueues every eligible session')
    .addOption(json())
    .action(run((deps, options: Json) => scanCommand(deps, options)));

  const dlq = program.command('dlq').description('The payout dead-letter queue');
  dlq
    .command('list')
    .description('Show dead-lettered messages without consuming them')
    .option('--max <n>', 'show at most this many', positiveInteger, 100)
    .addOption(json())
    .action(run((deps, options: { max: number } & Json) => dlqListCommand(deps, options)));
  dlq
    .command('redrive')
    .description('Move dead letters back to the payout queue (sessions already paid are dropped)')
    .option('--dry-run', 'only say what would be done', false)
    .option('--max <n>', 'at most this many messages', positiveInteger, 1000)
    .option('--rate <n>', 'at most this many messages per second', positiveInteger, 50)
    .addOption(json())
    .action(
      run((deps, options: { dryRun: boolean; max: number; rate: number } & Json) =>
        dlqRedriveCommand(deps, options),
      ),
    );
  dlq
    .command('remove')
    .description('Delete dead letters for good, after saving each to a file (malformed bodies)')
    .argument('[messageId...]', 'the messages to remove (ids as dlq list shows them)')
    .option('--malformed', 'remove every message whose body is not a payout message', false)
    .option('--to <file>', 'save them here (default: payouts-dlq-removed-<time>.jsonl)')
    .addOption(json())
    .action(
      run((deps, messageIds: string[], options: { malformed: boolean; to?: string } & Json) =>
        dlqRemoveCommand(deps, { ...options, messageIds }),
      ),
    );

  program
    .command('retry')
    .description('Enqueue one session now, after checking the transfer Lambda would pay it')
    .argument('<sessionId>', 'the session to pay', uuidArgument)
    .addOption(json())
    .action(
      run((deps, sessionId: string, options: Json) => retryCommand(deps, sessionId, options)),
    );

  program
    .command('pause')
    .description('Kill switch: the scan enqueues nothing and no new payout starts')
    .requiredOption('--reason <text>', 'why (shown by status and in the logs)')
    .option('--replace', 'already paused: replace who and why', false)
    .addOption(json())
    .action(
      run((deps, options: { reason: string; replace: boolean } & Json) =>
        pauseCommand(deps, options),
      ),
    );
  program
    .command('resume')
    .description('Undo pause')
    .addOption(json())
    .action(run((deps, options: Json) => resumeCommand(deps, options)));

  program
    .command('hold')
    .description(
      'Hold one mentor’s payouts: their sessions fail with mentor_on_hold, Stripe is not asked',
    )
    .requiredOption('--mentor <id>', 'the mentor (mentors.id)', uuidArgument)
    .requiredOption('--reason <text>', 'why (shown by status and failures)', reasonArgument)
    .addOption(json())
    .action(
      run((deps, options: { mentor: string; reason: string } & Json) => holdCommand(deps, options)),
    );
  program
    .command('release')
    .description('Undo hold: the mentor’s waiting sessions are paid by the next scan')
    .requiredOption('--mentor <id>', 'the mentor (mentors.id)', uuidArgument)
    .option('--reason <text>', 'why (kept with the released hold)', reasonArgument)
    .addOption(json())
    .action(
      run((deps, options: { mentor: string; reason?: string } & Json) =>
        releaseCommand(deps, options),
      ),
    );

  program
    .command('reconcile')
    .description(
      'Compare payouts recorded here with transfers at Stripe; exit 1 on open mismatches',
    )
    .requiredOption('--since <when>', 'start of the range: 2026-11-01, 36h, 7d', whenArgument)
    .option('--until <when>', 'end of the range (default: now)', whenArgument)
    .option('--fix', 'record transfers found at Stripe but not marked here', false)
    .addOption(json())
    .hook('preAction', (command) => {
      const { since, until } = command.opts<{ since: Date; until?: Date }>();
      if (until && until <= since) {
        command.error(
          `error: option '--until <when>' (${until.toISOString()}) is not after --since (${since.toISOString()})`,
          { exitCode: 2, code: 'commander.invalidArgument' },
        );
      }
    })
    .action(
      run((deps, options: { since: Date; until?: Date; fix: boolean } & Json) =>
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

/** The command line of this process, printing to the terminal; Ctrl-C aborts gracefully once. */
export async function runFromProcess(): Promise<number> {
  // Node 20 is the local runtime by decision (the Lambdas run on nodejs22.x).
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const interrupt = new AbortController();
  const onSignal = () => {
    if (interrupt.signal.aborted) process.exit(130);
    process.stderr.write('\nInterrupted: finishing the current step (Ctrl-C again to quit now)\n');
    interrupt.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const code = await main(process.argv.slice(2), {
    env: process.env,
    out: processOutput(),
    signal: interrupt.signal,
  });
  return interrupt.signal.aborted && code === 0 ? 130 : code;
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  process.exit(await runFromProcess());
}
