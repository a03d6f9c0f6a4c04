import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  findActiveHolds,
  findHoldHistory,
  holdMentor,
  releaseMentor,
} from '../../shared/db/mentor-holds.repository.ts';
import {
  findReversals,
  findReversalsOfSessions,
  recordPayoutReversals,
} from '../../shared/db/payout-reversals.repository.ts';
import { findPayeeStanding, findPayoutsAndPayees } from '../../shared/db/payouts.repository.ts';
import { countEligibleSessionsOfMentors } from '../../shared/db/sessions.repository.ts';
import {
  type AccountObservation,
  findStripeAccounts,
  finishCatchUp,
  recordAccountObservation,
} from '../../shared/db/stripe-accounts.repository.ts';
import {
  beginStripeEvent,
  markStripeEventProcessed,
} from '../../shared/db/stripe-events.repository.ts';
import { insertMentor, insertSession, seedPayout } from '../helpers/factories.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const T0 = new Date('2026-11-25T09:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

// Holds are the marketplace admins' (the owner's): no payouts role may write them.
describe('mentor holds', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());
  /** `payouts hold`, `release` and `status` run as the operator role. */
  const operator = () => database.dbAs('operator');

  it('holds a mentor once, keeping the first hold’s who, when and why', async () => {
    const mentorId = await insertMentor(database.db);

    const first = await holdMentor(operator(), {
      mentorId,
      reason: 'fraud check',
      heldBy: 'ana@example.com',
      now: at(0),
    });
    const second = await holdMentor(operator(), {
      mentorId,
      reason: 'another reason',
      heldBy: 'bo@example.com',
      now: at(60),
    });

    expect(first).toMatchObject({
      kind: 'held',
      hold: {
        mentor_id: mentorId,
        reason: 'fraud check',
        held_by: 'ana@example.com',
        held_at: at(0),
      },
    });
    expect(second).toMatchObject({ kind: 'already_held', hold: { reason: 'fraud check' } });
    expect(await findActiveHolds(operator(), { mentorIds: [mentorId] })).toHaveLength(1);
  });

  it('refuses to hold a mentor who does not exist', async () => {
    const result = await holdMentor(operator(), {
      mentorId: randomUUID(),
      reason: 'typo',
      heldBy: 'ana@example.com',
      now: at(0),
    });

    expect(result).toEqual({ kind: 'no_such_mentor' });
  });

  it('releases the active hold and keeps it, with the release, as history', async () => {
    const mentorId = await insertMentor(database.db);
    await holdMentor(operator(), { mentorId, reason: 'first', heldBy: 'ana', now: at(0) });
    await releaseMentor(operator(), { mentorId, releasedBy: 'bo', reason: 'ok', now: at(10) });
    await holdMentor(operator(), { mentorId, reason: 'second', heldBy: 'ana', now: at(20) });

    const history = await findHoldHistory(operator(), mentorId);
    const noneToRelease = await releaseMentor(operator(), {
      mentorId: randomUUID(),
      releasedBy: 'bo',
      reason: null,
      now: at(30),
    });

    expect(history).toMatchObject([
      { reason: 'second', released_at: null },
      { reason: 'first', released_by: 'bo', released_at: at(10), release_reason: 'ok' },
    ]);
    expect(
      (await findActiveHolds(operator(), { mentorIds: [mentorId] })).map((hold) => hold.reason),
    ).toEqual(['second']);
    expect(noneToRelease).toBeUndefined();
  });
});

describe('connected accounts as Stripe last described them', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  const observation = (
    accountId: string,
    transfersCapability: string | null,
    seconds: number,
  ): AccountObservation => ({
    accountId,
    transfersCapability,
    payoutsEnabled: transfersCapability === 'active',
    disabledReason: transfersCapability === 'active' ? null : 'requirements.past_due',
    observedAt: at(seconds),
  });
  /** Stores a read of the account made at `seconds`, as the stripe-events Lambda does, at `storedAt`. */
  const record = (
    accountId: string,
    transfersCapability: string | null,
    seconds: number,
    storedAt = seconds,
  ) =>
    recordAccountObservation(
      database.dbAs('stripeEvents'),
      observation(accountId, transfersCapability, seconds),
      at(storedAt),
    );

  it('never lets an older read overwrite a newer one, whatever order they are stored in', async () => {
    const account = `acct_${randomUUID().slice(0, 8)}`;

    await record(account, 'active', 20, 21);
    const stale = await record(account, 'inactive', 10, 22);

    expect(stale).toBeUndefined();
    expect(await findStripeAccounts(database.dbAs('stripeEvents'), [account])).toMatchObject([
      { transfers_capability: 'active', observed_at: at(20) },
    ]);
  });

  it('asks for a catch-up when transfers become active, and only then', async () => {
    const account = `acct_${randomUUID().slice(0, 8)}`;

    const restricted = await record(account, 'inactive', 0);
    const activated = await record(account, 'active', 10);
    const stillActive = await record(account, 'active', 20);
    await finishCatchUp(
      database.dbAs('stripeEvents'),
      { accountId: account, observedAt: at(20) },
      at(21),
    );
    const afterCatchUp = await record(account, 'active', 30);

    expect(restricted?.catch_up_pending).toBe(false);
    expect(activated?.catch_up_pending).toBe(true);
    // Not enqueued yet (the handler died, say): the next read keeps asking.
    expect(stillActive?.catch_up_pending).toBe(true);
    expect(afterCatchUp?.catch_up_pending).toBe(false);
  });

  it('asks for a catch-up for an account first seen active, and drops it if the account is restricted before it ran', async () => {
    const account = `acct_${randomUUID().slice(0, 8)}`;

    const firstSeen = await record(account, 'active', 0);
    const restricted = await record(account, 'inactive', 10);

    expect(firstSeen?.catch_up_pending).toBe(true);
    expect(restricted?.catch_up_pending).toBe(false);
  });

  it('keeps a catch-up that a newer read asked for when an older one finishes', async () => {
    const account = `acct_${randomUUID().slice(0, 8)}`;
    await record(account, 'active', 0);
    await record(account, 'inactive', 10);
    await record(account, 'active', 20);

    await finishCatchUp(
      database.dbAs('stripeEvents'),
      { accountId: account, observedAt: at(0) },
      at(21),
    );

    expect(await findStripeAccounts(database.dbAs('stripeEvents'), [account])).toMatchObject([
      { catch_up_pending: true },
    ]);
  });
});

describe('payout reversals', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  it('records a reversal once, however often Stripe reports it', async () => {
    const mentorId = await insertMentor(database.db);
    const sessionId = await insertSession(database.db, mentorId);
    const reversal = {
      reversalId: `trr_${randomUUID().slice(0, 12)}`,
      sessionId,
      transferId: 'tr_1',
      amount: 3000,
      currency: 'usd',
      reversedAt: at(0),
      stripeEventId: 'evt_1',
    };

    const first = await recordPayoutReversals(database.dbAs('stripeEvents'), [reversal], at(5));
    const again = await recordPayoutReversals(
      database.dbAs('stripeEvents'),
      [{ ...reversal, stripeEventId: 'evt_2' }],
      at(6),
    );

    expect(first).toMatchObject([{ reversal_id: reversal.reversalId, amount: 3000 }]);
    expect(again).toEqual([]);
    expect(await findReversalsOfSessions(database.dbAs('stripeEvents'), [sessionId])).toMatchObject(
      [{ stripe_event_id: 'evt_1', recorded_at: at(5) }],
    );
    expect(
      await findReversals(database.dbAs('stripeEvents'), {
        since: at(-1),
        until: at(1),
        mentor: mentorId,
      }),
    ).toMatchObject([{ session_id: sessionId, mentor_id: mentorId, transfer_id: 'tr_1' }]);
    expect(await findReversals(database.dbAs('stripeEvents'), { since: at(1) })).toEqual([]);
  });
});

describe('Stripe events seen', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());

  it('says an event is processed only once it was marked so', async () => {
    const event = {
      id: `evt_${randomUUID()}`,
      type: 'account.updated',
      account: 'acct_1',
      created: at(0),
    };

    const first = await beginStripeEvent(database.dbAs('stripeEvents'), event, at(1));
    const duplicateWhileRunning = await beginStripeEvent(
      database.dbAs('stripeEvents'),
      event,
      at(2),
    );
    await markStripeEventProcessed(database.dbAs('stripeEvents'), event.id, at(3));
    const duplicateAfter = await beginStripeEvent(database.dbAs('stripeEvents'), event, at(4));

    expect([first, duplicateWhileRunning, duplicateAfter]).toEqual([
      { processed: false },
      { processed: false },
      { processed: true },
    ]);
  });
});

describe('what the operator tools read of the payee', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
  });
  afterAll(async () => database.close());
  const operator = () => database.dbAs('operator');

  it('counts each mentor’s eligible sessions by the scan’s rule, leaving out mentors with none', async () => {
    const now = new Date();
    const cutoff = new Date(now.getTime() - 24 * 3_600_000);
    const busy = await insertMentor(database.db);
    const idle = await insertMentor(database.db);
    await insertSession(database.db, busy, { now });
    await insertSession(database.db, busy, { now });
    await insertSession(database.db, busy, { now, status: 'cancelled' });
    await insertSession(database.db, busy, { now, payout_status: 'paid_out' });
    await insertSession(database.db, busy, { now, endedHoursAgo: 2 });
    await insertSession(database.db, idle, { now, status: 'pending' });

    const counts = await countEligibleSessionsOfMentors(operator(), {
      cutoff,
      mentorIds: [busy, idle],
    });

    expect([...counts]).toEqual([[busy, 2]]);
    expect(await countEligibleSessionsOfMentors(operator(), { cutoff, mentorIds: [] })).toEqual(
      new Map(),
    );
  });

  it('reads many sessions’ payouts and payee standings at once, as the claim reads one', async () => {
    const account = `acct_${randomUUID().slice(0, 12)}`;
    const held = await insertMentor(database.db, { stripeAccountId: account });
    const plain = await insertMentor(database.db);
    const heldSession = await insertSession(database.db, held);
    const plainSession = await insertSession(database.db, plain);
    await holdMentor(operator(), { mentorId: held, reason: 'review', heldBy: 'ana', now: at(0) });
    await recordAccountObservation(
      database.db,
      {
        accountId: account,
        transfersCapability: 'inactive',
        payoutsEnabled: false,
        disabledReason: 'requirements.past_due',
        observedAt: at(1),
      },
      at(1),
    );
    await seedPayout(database.db, plainSession, { destination: 'acct_plain' });

    const stored = await findPayoutsAndPayees(operator(), [heldSession, plainSession]);

    expect(stored.get(heldSession)).toEqual({
      payout: undefined,
      payee: {
        hold: { reason: 'review', heldBy: 'ana', heldAt: at(0) },
        account: { id: account, transfersActive: false, disabledReason: 'requirements.past_due' },
      },
    });
    expect(stored.get(heldSession)?.payee).toEqual(
      await findPayeeStanding(database.db, heldSession),
    );
    expect(stored.get(plainSession)).toMatchObject({
      payout: { session_id: plainSession, key_generation: 1, state: 'in_progress' },
      payee: { hold: undefined, account: undefined },
    });
  });
});
