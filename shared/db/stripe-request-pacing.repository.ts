import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';

/**
 * Takes the endpoint's next send slot, `1 / perSecond` after the one before it, if that slot comes
 * within `maxWaitMs`; resolves to the slot and how long to wait for it, or undefined (nothing taken). One
 * statement on the endpoint's row, so every Lambda queues on the same schedule, by the database's
 * clock: requests are never closer than the interval, and no second holds more than `perSecond`.
 */
export async function takeStripeRequestSlot(
  db: Kysely<Database>,
  endpoint: string,
  budget: { perSecond: number; maxWaitMs: number },
): Promise<{ slotAt: Date; waitMs: number } | undefined> {
  const intervalMs = 1000 / budget.perSecond;
  const { rows } = await sql<{ slot_at: Date; wait_ms: number }>`
    with clock as (select clock_timestamp() as now),
    taken as (
      insert into stripe_request_pacing as p (endpoint, next_slot_at)
      select ${endpoint}, now + make_interval(secs => ${intervalMs / 1000}) from clock
      on conflict (endpoint) do update
        set next_slot_at = greatest(p.next_slot_at, (select now from clock))
          + make_interval(secs => ${intervalMs / 1000})
        where greatest(p.next_slot_at, (select now from clock))
          <= (select now from clock) + make_interval(secs => ${budget.maxWaitMs / 1000})
      returning p.next_slot_at
    )
    select taken.next_slot_at - make_interval(secs => ${intervalMs / 1000}) as slot_at,
      greatest(0, extract(epoch from (taken.next_slot_at - clock.now)) * 1000 - ${intervalMs})::float8
        as wait_ms
    from taken, clock`.execute(db);
  const row = rows[0];
  return row && { slotAt: row.slot_at, waitMs: row.wait_ms };
}
