import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';
import type { MentorHold } from './mentor-holds.table.ts';

/**
 * Admins' holds on a mentor's payouts (`payouts hold` / `payouts release`). The transfer path reads
 * the active hold in its claim (findPayoutPauseAndPayee) and fails the mentor's sessions with
 * mentor_on_hold instead of asking Stripe; an unfinished transfer request is still settled first.
 */

export type HoldResult =
  | { kind: 'held'; hold: MentorHold }
  /** The mentor was on hold already: that hold stays as it is (its reason, who and when). */
  | { kind: 'already_held'; hold: MentorHold }
  | { kind: 'no_such_mentor' };

export async function holdMentor(
  db: Kysely<Database>,
  hold: { mentorId: string; reason: string; heldBy: string; now: Date },
): Promise<HoldResult> {
  const { rows } = await sql<MentorHold>`
    insert into mentor_holds (mentor_id, reason, held_by, held_at)
    select id, ${hold.reason}, ${hold.heldBy}, ${hold.now}::timestamptz
    from mentors where id = ${hold.mentorId}
    on conflict (mentor_id) where released_at is null do nothing
    returning *`.execute(db);
  const created = rows[0];
  if (created) return { kind: 'held', hold: created };
  const [active] = await findActiveHolds(db, { mentorIds: [hold.mentorId] });
  return active ? { kind: 'already_held', hold: active } : { kind: 'no_such_mentor' };
}

/** Releases the mentor's active hold; undefined if there was none. The row stays as history. */
export async function releaseMentor(
  db: Kysely<Database>,
  release: { mentorId: string; releasedBy: string; reason: string | null; now: Date },
): Promise<MentorHold | undefined> {
  return db
    .updateTable('mentor_holds')
    .set({
      released_by: release.releasedBy,
      released_at: release.now,
      release_reason: release.reason,
    })
    .where('mentor_id', '=', release.mentorId)
    .where('released_at', 'is', null)
    .returningAll()
    .executeTakeFirst();
}

/** Active holds, oldest first; optionally only those of some mentors. */
export async function findActiveHolds(
  db: Kysely<Database>,
  filter: { mentorIds?: readonly string[] } = {},
): Promise<MentorHold[]> {
  if (filter.mentorIds?.length === 0) return [];
  let query = db.selectFrom('mentor_holds').selectAll().where('released_at', 'is', null);
  if (filter.mentorIds) query = query.where('mentor_id', 'in', filter.mentorIds);
  return query.orderBy('held_at').orderBy('id').execute();
}

/** Every hold of one mentor, released ones included, newest first. */
export async function findHoldHistory(
  db: Kysely<Database>,
  mentorId: string,
): Promise<MentorHold[]> {
  return db
    .selectFrom('mentor_holds')
    .selectAll()
    .where('mentor_id', '=', mentorId)
    .orderBy('id', 'desc')
    .execute();
}
