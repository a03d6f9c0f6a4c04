import { type Kysely, sql } from 'kysely';
import type { Database } from './database.ts';

/** A slot taken: its time, and the database's clock when it was taken, as epoch milliseconds. */
export interface StripeRequestSlot {
  slotAt: Date;
  /** How long after the statement's clock the slot comes (0: at once). */
  waitMs: number;
  /** The slot, epoch ms with the database's sub-millisecond precision. */
  slotAtMs: number;
  /** The database's clock_timestamp() when the statement ran, epoch ms. */
  databaseNowMs: number;
}

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
): Promise<StripeRequestSlot | undefined> {
  const intervalMs = 1000 / budget.perSecond;
  const { rows } = await sql<{
    slot_at: Date;
    wait_ms: number;
    slot_at_ms: number;
    database_now_ms: number;
  }>`
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
        as wait_ms,
      (extract(epoch from taken.next_slot_at) * 1000 - ${intervalMs})::float8 as slot_at_ms,
      (extract(epoch from clock.now) * 1000)::float8 as database_now_ms
    from taken, clock`.execute(db);
  const row = rows[0];
  return (
    row && {
      slotAt: row.slot_at,
      waitMs: row.wait_ms,
      slotAtMs: row.slot_at_ms,
      databaseNowMs: row.database_now_ms,
    }
  );
}

/** The database's clock_timestamp(), epoch ms: a round trip that tells the pacing where it stands. */
export async function readDatabaseClockMs(db: Kysely<Database>): Promise<number> {
  const { rows } = await sql<{ now_ms: number }>`
    select (extract(epoch from clock_timestamp()) * 1000)::float8 as now_ms`.execute(db);
  const row = rows[0];
  if (!row) throw new Error('The database did not answer with its clock');
  return row.now_ms;
}
