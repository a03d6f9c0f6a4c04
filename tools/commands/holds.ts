import { holdMentor, releaseMentor } from '../../shared/db/mentor-holds.repository.ts';
import type { MentorHold } from '../../shared/db/mentor-holds.table.ts';
import { mentorExists } from '../../shared/db/mentors.repository.ts';
import type { CliDeps } from '../cli-deps.ts';
import { answerControlChange, operator } from './controls.ts';
import { formatWhen, paint } from './format.ts';

/**
 * An admin's hold on one mentor's payouts (Gumroad's internal payout pause): the transfer Lambda
 * fails the mentor's payable sessions with mentor_on_hold, sending Stripe nothing, until released.
 * Like `pause`, a hold in force is never overwritten: its who and why stay until it is released.
 */

function holdJson(hold: MentorHold) {
  return {
    mentorId: hold.mentor_id,
    reason: hold.reason,
    heldBy: hold.held_by,
    heldAt: hold.held_at.toISOString(),
    releasedBy: hold.released_by,
    releasedAt: hold.released_at?.toISOString() ?? null,
    releaseReason: hold.release_reason,
  };
}

function describeHold(deps: CliDeps, hold: MentorHold): string {
  return `by ${hold.held_by} ${formatWhen(hold.held_at, deps.clock.now())}: ${hold.reason}`;
}

/** A mentor id no mentor has is a typo: a usage error naming it (exit 2), like a malformed id. */
function unknownMentor(deps: CliDeps, mentorId: string): number {
  deps.out.error(`error: option '--mentor <id>': no mentor has the id ${mentorId} (see --help)`);
  return 2;
}

export async function holdCommand(
  deps: CliDeps,
  options: { mentor: string; reason: string; json: boolean },
): Promise<number> {
  const result = await holdMentor(deps.db, {
    mentorId: options.mentor,
    reason: options.reason,
    heldBy: operator(),
    now: deps.clock.now(),
  });
  if (result.kind === 'no_such_mentor') return unknownMentor(deps, options.mentor);
  const { hold } = result;
  return answerControlChange(deps, options, {
    changed: result.kind === 'held',
    json: holdJson(hold),
    lines: () => [
      paint(
        deps.out.colour,
        'alert',
        `Mentor ${options.mentor} ON HOLD ${describeHold(deps, hold)}`,
      ),
      `Their sessions fail with mentor_on_hold and nothing is sent to Stripe (a request already on its way is settled first). Release with: npx payouts release --mentor ${options.mentor}`,
    ],
    notChanged: () =>
      `mentor ${options.mentor} is already ON HOLD ${describeHold(deps, hold)}. To change who or why: release, then hold again.`,
  });
}

export async function releaseCommand(
  deps: CliDeps,
  options: { mentor: string; reason?: string; json: boolean },
): Promise<number> {
  const released = await releaseMentor(deps.db, {
    mentorId: options.mentor,
    releasedBy: operator(),
    reason: options.reason ?? null,
    now: deps.clock.now(),
  });
  if (!released && !(await mentorExists(deps.db, options.mentor))) {
    return unknownMentor(deps, options.mentor);
  }
  return answerControlChange(deps, options, {
    changed: released !== undefined,
    json: { mentorId: options.mentor, ...(released && { hold: holdJson(released) }) },
    lines: () =>
      released
        ? [
            `Mentor ${options.mentor} released by ${released.released_by ?? 'unknown'} (held ${describeHold(deps, released)}).`,
            'Their waiting sessions are paid by the next scan, or now with: npx payouts scan',
          ]
        : [],
    notChanged: () => `mentor ${options.mentor} is not on hold.`,
  });
}
