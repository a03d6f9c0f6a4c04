import { userInfo } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { findActiveHolds } from '../../shared/db/mentor-holds.repository.ts';
import { readPayoutControls, setPaused } from '../../shared/db/payout-controls.repository.ts';
import type { PayoutControls } from '../../shared/db/payout-controls.table.ts';
import { findReversals } from '../../shared/db/payout-reversals.repository.ts';
import { lastScanRun } from '../../shared/db/scan-runs.repository.ts';
import { countEligibleSessionsOfMentors } from '../../shared/db/sessions.repository.ts';
import { eligibilityCutoff } from '../../shared/payout-policy.ts';
import { HOUR_MS } from '../../shared/runtime-limits.ts';
import type { CliDeps } from '../cli-deps.ts';
import { formatTotals, formatWhen, paint, printJson, sumByCurrency } from './format.ts';

/** Who runs the command, as pause, resume, hold and release record it. */
export function operator(): string {
  try {
    return process.env.PAYOUTS_OPERATOR ?? userInfo().username;
  } catch {
    return 'unknown';
  }
}

/**
 * How pause, resume, hold and release answer: only JSON on stdout with --json, else the change's
 * lines; "Not changed: …" on stderr either way. Exit 0 when the control changed, 1 when not.
 */
export function answerControlChange(
  deps: CliDeps,
  options: { json: boolean },
  answer: {
    changed: boolean;
    json: Record<string, unknown>;
    lines: () => string[];
    notChanged: () => string;
  },
): number {
  if (options.json) printJson(deps.out, { changed: answer.changed, ...answer.json });
  else if (answer.changed) for (const line of answer.lines()) deps.out.log(line);
  if (!answer.changed) deps.out.error(`Not changed: ${answer.notChanged()}`);
  return answer.changed ? 0 : 1;
}

const ENV_PAUSE = 'PAYOUTS_PAUSED=true on the functions (only a deploy without it resumes)';

function switchJson(controls: PayoutControls) {
  return {
    paused: controls.paused,
    reason: controls.reason,
    changedBy: controls.changed_by,
    changedAt: controls.changed_at.toISOString(),
  };
}

function describePause(deps: CliDeps, controls: PayoutControls): string {
  return `by ${controls.changed_by ?? 'unknown'} ${formatWhen(controls.changed_at, deps.clock.now())}: ${controls.reason ?? 'no reason given'}`;
}

/**
 * The kill switch: the scan enqueues nothing and the transfer Lambda starts no new payout. A
 * pause already in force is not overwritten unless asked (`--replace`): its who and why matter.
 */
export async function pauseCommand(
  deps: CliDeps,
  options: { reason: string; replace: boolean; json: boolean },
): Promise<number> {
  const changed = await setPaused(deps.db, {
    paused: true,
    reason: options.reason,
    changedBy: operator(),
    now: deps.clock.now(),
    onlyFrom: options.replace ? undefined : false,
  });
  const controls = changed ?? (await readPayoutControls(deps.db));
  return answerControlChange(deps, options, {
    changed: changed !== undefined,
    json: switchJson(controls),
    lines: () => [
      paint(deps.out.colour, 'alert', `Payouts PAUSED ${describePause(deps, controls)}`),
      'Payouts already handed to Stripe finish; nothing new starts. Resume with: npx payouts resume',
    ],
    notChanged: () =>
      `payouts are already PAUSED ${describePause(deps, controls)}. To replace who and why: add --replace.`,
  });
}

export async function resumeCommand(deps: CliDeps, options: { json: boolean }): Promise<number> {
  const changed = await setPaused(deps.db, {
    paused: false,
    reason: null,
    changedBy: operator(),
    now: deps.clock.now(),
    onlyFrom: true,
  });
  const controls = changed ?? (await readPayoutControls(deps.db));
  const stillPaused = deps.config.paused;
  const code = answerControlChange(deps, options, {
    changed: changed !== undefined,
    json: { ...switchJson(controls), pausedByEnvironment: stillPaused },
    lines: () => [
      `Payouts resumed by ${controls.changed_by ?? 'unknown'}.`,
      'Sessions held while paused are enqueued by the next scan, or now with: npx payouts scan',
    ],
    notChanged: () =>
      `payouts are not paused (resumed by ${controls.changed_by ?? 'unknown'} ${formatWhen(controls.changed_at, deps.clock.now())}).`,
  });
  if (stillPaused)
    deps.out.error(paint(deps.out.errorColour, 'alert', `Still PAUSED: ${ENV_PAUSE}.`));
  return stillPaused ? 1 : code;
}

async function depth(deps: CliDeps, queueUrl: string | undefined) {
  if (!queueUrl) return null;
  const { Attributes = {} } = await deps.sqs().send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: [
        'ApproximateNumberOfMessages',
        'ApproximateNumberOfMessagesNotVisible',
        'ApproximateNumberOfMessagesDelayed',
      ],
    }),
  );
  return {
    visible: Number(Attributes.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(Attributes.ApproximateNumberOfMessagesNotVisible ?? 0),
    // Payouts handed back by the transfer Lambda wait out a delay before they can be received.
    delayed: Number(Attributes.ApproximateNumberOfMessagesDelayed ?? 0),
  };
}

type Depth = Awaited<ReturnType<typeof depth>>;
const total = (queue: NonNullable<Depth>) => queue.visible + queue.inFlight + queue.delayed;

/** How often `status --wait` looks at the payout queue. */
const WAIT_POLL_MS = 2000;

/** Until nothing waits, is in flight or is delayed on the payout queue (or Ctrl-C). */
async function waitForEmptyQueue(deps: CliDeps): Promise<void> {
  let last = '';
  for (;;) {
    const queue = await depth(deps, deps.queueUrl());
    if (!queue || total(queue) === 0 || deps.signal.aborted) return;
    const line = `Waiting for the payout queue: ${queue.visible} waiting, ${queue.inFlight} in flight, ${queue.delayed} delayed`;
    if (line !== last) deps.out.error(line);
    last = line;
    await sleep(WAIT_POLL_MS, undefined, { signal: deps.signal }).catch(() => undefined);
  }
}

/** How far back `status` counts reversals. */
const REVERSALS_WINDOW_DAYS = 7;

/** Mentors on hold (oldest first), each with how many eligible sessions wait for the release. */
async function heldMentors(deps: CliDeps) {
  const holds = await findActiveHolds(deps.db);
  const waiting = await countEligibleSessionsOfMentors(deps.db, {
    cutoff: eligibilityCutoff(deps.clock.now(), deps.config.graceHours),
    mentorIds: holds.map((hold) => hold.mentor_id),
  });
  return holds.map((hold) => ({
    mentorId: hold.mentor_id,
    reason: hold.reason,
    heldBy: hold.held_by,
    heldAt: hold.held_at.toISOString(),
    eligibleSessions: waiting.get(hold.mentor_id) ?? 0,
  }));
}

/** Reversals Stripe reported in the window: how many, and how much per currency. */
async function recentReversals(deps: CliDeps) {
  const since = new Date(deps.clock.now().getTime() - REVERSALS_WINDOW_DAYS * 24 * HOUR_MS);
  const reversals = await findReversals(deps.db, { since });
  return {
    since: since.toISOString(),
    count: reversals.length,
    amounts: sumByCurrency(reversals),
  };
}

export async function statusCommand(
  deps: CliDeps,
  options: { json: boolean; wait?: boolean },
): Promise<number> {
  if (options.wait) await waitForEmptyQueue(deps);
  const [controls, scan, queue, dlq, holds, reversals] = await Promise.all([
    readPayoutControls(deps.db),
    lastScanRun(deps.db),
    depth(deps, deps.config.queueUrl),
    depth(deps, deps.config.dlqUrl),
    heldMentors(deps),
    recentReversals(deps),
  ]);
  const paused = controls.paused || deps.config.paused;
  const status = {
    paused,
    pausedReason: controls.reason,
    pausedByEnvironment: deps.config.paused,
    changedBy: controls.changed_by,
    changedAt: controls.changed_at.toISOString(),
    queue,
    dlq,
    lastScan: scan
      ? {
          startedAt: scan.started_at.toISOString(),
          finishedAt: scan.finished_at?.toISOString() ?? null,
          paused: scan.paused,
          enqueued: scan.enqueued,
          failed: scan.failed,
          pages: scan.pages,
          error: scan.error,
        }
      : null,
    heldMentors: holds,
    reversals,
  };
  if (options.json) {
    printJson(deps.out, status);
    return 0;
  }
  const { colour } = deps.out;
  const now = deps.clock.now();
  const lines: string[] = [];
  if (controls.paused)
    lines.push(paint(colour, 'alert', `Payouts: PAUSED ${describePause(deps, controls)}`));
  if (deps.config.paused) lines.push(paint(colour, 'alert', `Payouts: PAUSED by ${ENV_PAUSE}`));
  if (!paused) lines.push(`Payouts: ${paint(colour, 'good', 'running')}`);
  lines.push(
    `Payout queue: ${
      queue
        ? `${queue.visible} waiting, ${queue.inFlight} in flight, ${queue.delayed} delayed (handed back)`
        : 'unknown (PAYOUT_QUEUE_URL not set)'
    }`,
  );
  const dlqLine = dlq
    ? `Dead-letter queue: ${total(dlq)} message(s)${dlq.inFlight > 0 ? ` (${dlq.inFlight} held by a reader: dlq list or a redrive)` : ''}`
    : 'Dead-letter queue: unknown (PAYOUT_DLQ_URL not set)';
  lines.push(dlq && total(dlq) > 0 ? paint(colour, 'alert', dlqLine) : dlqLine);
  if (!scan) {
    lines.push('Last scan: none recorded');
  } else {
    const outcome = scan.error
      ? paint(colour, 'alert', `FAILED: ${scan.error}`)
      : !scan.finished_at
        ? paint(colour, 'warning', 'NOT FINISHED')
        : scan.paused
          ? paint(colour, 'warning', 'paused, enqueued nothing')
          : `enqueued ${scan.enqueued} in ${scan.pages} page(s)`;
    lines.push(`Last scan: started ${formatWhen(scan.started_at, now)}; ${outcome}`);
  }
  // Only when there are any, so that a quiet day reads as before.
  if (holds.length > 0) {
    const waiting = holds.reduce((sum, hold) => sum + hold.eligibleSessions, 0);
    lines.push(
      paint(
        colour,
        'warning',
        `Mentors on hold: ${holds.length}, with ${waiting} eligible session(s) not paid until released`,
      ),
    );
    for (const hold of holds) {
      lines.push(
        `  ${hold.mentorId}: by ${hold.heldBy} ${formatWhen(new Date(hold.heldAt), now)}: ${hold.reason}; ${hold.eligibleSessions} eligible session(s)`,
      );
    }
  }
  if (reversals.count > 0) {
    lines.push(
      paint(
        colour,
        'warning',
        `Reversed at Stripe in the last ${REVERSALS_WINDOW_DAYS} d: ${reversals.count} (${formatTotals(reversals.amounts)}); npx payouts failures lists them`,
      ),
    );
  }
  for (const line of lines) deps.out.log(line);
  return 0;
}
