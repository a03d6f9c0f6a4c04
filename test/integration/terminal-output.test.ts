import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_MENTORS, DEMO_SESSIONS } from '../../local/demo-data.ts';
import {
  cleanEnv,
  interrupt,
  ROOT,
  type Running,
  run,
  runInTerminal,
  startKeptPipeline,
  visibleLines,
} from '../helpers/processes.ts';

/**
 * What a person sees: each command in a real pseudo-terminal (node-pty) at 80 and 120 columns,
 * against `npm start -- --keep`. Lines fit the width, colour marks PAUSED, failures and warnings,
 * and none is sent through a pipe or with NO_COLOR. The README's samples come from here.
 */

const SCRATCH = join(ROOT, '.local', `terminal-${randomUUID().slice(0, 8)}`);
const ENV_FILE = join(SCRATCH, 'payouts-env.json');
const WIDTHS = [80, 120];
/** A colour or style code (npm's own spinner moves the cursor, which is no colour). */
const COLOUR = new RegExp(`${String.fromCharCode(27)}\\[\\d+(;\\d+)*m`);
const README_COLUMNS = 120;
const UPDATE_SAMPLES = process.env.UPDATE_README_SAMPLES === '1';
/** What is left of npm's spinner on a line of its own. */
const NPM_SPINNER = /^[\\|/-]+$/;

let pipeline: Running;
const env = cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: ENV_FILE });

const payoutsIn = (columns: number, args: string[], extra: Record<string, string> = {}) =>
  runInTerminal('npx', ['payouts', '--env', 'local', ...args], {
    columns,
    env: { ...env, ...extra },
  });

function expectToFit(output: string, columns: number): void {
  const tooWide = visibleLines(output).filter((line) => line.length > columns);
  expect(tooWide, `lines wider than ${columns} columns`).toEqual([]);
}

/** A README sample and a fresh run agree once what changes from run to run is masked. */
function comparable(text: string): string[] {
  return visibleLines(text)
    .map((line) =>
      line
        .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID')
        .replace(/tr_\w+/g, 'tr_ID')
        .replace(/\b(\d+ (s|min|h|d) ago|just now)/g, 'AGO')
        .replace(/\d+(\.\d+)?/g, '0')
        // Column widths follow the values: compare cells, not padding.
        .replace(/[─]+/g, '─')
        .replace(/ +/g, ' ')
        .trim(),
    )
    .filter((line) => line.length > 0 && !line.startsWith('>') && !NPM_SPINNER.test(line));
}

const SAMPLE = (name: string) =>
  new RegExp(`(<!-- sample ${name} -->\\n\`\`\`text\\n)([\\s\\S]*?)(\`\`\`)`);

function readmeSample(name: string): string {
  return SAMPLE(name).exec(readFileSync(join(ROOT, 'README.md'), 'utf8'))?.[2] ?? '';
}

function writeReadmeSample(name: string, output: string): void {
  const text = visibleLines(output)
    .filter((line) => !NPM_SPINNER.test(line))
    .map((line) => line.trimEnd())
    .join('\n')
    .trim();
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  writeFileSync(join(ROOT, 'README.md'), readme.replace(SAMPLE(name), `$1${text}\n$3`));
}

function checkSample(name: string, output: string): void {
  if (UPDATE_SAMPLES) writeReadmeSample(name, output);
  expect(comparable(readmeSample(name))).toEqual(comparable(output));
}

beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  pipeline = await startKeptPipeline(ENV_FILE);
}, 120_000);

afterAll(async () => {
  await interrupt(pipeline);
  rmSync(SCRATCH, { recursive: true, force: true });
}, 60_000);

describe('the README shows what the commands print', () => {
  it('status and failures right after npm start -- --keep', async () => {
    const status = await payoutsIn(README_COLUMNS, ['status'], { NO_COLOR: '1' });
    const failures = await payoutsIn(README_COLUMNS, ['failures'], { NO_COLOR: '1' });

    checkSample('status', status.output);
    checkSample('failures', failures.output);
  }, 60_000);

  it('npm start', async () => {
    const started = await runInTerminal('npm', ['start'], {
      columns: README_COLUMNS,
      env: { ...env, NO_COLOR: '1' },
    });

    expect(started.code).toBe(0);
    checkSample('npm-start', started.output);
  }, 120_000);
});

describe.each(WIDTHS)('in a terminal %i columns wide', (columns) => {
  it.each([
    [['status'], 0],
    [['failures'], 0],
    [['failures', '--since', '1d'], 0],
    [['preview'], 0],
    [['dlq', 'list'], 0],
    [['dlq', 'redrive', '--dry-run'], 0],
    [['retry', DEMO_SESSIONS.adaUsd], 1],
    [['reconcile', '--since', '7d'], 0],
    [['--help'], 0],
    [['dlq', 'remove', '--help'], 0],
  ])(
    'payouts %j fits the width',
    async (args, exitCode) => {
      const { code, output } = await payoutsIn(columns, args);

      expect(code).toBe(exitCode);
      expectToFit(output, columns);
    },
    60_000,
  );

  it('npm start fits the width, in the CLI’s table style, without the expected ERROR lines', async () => {
    const { code, output } = await runInTerminal('npm', ['start'], { columns, env });

    const text = visibleLines(output).join('\n');
    expect(code).toBe(0);
    expectToFit(output, columns);
    expect(text).not.toContain('(index)');
    expect(text).not.toMatch(/'a0000000-/);
    expect(text).not.toContain('"level":"ERROR"');
    expect(text).toContain('$96.00');
    expect(text).toContain('¥4,000');
    // The catch-up: Ben's account becomes active, its account.updated gets his session paid.
    const catchUp = text.slice(text.indexOf('Ben finishes Stripe onboarding'));
    expect(catchUp).toMatch(
      /^Ben finishes Stripe onboarding: acct_1DemoBenRestricted becomes active\.\nStripe sends account\.updated through EventBridge to the stripe-events queue\.\nStripe events: 1 invocation\(s\), 1 event\(s\) handled, 1 session\(s\) enqueued\.\nTransfer: 1 invocation\(s\), 1 message\(s\) acknowledged, without another scan\.\n\nCaught up after account\.updated \(1\):\n/,
    );
    expect(catchUp).toContain(DEMO_MENTORS.ben);
    expect(catchUp).toContain(DEMO_SESSIONS.benRestricted);
    expect(catchUp).toContain('$72.00');
    expect(catchUp).toMatch(/\bpaid\b[\s│]*(tr_\w+)/);
  }, 120_000);
});

describe('colour', () => {
  it('marks PAUSED in red on a terminal, and not when NO_COLOR is set or the output is piped', async () => {
    await payoutsIn(80, ['pause', '--reason', 'colour check']);
    try {
      const terminal = await payoutsIn(80, ['status']);
      const noColor = await payoutsIn(80, ['status'], { NO_COLOR: '1' });
      const piped = await run('npx', ['payouts', '--env', 'local', 'status'], { env });

      expect(terminal.output).toContain('\u001b[31m\u001b[1mPayouts: PAUSED by');
      expect(noColor.output).not.toMatch(COLOUR);
      expect(noColor.output).toContain('Payouts: PAUSED by');
      expect(piped.stdout).not.toMatch(COLOUR);
      expect(piped.stdout).toContain('Payouts: PAUSED by');
    } finally {
      await payoutsIn(80, ['resume']);
    }
  }, 60_000);

  it('marks failures in yellow on a terminal', async () => {
    const { output } = await payoutsIn(120, ['failures']);

    expect(output).toContain('\u001b[33m1 unpaid session(s) with a failed payout');
  }, 60_000);
});

describe('npm start', () => {
  it('exits 1 with the one-line configuration error when the transfer Lambda cannot start', async () => {
    const result = await run('npm', ['start', '--silent'], {
      env: cleanEnv({ PLATFORM_FEE_BPS: 'abc' }),
    });

    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr.trim()).toBe(
      'npm start: Invalid configuration: PLATFORM_FEE_BPS must be a whole number from 0 to 10000',
    );
  }, 60_000);

  it.each([
    ['SCAN_PAGE_SIZE', '0', 'SCAN_PAGE_SIZE must be at least 1'],
    ['POWERTOOLS_LOG_LEVEL', 'LOUD', 'POWERTOOLS_LOG_LEVEL must be one of'],
  ])(
    'exits 1 naming %s=%s in one line',
    async (name, value, message) => {
      const result = await run('npm', ['start', '--silent'], { env: cleanEnv({ [name]: value }) });

      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toContain(message);
    },
    60_000,
  );

  it('says the scan enqueued nothing when payouts are paused', async () => {
    const result = await run('npm', ['start', '--silent'], {
      env: cleanEnv({ PAYOUTS_PAUSED: 'true' }),
    });

    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Payouts are PAUSED: the scan enqueued nothing.');
    expect(result.stdout).toContain('Paid (0): none');
    // Ben's account.updated is handled, and its catch-up left to the first scan after resuming.
    expect(result.stdout).toContain(
      'Stripe events: 1 invocation(s), 1 event(s) handled, 0 session(s) enqueued.',
    );
    expect(result.stdout).toContain('Caught up after account.updated (0): none');
  }, 120_000);

  it('shows the Lambdas’ log lines, the expected ERROR ones too, only with --verbose', async () => {
    const quiet = await run('npm', ['start', '--silent'], { env: cleanEnv() });
    const verbose = await run('npm', ['start', '--silent', '--', '--verbose'], { env: cleanEnv() });

    expect(quiet.code).toBe(0);
    expect(`${quiet.stdout}${quiet.stderr}`).not.toContain('"level"');
    expect(verbose.code).toBe(0);
    expect(verbose.stderr).toContain('"level":"ERROR"');
    expect(verbose.stderr).toContain('"code":"insufficient_capabilities_for_transfer"');
  }, 180_000);
});
