import type { Generated, Selectable } from 'kysely';

/** An admin's hold on a mentor's payouts; released holds stay as history (mentor-holds.repository.ts). */
export interface MentorHoldsTable {
  id: Generated<string>;
  mentor_id: string;
  reason: string;
  held_by: string;
  held_at: Date;
  released_by: string | null;
  released_at: Date | null;
  release_reason: string | null;
}

export type MentorHold = Selectable<MentorHoldsTable>;
