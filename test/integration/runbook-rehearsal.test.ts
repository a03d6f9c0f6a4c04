import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { Kysely } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNTS, DEMO_MENTORS, DEMO_SESSIONS } from '../../local/demo-data.ts';
import { createDb } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import { findStripeAccounts } from '../../shared/db/stripe-accounts.repository.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import { LOCAL_OWNER_DATABASE_URL_VARIABLE } from '../../tools/cli-environment.ts';
import { documentedCommands } from '../helpers/documented-commands.ts';
import {
  attemptsFor,
  insertMentor,
  insertSession,
  sessionPayoutStatus,
} from '../helpers/factories.ts';
import {
  cleanEnv,
  type Finished,
  interrupt,
  ROOT,
  type Running,
  run,
  start,
  startKeptPipeline,
} from '../helpers/processes.ts';
import { queueDepth } from '../helpers/sqs.ts';
import { setAccountAtStripe } from '../helpers/stand-in-control.ts';

/**
 * The runbook rehearsed as on-call would: `npm start -- --keep` as a real process (the whole
 * local pipeline: stand-ins, transfer poller, scan on demand), and every procedure's `npx payouts`
 * commands, in the runbook's order and as written there, with `--env prod` → `--env local`, each a
 * real process. Each command's effect is checked, and a procedure the runbook gains without a
 * rehearsal here fails the test.
 */

const SCRATCH = join(ROOT, '.local', `rehearsal-${randomUUID().slice(0, 8)}`);
const ENV_FILE = join(SCRATCH, 'payouts-env.json');
const RUNBOOK = readFileSync(join(ROOT, 'docs/runbook.md'), 'utf8');
/** Sections whose commands need AWS itself (a tunnel into the database's VPC). */
const AWS_ONLY = ['Reach the database'];

/** The runbook's sections with `npx payouts` commands, in order. */
function runbookProcedures(): { section: string; commands: string[] }[] {
  const sections: { section: string; commands: string[] }[] = [];
  for (const line of RUNBOOK.split('\n')) {
    const heading = /^#{2,3} (.+)$/.exec(line);
    if (heading?.[1]) sections.push({ section: heading[1].trim(), commands: [] });
    else sections.at(-1)?.commands.push(...documentedCommands(line));
  }
  return sections.filter((section) => section.commands.length > 0);
}

/** `npx payouts --env prod dlq list` → `dlq list`: how a rehearsal names the step it checks. */
const stepOf = (command: string) => command.replace(/^npx payouts --env \w+ /, '');

/** Shell words; "quoted text" is one word. */
const words = (text: string) =>
  [...text.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? '');

let pipeline: Running;
let db: Kysely<Database>;
let sqs: SQSClient;
let localEnv: Record<string, string>;
const cliEnv = cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: ENV_FILE, NO_COLOR: '1' });

/** `npx payouts …` as typed, from the repository's root or any folder below it. */
function payouts(args: string[], cwd = ROOT): Promise<Finished> {
  return run('npx', ['payouts', ...args], { cwd, env: cliEnv });
}

const deadLetter = async (body: string) =>
  (await sqs.send(new SendMessageCommand({ QueueUrl: localEnv.PAYOUT_DLQ_URL, MessageBody: body })))
    .MessageId ?? '';

const payoutStatus = (sessionId: string) => sessionPayoutStatus(db, sessionId);
const attempts = (sessionId: string) => attemptsFor(db, sessionId);

/** A session of Ada's (active account) that ended 30 h ago: the poller pays it once enqueued. */
const newAdaSession = () =>
  insertSession(db, DEMO_MENTORS.ada, { endedHoursAgo: 30, price_amount: 5_000 });

interface Rehearsal {
  /** Placeholders of the runbook's commands, resolved right before the command that uses them. */
  placeholders?: Record<string, () => Promise<string>>;
  /** Before the procedure's first command: the situation the alarm describes. */
  arrange?(): Promise<void>;
  /** Per step (`stepOf`), what the command must have done. */
  steps: Record<string, (result: Finished) => Promise<void> | void>;
  /** A folder below the root to run from: `--env local` works from anywhere in the checkout. */
  cwd?: string;
}

const ok = (result: Finished) => {
  expect(result.stderr).not.toContain('payouts: failed');
  expect(result.code).toBe(0);
};

const state: Record<string, string> = {};

/** A calendar date (UTC) `days` from today, as on-call would type it. */
const utcDate = (days: number) =>
  new Date(Date.now() + days * 24 * 3_600_000).toISOString().slice(0, 10);

const REHEARSALS: Record<string, Rehearsal> = {
  'First look, whatever the alarm': {
    cwd: join(ROOT, 'docs'),
    steps: {
      status: (result) => {
        ok(result);
        expect(result.stdout).toContain('Payouts: running');
        // Within 5 s of the scan, status says "just now" rather than "N s ago".
        expect(result.stdout).toMatch(
          /Last scan: started .+ \((just now|\d+ \w+ ago)\); enqueued 6 in 1 page/,
        );
      },
      'dlq list': (result) => {
        ok(result);
        expect(result.stdout).toContain('malformed: {"session":42}');
      },
      failures: (result) => {
        ok(result);
        expect(result.stdout).toContain('no_connected_account: 1 session(s), owed $80.00');
        // Ben's restricted account became active during npm start: account.updated paid him.
        expect(result.stdout).not.toContain(DEMO_SESSIONS.benRestricted);
      },
    },
  },
  'payout-dlq-not-empty': {
    async arrange() {
      // The cause fixed, a session is owed money; a paid one and the demo's malformed body beside it.
      state.owed = await newAdaSession();
      await deadLetter(payoutMessageBody(state.owed));
      await deadLetter(payoutMessageBody(DEMO_SESSIONS.adaUsd));
    },
    placeholders: {
      // A message for a session that no longer exists: removed by hand.
      '<messageId>': () => deadLetter(payoutMessageBody(randomUUID())),
    },
    cwd: SCRATCH,
    steps: {
      'dlq list': (result) => ok(result),
      'dlq redrive --dry-run': (result) => {
        ok(result);
        expect(result.stdout).toContain(
          'Would redrive 1 message(s) to the payout queue; 1 already settled would be removed; 1 malformed left in the DLQ.',
        );
      },
      'dlq redrive': (result) => {
        ok(result);
        expect(result.stdout).toContain(
          'Redrove 1 message(s) to the payout queue; 1 already settled were removed; 1 malformed left in the DLQ.',
        );
      },
      'status --wait': async (result) => {
        ok(result);
        expect(result.stdout).toContain('Payout queue: 0 waiting, 0 in flight, 0 delayed');
        expect(await payoutStatus(state.owed ?? '')).toBe('paid_out');
      },
      'dlq remove --malformed': (result) => {
        ok(result);
        const file = /saved first to (\S+)$/m.exec(result.stdout)?.[1] ?? '';
        expect(file.startsWith(SCRATCH)).toBe(true);
        expect(readFileSync(file, 'utf8')).toContain('{\\"session\\":42}');
      },
      'dlq remove <messageId>': async (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Removed 1 message\(s\) from the DLQ/);
        const list = await payouts(['--env', 'local', 'dlq', 'list', '--json']);
        expect(JSON.parse(list.stdout)).toMatchObject({ total: 0, messages: [] });
      },
    },
  },
  'payout-queue-stalled': {
    async arrange() {
      state.stalled = await newAdaSession();
      await run('npx', ['payouts', '--env', 'local', 'retry', state.stalled], { env: cliEnv });
    },
    steps: {
      status: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/Payout queue: \d+ waiting, \d+ in flight, \d+ delayed/);
      },
      'status --wait': async (result) => {
        ok(result);
        expect(await payoutStatus(state.stalled ?? '')).toBe('paid_out');
      },
    },
  },
  'scan-did-not-run': {
    steps: {
      status: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/Last scan: started \d{4}-\d{2}-\d{2} \d{2}:\d{2} \(/);
      },
    },
  },
  'failed-payouts-above-threshold': {
    steps: {
      'failures --since 1d': (result) => {
        ok(result);
        expect(result.stdout).toMatch(/with a failed payout since .+ \(24 h ago\):/);
        expect(result.stdout).toContain('no_connected_account: 1 session(s), owed $80.00');
      },
    },
  },
  'Pause and resume payouts': {
    steps: {
      'pause --reason "Stripe incident INC-123"': (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Payouts PAUSED by .+: Stripe incident INC-123$/m);
      },
      status: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Payouts: PAUSED by .+: Stripe incident INC-123$/m);
      },
      resume: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Payouts resumed by /);
      },
    },
  },
  'Re-run a failed day': {
    async arrange() {
      state.missed = await newAdaSession();
    },
    steps: {
      preview: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Would pay \d+ session\(s\): \$/m);
        expect(result.stdout).toContain(state.missed);
      },
      scan: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Scan \(payouts-local-scan\): enqueued \d+ session\(s\)/);
      },
      'status --wait': async (result) => {
        ok(result);
        expect(await payoutStatus(state.missed ?? '')).toBe('paid_out');
      },
    },
  },
  'Pay one session now': {
    placeholders: { '<sessionId>': newAdaSession },
    steps: {
      'retry <sessionId>': async (result) => {
        ok(result);
        const sessionId = /Enqueued session (\S+): \$40\.00 to acct_1DemoAdaActive\./.exec(
          result.stdout,
        )?.[1];
        await expect
          .poll(() => payoutStatus(sessionId ?? ''), { timeout: 20_000 })
          .toBe('paid_out');
      },
    },
  },
  'Paid after a change': {
    steps: {
      'failures --code paid_after_change': (result) => {
        ok(result);
        expect(result.stdout).toContain('No unpaid sessions with a failed payout since');
      },
    },
  },
  'A restricted account (insufficient_capabilities_for_transfer, transfers_not_allowed)': {
    async arrange() {
      // A mentor whose account Stripe restricted before it ever sent us an event: Stripe refuses.
      const account = `acct_1Rehearsal${randomUUID().slice(0, 8)}`;
      await setAccountAtStripe(localEnv.STRIPE_API_BASE ?? '', account, 'restricted');
      const mentor = await insertMentor(db, { stripeAccountId: account });
      state.restricted = await insertSession(db, mentor, {
        endedHoursAgo: 30,
        price_amount: 5_000,
      });
      state.restrictedAccount = account;
      ok(await payouts(['--env', 'local', 'retry', state.restricted]));
      await expect
        .poll(async () => (await attempts(state.restricted ?? '')).map((a) => a.error_code), {
          timeout: 20_000,
        })
        .toEqual(['insufficient_capabilities_for_transfer']);
      // The mentor finishes onboarding while payouts are paused: the account.updated is stored,
      // and its catch-up is left to the next scan, so on-call pays at once.
      ok(
        await payouts([
          '--env',
          'local',
          'pause',
          '--reason',
          'rehearsal: paused when the account was fixed',
        ]),
      );
      await setAccountAtStripe(localEnv.STRIPE_API_BASE ?? '', account, 'active');
      await expect
        .poll(async () => (await findStripeAccounts(db, [account]))[0], { timeout: 20_000 })
        .toMatchObject({ transfers_capability: 'active', catch_up_pending: false });
      ok(await payouts(['--env', 'local', 'resume']));
      expect(await payoutStatus(state.restricted)).toBe('pending');
    },
    placeholders: { '<sessionId>': async () => state.restricted ?? '' },
    steps: {
      'retry <sessionId>': async (result) => {
        ok(result);
        expect(result.stdout).toBe(
          `Enqueued session ${state.restricted}: $40.00 to ${state.restrictedAccount}.\n`,
        );
        await expect
          .poll(() => payoutStatus(state.restricted ?? ''), { timeout: 20_000 })
          .toBe('paid_out');
        expect((await attempts(state.restricted ?? '')).map((a) => a.outcome)).toEqual([
          'failed',
          'paid',
        ]);
      },
    },
  },
  'reconciliation-mismatch': {
    async arrange() {
      // A transfer Stripe made whose answer was lost: at Stripe with our metadata, unknown here.
      state.unrecorded = await newAdaSession();
      const stripe = createStripeClient(
        localEnv.STRIPE_SECRET_KEY ?? '',
        localEnv.STRIPE_API_BASE ?? '',
      );
      await stripe.transfers.create({
        amount: 4_000,
        currency: 'usd',
        destination: DEMO_ACCOUNTS.active,
        transfer_group: `session_${state.unrecorded}`,
        metadata: { session_id: state.unrecorded },
      });
    },
    placeholders: {
      '<since>': async () => utcDate(-1),
      '<until>': async () => utcDate(1),
    },
    steps: {
      'reconcile --since <since> --until <until>': (result) => {
        // A mismatch is open: exit 1, naming it, and nothing repaired.
        expect(result.code).toBe(1);
        expect(result.stdout).toContain('paid_at_stripe_not_marked');
        expect(result.stdout).toContain(state.unrecorded);
      },
      'dlq list': (result) => ok(result),
      'reconcile --since <since> --until <until> --fix': async (result) => {
        ok(result);
        expect(await payoutStatus(state.unrecorded ?? '')).toBe('paid_out');
        const again = await payouts(['--env', 'local', 'reconcile', '--since', utcDate(-1)]);
        expect(again.code).toBe(0);
        expect(again.stdout).toContain('No mismatches.');
      },
    },
  },
  'reconciliation-errors': {
    placeholders: { '<since>': async () => utcDate(-1) },
    steps: {
      'reconcile --since <since>': (result) => {
        ok(result);
        expect(result.stdout).toContain('No mismatches.');
      },
    },
  },
  'reconciliation-did-not-run': {
    placeholders: { '<until>': async () => utcDate(-1) },
    steps: {
      'reconcile --since <until>': (result) => {
        ok(result);
        expect(result.stdout).toContain('No mismatches.');
      },
    },
  },
  "Hold or release a mentor's payouts": {
    placeholders: {
      // A mentor of the marketplace with an active account and one session owed $40.00.
      '<mentorId>': async () => {
        if (!state.heldMentor) {
          state.heldMentor = await insertMentor(db, { stripeAccountId: DEMO_ACCOUNTS.active });
          state.heldSession = await insertSession(db, state.heldMentor, {
            endedHoursAgo: 30,
            price_amount: 5_000,
          });
        }
        return state.heldMentor;
      },
    },
    steps: {
      'hold --mentor <mentorId> --reason "Fraud review FR-7"': (result) => {
        ok(result);
        expect(result.stdout).toMatch(
          new RegExp(`^Mentor ${state.heldMentor} ON HOLD by .+: Fraud review FR-7$`, 'm'),
        );
      },
      status: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Mentors on hold: 1, with 1 eligible session\(s\)/m);
        expect(result.stdout).toMatch(
          new RegExp(
            `^  ${state.heldMentor}: by .+: Fraud review FR-7; 1 eligible session\\(s\\)$`,
            'm',
          ),
        );
      },
      preview: (result) => {
        ok(result);
        expect(result.stdout).toContain(
          'Would fail 1 (held for admin review, no Stripe request): mentor_on_hold, owed $40.00',
        );
      },
      'release --mentor <mentorId> --reason "Review closed"': async (result) => {
        ok(result);
        expect(result.stdout).toMatch(
          new RegExp(`^Mentor ${state.heldMentor} released by .+: Fraud review FR-7\\)\\.$`, 'm'),
        );
        expect(
          await db
            .selectFrom('mentor_holds')
            .select(['reason', 'release_reason'])
            .where('mentor_id', '=', state.heldMentor ?? '')
            .execute(),
        ).toEqual([{ reason: 'Fraud review FR-7', release_reason: 'Review closed' }]);
        // Held, the session was never offered to Stripe.
        expect(await payoutStatus(state.heldSession ?? '')).toBe('pending');
      },
      scan: (result) => {
        ok(result);
        expect(result.stdout).toMatch(/^Scan \(payouts-local-scan\): enqueued \d+ session\(s\)/);
      },
      'status --wait': async (result) => {
        ok(result);
        expect(result.stdout).not.toContain('Mentors on hold');
        expect(await payoutStatus(state.heldSession ?? '')).toBe('paid_out');
      },
    },
  },
  'Check that Stripe and the database agree': {
    steps: {
      'reconcile --since 7d': (result) => {
        ok(result);
        expect(result.stdout).toMatch(
          /\d+ transfer\(s\) at Stripe, \d+ payout\(s\) marked paid here\.\nNo mismatches\./,
        );
      },
      'reconcile --since 7d --fix': (result) => {
        ok(result);
        expect(result.stdout).toContain('No mismatches.');
      },
    },
  },
};

beforeAll(async () => {
  mkdirSync(SCRATCH, { recursive: true });
  pipeline = await startKeptPipeline(ENV_FILE);
  localEnv = JSON.parse(readFileSync(ENV_FILE, 'utf8'));
  // The marketplace's side: the owner (the CLI under rehearsal connects as the operator role).
  db = createDb(localEnv[LOCAL_OWNER_DATABASE_URL_VARIABLE] ?? '', { maxConnections: 2 });
  sqs = new SQSClient({
    endpoint: localEnv.AWS_ENDPOINT_URL_SQS,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}, 120_000);

afterAll(async () => {
  sqs?.destroy();
  await db?.destroy();
  await interrupt(pipeline);
  rmSync(SCRATCH, { recursive: true, force: true });
}, 60_000);

describe('the runbook, rehearsed against `npm start -- --keep`', () => {
  const procedures = runbookProcedures();

  it('has a rehearsal for every procedure with commands (AWS-only ones named)', () => {
    const sections = procedures.map((procedure) => procedure.section);
    expect(sections.filter((section) => !AWS_ONLY.includes(section)).sort()).toEqual(
      Object.keys(REHEARSALS).sort(),
    );
  });

  it.each(procedures.filter((procedure) => !AWS_ONLY.includes(procedure.section)))(
    'walks "$section" step by step',
    async ({ section, commands }) => {
      const rehearsal = REHEARSALS[section];
      if (!rehearsal) throw new Error(`no rehearsal for "${section}"`);
      await rehearsal.arrange?.();
      const checked = new Set<string>();
      for (const command of commands) {
        const step = stepOf(command);
        const check = rehearsal.steps[step];
        expect(check, `a check for "${step}"`).toBeDefined();
        const argv: string[] = [];
        for (const word of words(step)) {
          const fill = rehearsal.placeholders?.[word];
          argv.push(fill ? await fill() : word);
        }

        const result = await payouts(['--env', 'local', ...argv], rehearsal.cwd);

        await check?.(result);
        checked.add(step);
      }
      expect([...checked].sort()).toEqual(Object.keys(rehearsal.steps).sort());
    },
    120_000,
  );
});

describe('--env local', () => {
  it('says "not running" for an environment file whose process has ended', async () => {
    const ended = await run(process.execPath, ['-e', 'console.log(process.pid)'], {
      env: cleanEnv(),
    });
    const pid = ended.stdout.trim();
    const stale = join(SCRATCH, 'stale-env.json');
    writeFileSync(stale, JSON.stringify({ ...localEnv, PAYOUTS_LOCAL_PID: pid }));

    const result = await run('npx', ['payouts', '--env', 'local', 'status'], {
      env: cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: stale }),
    });

    expect(result.code).toBe(1);
    expect(result.stderr.trim()).toBe(
      `payouts: The local environment is not running: start it with "npm start -- --keep" (${stale} is left from process ${pid}, which has ended)`,
    );
  });

  it('says "not running" when the stand-ins refuse the connection', async () => {
    const refused = join(SCRATCH, 'refused-env.json');
    writeFileSync(
      refused,
      JSON.stringify({
        ...localEnv,
        // A live process, and ports nothing listens on.
        PAYOUTS_LOCAL_PID: String(process.pid),
        DATABASE_URL: 'postgres://postgres:postgres@127.0.0.1:1/payouts',
        AWS_ENDPOINT_URL_LAMBDA: 'http://127.0.0.1:1',
      }),
    );

    const result = await run('npx', ['payouts', '--env', 'local', 'status'], {
      env: cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: refused }),
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The local environment is not running');
    expect(result.stderr).not.toContain('ECONNREFUSED');
  });

  it('names no environment file when none was written', async () => {
    const result = await run('npx', ['payouts', '--env', 'local', 'status'], {
      env: cleanEnv({ PAYOUTS_LOCAL_ENV_FILE: join(SCRATCH, 'none.json') }),
    });

    expect(result.code).toBe(1);
    expect(result.stderr).toContain('The local environment is not running');
  });
});

describe('an interrupted redrive', () => {
  it('releases what it held at once and prints what it moved', async () => {
    const count = 30;
    const before = await dlqDepth();
    for (let index = 0; index < count; index += 1) {
      await deadLetter(payoutMessageBody(await newAdaSession()));
    }
    const redrive = start('npx', ['payouts', '--env', 'local', 'dlq', 'redrive', '--rate', '2'], {
      env: cliEnv,
      group: true,
    });
    await expect.poll(redriven, { timeout: 30_000, interval: 100 }).toBeGreaterThanOrEqual(2);

    // Ctrl-C in a terminal: SIGINT to every process of the job.
    process.kill(-(redrive.child.pid ?? 0), 'SIGINT');
    const result = await redrive.done;
    const list = await payouts(['--env', 'local', 'dlq', 'list', '--json']);

    const moved = Number(/^Redrove (\d+) message\(s\)/m.exec(result.stdout)?.[1]);
    // What the shell reports: npm may pass the signal on rather than the CLI's own 130.
    const status = result.code ?? 128 + (constants.signals[result.signal ?? 'SIGINT'] ?? 0);
    expect(status).toBe(130);
    expect(result.stderr).toContain('Interrupted: the rest stays in the DLQ, visible again now');
    expect(moved).toBeGreaterThanOrEqual(2);
    expect(moved).toBeLessThan(count);
    expect(JSON.parse(list.stdout)).toMatchObject({
      total: before + count - moved,
      heldElsewhere: 0,
    });

    /** Deleted from the DLQ so far (what the redrive holds still counts as there). */
    async function redriven(): Promise<number> {
      return before + count - (await dlqDepth());
    }

    async function dlqDepth(): Promise<number> {
      return queueDepth(sqs, localEnv.PAYOUT_DLQ_URL ?? '');
    }
  }, 120_000);
});

describe('npm start -- --keep', () => {
  it('stops on Ctrl-C and removes its environment file', async () => {
    expect(existsSync(ENV_FILE)).toBe(true);

    process.kill(-(pipeline.child.pid ?? 0), 'SIGINT');
    await pipeline.done;

    expect(existsSync(ENV_FILE)).toBe(false);
  }, 60_000);
});
