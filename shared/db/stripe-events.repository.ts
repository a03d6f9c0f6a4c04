import type { Kysely } from 'kysely';
import type { Database } from './database.ts';

/** A Stripe event as the de-duplication table keeps it. */
export interface SeenStripeEvent {
  id: string;
  type: string;
  account: string | null;
  created: Date;
}

/**
 * Notes that the event arrived (the first delivery inserts it) and says whether it was already
 * handled to the end. Duplicates that arrive while the first is still being handled are handled
 * again: every effect of an event is idempotent, the table only spares the repeated work.
 */
export async function beginStripeEvent(
  db: Kysely<Database>,
  event: SeenStripeEvent,
  now: Date,
): Promise<{ processed: boolean }> {
  await db
    .insertInto('stripe_events')
    .values({
      id: event.id,
      type: event.type,
      account: event.account,
      stripe_created_at: event.created,
      received_at: now,
      processed_at: null,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
  const row = await db
    .selectFrom('stripe_events')
    .select('processed_at')
    .where('id', '=', event.id)
    .executeTakeFirstOrThrow();
  return { processed: row.processed_at !== null };
}

export async function markStripeEventProcessed(
  db: Kysely<Database>,
  eventId: string,
  now: Date,
): Promise<void> {
  await db
    .updateTable('stripe_events')
    .set({ processed_at: now })
    .where('id', '=', eventId)
    .where('processed_at', 'is', null)
    .execute();
}
