import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { takeStripeRequestSlot } from '../../shared/db/stripe-request-pacing.repository.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

describe('the Stripe request budget in Postgres', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  it('gives concurrent takers slots exactly one interval apart, the first at once', async () => {
    const budget = { perSecond: 10, maxWaitMs: 60_000 };

    const slots = await Promise.all(
      Array.from({ length: 25 }, () =>
        takeStripeRequestSlot(database.dbAs('transfer'), 'transfers.create', budget),
      ),
    );

    const taken = slots.map((slot) => {
      if (!slot) throw new Error('every taker should get a slot within a minute');
      return slot;
    });
    const times = taken.map((slot) => slot.slotAt.getTime()).sort((a, b) => a - b);
    const gaps = times.slice(1).map((time, index) => time - (times[index] as number));
    // Date keeps milliseconds of the database's microseconds.
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(99);
    for (const gap of gaps) expect(gap).toBeLessThanOrEqual(101);
    expect(Math.min(...taken.map((slot) => slot.waitMs))).toBe(0);
    // Any second of the schedule holds at most the budget.
    const perSecond = new Map<number, number>();
    for (const time of times) {
      const second = Math.floor((time - (times[0] as number)) / 1000);
      perSecond.set(second, (perSecond.get(second) ?? 0) + 1);
    }
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(budget.perSecond);
  });

  it('takes nothing when the next slot is further away than the caller can wait', async () => {
    const budget = { perSecond: 2, maxWaitMs: 1_000 };
    const first = await takeStripeRequestSlot(database.dbAs('transfer'), 'transfers.list', budget);
    const second = await takeStripeRequestSlot(database.dbAs('transfer'), 'transfers.list', budget);
    const third = await takeStripeRequestSlot(database.dbAs('transfer'), 'transfers.list', budget);
    const fourth = await takeStripeRequestSlot(database.dbAs('transfer'), 'transfers.list', budget);

    expect(first?.waitMs).toBe(0);
    expect(second?.waitMs).toBeGreaterThan(0);
    expect(third?.waitMs).toBeGreaterThan(second?.waitMs ?? Number.POSITIVE_INFINITY);
    // The fourth slot would be 1.5 s away: refused, and the schedule is left as it was.
    expect(fourth).toBeUndefined();
    const row = await database.db
      .selectFrom('stripe_request_pacing')
      .select('next_slot_at')
      .where('endpoint', '=', 'transfers.list')
      .executeTakeFirstOrThrow();
    expect(row.next_slot_at.getTime() - (third?.slotAt.getTime() ?? 0)).toBe(500);
  });

  it('keeps each endpoint on its own schedule', async () => {
    const budget = { perSecond: 1, maxWaitMs: 0 };
    expect(
      await takeStripeRequestSlot(database.dbAs('transfer'), 'endpoint.a', budget),
    ).toMatchObject({
      waitMs: 0,
    });
    expect(
      await takeStripeRequestSlot(database.dbAs('transfer'), 'endpoint.b', budget),
    ).toMatchObject({
      waitMs: 0,
    });
    expect(
      await takeStripeRequestSlot(database.dbAs('transfer'), 'endpoint.a', budget),
    ).toBeUndefined();
  });
});
