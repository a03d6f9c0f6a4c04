import { type Kysely, type RawBuilder, sql, type Transaction } from 'kysely';
import type { AttemptCode } from '../payout-codes.ts';
import type { Database } from './database.ts';
import type { PayoutEventDetail, PayoutEventType } from './payout-events.table.ts';

/** A final outcome to announce to the marketplace (docs/payout-events.md). */
export interface NewPayoutEvent {
  type: PayoutEventType;
  sessionId: string;
  /** Minor units: transferred, owed, or reversed; null when it cannot be computed. */
  amount: number | null;
  currency: string | null;
  code: AttemptCode | null;
  stripeTransferId: string | null;
  /** payout.reversed only: the reversal as Stripe reported it. */
  reversal?: { id: string; reversedAt: Date };
  /** When the outcome was recorded (the recording transaction's clock). */
  occurredAt: Date;
}

/**
 * Writes the event of an outcome into the outbox, in the transaction that records the outcome, so
 * that the event exists exactly when the outcome does (a rollback takes both). The mentor is the
 * session's, read in the same statement. Resolves to the event's id; undefined, with nothing
 * written, if no session has this id (there is nobody to tell). Publishing happens after commit
 * (shared/payout-events.ts): call publishPayoutEvents for the session then, or leave it to the
 * sweeper. The stripe-events Lambda records `payout.reversed` with this, in the transaction that
 * records the reversal (one event per reversal newly recorded).
 */
export async function recordPayoutEvent(
  trx: Transaction<Database>,
  event: NewPayoutEvent,
): Promise<string | undefined> {
  const row = await trx
    .insertInto('payout_events')
    .columns(['id', 'event_type', 'session_id', 'occurred_at', 'detail'])
    .expression((eb) =>
      eb
        .selectFrom('sessions')
        .crossJoin(sql<{ id: string }>`(select gen_random_uuid() as id)`.as('new_event'))
        .select([
          'new_event.id',
          eb.val(event.type).as('event_type'),
          'sessions.id as session_id',
          eb.val(event.occurredAt).as('occurred_at'),
          payoutEventDetail(event, 'new_event.id', 'sessions.mentor_id').as('detail'),
        ])
        .where('sessions.id', '=', event.sessionId),
    )
    .returning('id')
    .executeTakeFirst();
  return row?.id;
}

/**
 * An event's `detail` as stored: the outcome, with the event's own id and the session's mentor
 * taken from the columns named (read in the statement that writes the event).
 */
export function payoutEventDetail(
  event: NewPayoutEvent,
  eventIdColumn: string,
  mentorIdColumn: string,
): RawBuilder<string> {
  const detail: Omit<PayoutEventDetail, 'eventId' | 'mentorId'> = {
    version: 1,
    type: event.type,
    sessionId: event.sessionId,
    amount: event.amount,
    currency: event.currency,
    code: event.code,
    stripeTransferId: event.stripeTransferId,
    reversalId: event.reversal?.id ?? null,
    reversedAt: event.reversal?.reversedAt.toISOString() ?? null,
    occurredAt: event.occurredAt.toISOString(),
  };
  return sql<string>`${JSON.stringify(detail)}::jsonb
    || jsonb_build_object('eventId', ${sql.ref(eventIdColumn)}, 'mentorId', ${sql.ref(mentorIdColumn)})`;
}

/** An outbox row as a publisher sends it. */
export interface OutboxEvent {
  id: string;
  type: PayoutEventType;
  detail: PayoutEventDetail;
  occurredAt: Date;
}

/**
 * Takes up to `limit` unpublished events nobody else holds, oldest first, and holds them until
 * `leaseUntil` (skipping rows another publisher is taking right now). Optionally one session's only.
 */
export async function claimUnpublishedEvents(
  db: Kysely<Database>,
  claim: { now: Date; leaseUntil: Date; limit: number; sessionId?: string },
): Promise<OutboxEvent[]> {
  const rows = await db
    .updateTable('payout_events')
    .set({ publish_lease_until: claim.leaseUntil })
    .where('id', 'in', (eb) => {
      let due = eb
        .selectFrom('payout_events')
        .select('id')
        .where('published_at', 'is', null)
        .where((inner) =>
          inner.or([
            inner('publish_lease_until', 'is', null),
            inner('publish_lease_until', '<=', claim.now),
          ]),
        );
      if (claim.sessionId) due = due.where('session_id', '=', claim.sessionId);
      return due.orderBy('occurred_at').orderBy('id').limit(claim.limit).forUpdate().skipLocked();
    })
    .returning(['id', 'event_type', 'detail', 'occurred_at'])
    .execute();
  return rows
    .map((row) => ({
      id: row.id,
      type: row.event_type,
      detail: row.detail,
      occurredAt: row.occurred_at,
    }))
    .sort((a, b) => a.occurredAt.getTime() - b.occurredAt.getTime() || a.id.localeCompare(b.id));
}

/** EventBridge took these events: they are published, for good. */
export async function markEventsPublished(
  db: Kysely<Database>,
  ids: readonly string[],
  now: Date,
): Promise<void> {
  if (ids.length === 0) return;
  await db
    .updateTable('payout_events')
    .set((eb) => ({
      published_at: now,
      publish_lease_until: null,
      publish_attempts: eb('publish_attempts', '+', 1),
      last_publish_error: null,
    }))
    .where('id', 'in', ids)
    .where('published_at', 'is', null)
    .execute();
}

/**
 * EventBridge did not take these events: they stay unpublished, with the reason, and wait until
 * `retryAt` before a publisher takes them again.
 */
export async function markEventsUnpublished(
  db: Kysely<Database>,
  failures: readonly { id: string; error: string }[],
  retryAt: Date,
): Promise<void> {
  if (failures.length === 0) return;
  await sql`
    update payout_events as e
    set publish_lease_until = ${retryAt}, publish_attempts = e.publish_attempts + 1,
      last_publish_error = f.error
    from unnest(${failures.map((f) => f.id)}::uuid[], ${failures.map((f) => f.error)}::text[])
      as f(id, error)
    where e.id = f.id and e.published_at is null`.execute(db);
}

/** Unpublished events that occurred before `before`: what the sweeper reports as still waiting. */
export async function countUnpublishedEvents(db: Kysely<Database>, before: Date): Promise<number> {
  const row = await db
    .selectFrom('payout_events')
    .select((eb) => eb.fn.countAll<string>().as('count'))
    .where('published_at', 'is', null)
    .where('occurred_at', '<', before)
    .executeTakeFirstOrThrow();
  return Number(row.count);
}
