import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The Promela model of docs/payout-protocol.md (model/README.md), checked exhaustively by spin.
const MODEL_DIR = resolve(import.meta.dirname, '../../model');
const MODEL_FILES = ['payout-protocol.pml', 'payout-protocol-before.pml'];
const MAX_OUTPUT = 64 * 1024 * 1024;

interface Verification {
  output: string;
  statesStored: number;
  errors: number;
  /** pan explored every reachable state: nothing cut by depth, memory or a bitstate search. */
  complete: boolean;
  /** The violated assertion of the counterexample pan kept (with -i, the shortest it found). */
  violation: string | undefined;
  /** That counterexample replayed by spin: the model's narration, one step a line. */
  trail: string[];
}

function isOnPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

function aptGet(args: string[]): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  return spawnSync('apt-get', args, { stdio: 'ignore', env }).status === 0;
}

function ensureSpin(): void {
  if (!isOnPath('spin') && process.getuid?.() === 0) {
    if (!aptGet(['install', '-y', 'spin'])) {
      aptGet(['update']);
      aptGet(['install', '-y', 'spin']);
    }
  }
  if (!isOnPath('spin')) {
    throw new Error(
      'spin, the Promela model checker, is not installed: install the Debian package with `apt-get install -y spin`',
    );
  }
  if (!isOnPath('gcc')) {
    throw new Error(
      'gcc is not installed (spin compiles its verifier with it): `apt-get install -y gcc`',
    );
  }
}

/** Builds spin's verifier for one model and variant in its own directory and runs it. */
function verify(
  workDir: string,
  name: string,
  model: string,
  defines: string[],
  search: 'exhaustive' | 'shortest-counterexample' = 'exhaustive',
): Verification {
  const dir = join(workDir, name);
  mkdirSync(dir);
  for (const file of MODEL_FILES) copyFileSync(join(MODEL_DIR, file), join(dir, file));
  const options = { cwd: dir, encoding: 'utf8' as const, maxBuffer: MAX_OUTPUT };
  execFileSync('spin', ['-a', ...defines, model], options);
  // The control's search is small: a quick build, and -i for the shortest trail (needs -DREACH).
  const shortest = search === 'shortest-counterexample';
  const build = shortest ? ['-O0', '-DREACH'] : ['-O2'];
  execFileSync('gcc', [...build, '-DSAFETY', '-DMEMLIM=4096', '-o', 'pan', 'pan.c'], options);
  const pan = spawnSync('./pan', ['-m100000', ...(shortest ? ['-i'] : [])], options);
  const output = `${pan.stdout ?? ''}${pan.stderr ?? ''}`;
  const truncated = /max search depth too small|search not completed|out of memory|memlim/i.test(
    output,
  );
  // pan -i reports ever shorter counterexamples; the trail file holds the last one.
  const violations = [...output.matchAll(/assertion violated (.*) \(at depth/g)];
  const violation = violations.at(-1)?.[1];
  const trail = violation === undefined ? [] : replayTrail(dir, model, defines);
  return {
    output,
    statesStored: Number(/(\d+) states, stored/.exec(output)?.[1] ?? Number.NaN),
    errors: Number(/errors: (\d+)/.exec(output)?.[1] ?? Number.NaN),
    complete: output.includes('Full statespace search for') && !truncated,
    violation,
    trail,
  };
}

/** Replays pan's counterexample with spin -t and keeps the model's printf narration. */
function replayTrail(dir: string, model: string, defines: string[]): string[] {
  const replay = spawnSync('spin', ['-t', ...defines, model], {
    cwd: dir,
    encoding: 'utf8',
    maxBuffer: MAX_OUTPUT,
  });
  return `${replay.stdout ?? ''}`
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => /^(W\d|Stripe|time|reconcile)/.test(line));
}

describe('the payout protocol, model-checked with spin', () => {
  let workDir: string;

  beforeAll(() => {
    ensureSpin();
    workDir = mkdtempSync(join(tmpdir(), 'payout-model-'));
  }, 300_000);

  afterAll(() => {
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  // The 429 resend multiplies the states of three workers past what fits here (over 34 million
  // stored and growing at 4 GB): three workers run without it, two with it.
  it.each([
    ['3 workers, 3 deliveries, no resend after a 429', ['-DNWORKERS=3', '-DMAX_429_RESENDS=0']],
    ['2 workers, 3 deliveries, a 429 resent once', ['-DNWORKERS=2', '-DMAX_429_RESENDS=1']],
  ])(
    'finds no double transfer and no second key while a request may run, over every interleaving (%s)',
    (_, shape) => {
      const result = verify(workDir, `real${shape.join('')}`, 'payout-protocol.pml', [
        ...shape,
        '-DNDELIVERIES=3',
        '-DMAXGEN=3',
      ]);

      expect(result.violation, result.output).toBeUndefined();
      expect(result.errors, result.output).toBe(0);
      expect(result.complete, result.output).toBe(true);
      // A model that blocks early would pass vacuously: the full search covers over a million states.
      expect(result.statesStored).toBeGreaterThan(1_000_000);
    },
    180_000,
  );

  it('catches the double transfer of the protocol before the fix (negative control 1)', () => {
    // Finding 1 alone: assertions (b) and (c) off, no reuse window ever passing, and Stripe
    // storing every refusal (the assumption of that time), so the trail is finding 1's.
    const result = verify(
      workDir,
      'before',
      'payout-protocol-before.pml',
      ['-DCHECK_B=0', '-DWINDOW_PASSES=0', '-DREFUSALS_STORED=1', '-DCHECK_RESERVATION=0'],
      'shortest-counterexample',
    );

    expect(result.violation, result.output).toBe('(transfers<=1)');
    expect(result.trail.join('\n')).toContain('SEARCH at once');
  }, 180_000);

  it('catches the protocol before the fix starting a new key while the first request may still run', () => {
    const result = verify(
      workDir,
      'before-all',
      'payout-protocol-before.pml',
      ['-DWINDOW_PASSES=0', '-DREFUSALS_STORED=1', '-DCHECK_RESERVATION=0'],
      'shortest-counterexample',
    );

    expect(result.violation, result.output).toMatch(/kst\[k\]/);
  }, 180_000);

  it('catches the double transfer when a fresh, unstored refusal ends the generation (negative control 2)', () => {
    // The code before recordRefusal: a fresh 400 retired the key, while another request under it
    // (from an invocation whose lease had expired) could still arrive and execute.
    const result = verify(
      workDir,
      'fresh-refusal',
      'payout-protocol.pml',
      ['-DEND_ON_FRESH_REFUSAL', '-DCHECK_B=0', '-DWINDOW_PASSES=0', '-DCHECK_RESERVATION=0'],
      'shortest-counterexample',
    );

    expect(result.violation, result.output).toBe('(transfers<=1)');
    const trail = result.trail.join('\n');
    expect(trail).toMatch(
      /refused before execution, nothing stored[\s\S]*endGeneration\(1, refused\)/,
    );
    expect(trail).toContain('START generation 2');
  }, 180_000);

  it('catches a day over its limit when a fresh refusal gives its reservation back (negative control 3)', () => {
    // Another request under the refused key may still create the transfer, with nothing reserved.
    const result = verify(
      workDir,
      'release-on-refusal',
      'payout-protocol.pml',
      ['-DRELEASE_ON_FRESH_REFUSAL=1', '-DCHECK_B=0', '-DWINDOW_PASSES=0'],
      'shortest-counterexample',
    );

    expect(result.violation, result.output).toMatch(/reserved/);
    expect(result.trail.join('\n')).toContain('recordRefusal');
  }, 180_000);
});
