import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildCli } from '../../tools/payouts-cli.ts';
import { documentedCommands } from '../helpers/documented-commands.ts';

/**
 * Every `npx payouts …` line of the README and the runbook is parsed by the real CLI, with its
 * actions replaced by nothing: a command, option or value that the docs name and the CLI does not
 * know fails here, so the docs cannot drift from what on-call can type.
 */

const ROOT = join(import.meta.dirname, '../..');
const DOCS = ['README.md', 'docs/runbook.md'];

/** What the docs write in angle brackets, as a person would fill it in. */
const PLACEHOLDERS: Record<string, string> = {
  '<sessionId>': 'b0000000-0000-4000-8000-000000000001',
  '<mentorId>': '22222222-2222-4222-8222-222222222222',
  '<messageId>': '38564a82-9293-4c1c-8a3c-1f3ec07452af',
  '<env>': 'dev',
  '<date>': '2026-11-01',
  '<since>': '2026-11-01',
  '<until>': '2026-11-02',
};

/** Splits as a shell would for these lines: words, and "quoted text" as one word. */
function words(command: string): string[] {
  return [...command.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

function withoutActions(program: Command): Command {
  for (const command of program.commands) {
    command.action(() => {});
    withoutActions(command);
  }
  return program;
}

async function parse(argv: string[]): Promise<{ exitCode: number; stderr: string[] }> {
  const stderr: string[] = [];
  const out = {
    log: () => {},
    error: (text: string) => stderr.push(text),
    isTTY: false,
    columns: undefined,
    colour: false,
    errorColour: false,
  };
  const program = withoutActions(buildCli({ env: {}, out }, () => {}));
  try {
    await program.parseAsync(argv, { from: 'user' });
    return { exitCode: 0, stderr };
  } catch (error) {
    return { exitCode: (error as { exitCode?: number }).exitCode ?? 1, stderr };
  }
}

describe.each(DOCS)('the `npx payouts` lines of %s', (doc) => {
  const commands = documentedCommands(readFileSync(join(ROOT, doc), 'utf8'));

  it('are there to check', () => {
    expect(commands.length).toBeGreaterThan(3);
  });

  it.each(commands)('%s parses with the real CLI', async (command) => {
    const argv = words(command)
      .slice(2)
      .map((word) => PLACEHOLDERS[word] ?? word);

    const result = await parse(argv);

    expect(result.stderr).toEqual([]);
    expect(result.exitCode).toBe(0);
  });
});

describe('the check itself', () => {
  it('fails a command or option the CLI does not know', async () => {
    expect((await parse(['dlq', 'purge'])).exitCode).not.toBe(0);
    expect((await parse(['status', '--watch'])).exitCode).not.toBe(0);
  });

  it('finds commands in code spans, in indented blocks and before a comment', () => {
    const text = [
      'run `npx payouts --env prod status` first',
      '    npx payouts --env prod failures --since 1d      # the last day',
      'or `npx payouts --env prod <command>`',
    ].join('\n');

    expect(documentedCommands(text)).toEqual([
      'npx payouts --env prod status',
      'npx payouts --env prod failures --since 1d',
    ]);
  });
});

describe('--json', () => {
  const leaves = (command: Command): Command[] =>
    command.commands.length === 0 ? [command] : command.commands.flatMap(leaves);

  it('is an option of every command', () => {
    const out = {
      log: () => {},
      error: () => {},
      isTTY: false,
      columns: undefined,
      colour: false,
      errorColour: false,
    };
    const program = buildCli({ env: {}, out }, () => {});

    const without = leaves(program)
      .filter((command) => command.name() !== 'help')
      .filter((command) => !command.options.some((option) => option.long === '--json'))
      .map((command) => command.name());

    expect(without).toEqual([]);
  });
});
