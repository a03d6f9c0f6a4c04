import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import { type Kysely, sql } from 'kysely';
import pg from 'pg';
import type Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcile } from '../../lambdas/reconcile/reconcile.ts';
import { scanEligibleSessions } from '../../lambdas/scan/scan-eligible-sessions.ts';
import { handleStripeEvent } from '../../lambdas/stripe-events/handle-stripe-event.ts';
import { parseStripeEventMessage } from '../../lambdas/stripe-events/stripe-event-message.ts';
import {
  type PayoutFaults,
  type PayoutResult,
  type PaySessionDeps,
  paySession,
  recordReconciledTransfer,
} from '../../lambdas/transfer/pay-session.ts';
import { stripeEventBridgeEvent } from '../../local/lambda-events.ts';
import { LOCAL_STRIPE_EVENT_SOURCE } from '../../local/pipeline-env.ts';
import {
  type AccountState,
  type StandInEvent,
  type StripeStandIn,
  startStripeStandIn,
} from '../../local/stripe-stand-in/stripe-stand-in.ts';
import type { OperatorConfig } from '../../shared/config.ts';
import { createPool, dbOverPool } from '../../shared/db/connect.ts';
import type { Database } from '../../shared/db/database.ts';
import { holdMentor, releaseMentor } from '../../shared/db/mentor-holds.repository.ts';
import { utcDay } from '../../shared/db/payouts.repository.ts';
import { type AmountLimits, limitFor, payoutDecision } from '../../shared/payout-policy.ts';
import { HOUR_MS, MAX_RECEIVE_COUNT } from '../../shared/runtime-limits.ts';
import { createStripeClient } from '../../shared/stripe-client.ts';
import { isSettled, planForSession } from '../../tools/session-plan.ts';
import { fixedClock, recordingLog, testPacing, testPayoutConfig } from '../helpers/fakes.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

/**
 * Random marketplaces and random schedules against the real Postgres and the Stripe stand-in (on
 * the test clock): deliveries, duplicates, concurrency, crashes, every fault Stripe can answer a
 * create or a search with, slow executions that outlive the client while the session is delivered
 * again, a low platform balance, sessions refunded, cancelled or re-pointed mid-flight, daily
 * limits reached, the operators' retry, redrive and reconcile --fix, connected accounts restricted
 * and made ready again at Stripe (their account.updated handled by the stripe-events code, old
 * events redelivered), admins' holds and releases, and time passing (leases, the key reuse window,
 * midnight, days with keys pruned). Then the faults stop; SQS redelivers the
 * live messages and the scan Lambda enqueues what it would, over the following days, and the
 * invariants must hold:
 * 1. never two transfers for a session;
 * 2. per UTC day and currency, at most the daily limit handed to Stripe (a transfer counts on the
 *    day its creating key was first sent), and each day's running total is what it holds;
 * 3. every session ends in a defined place (paid exactly once and recorded so, flagged
 *    paid_after_change exactly when the session no longer warranted it; or not paid, with the
 *    contract's code: mentor_on_hold for a held mentor, account_not_ready for an account Stripe
 *    said is restricted), and no message ends in the DLQ once the faults stopped; a payee failure
 *    is never recorded twice in a row on one UTC day;
 * 4. no payout left in_progress, but for a key Stripe refused afresh whose session the scan still
 *    enqueues (the next delivery's replay retires it);
 * 5. money at Stripe equals money recorded paid here, per currency (and reconcile agrees);
 * 6. one payout event per paid or failed outcome recorded, and no other.
 * PAYOUT_PROPERTY_RUNS sets the number of schedules (default 1000; `npm run test:soak`: 10 000);
 * PAYOUT_PROPERTY_STATS=1 prints how many runs reached each fault and outcome.
 */
const RUNS = Number(process.env.PAYOUT_PROPERTY_RUNS ?? 1000);
/** Fixes fast-check's seed, e.g. to replay a reported failure or to split a soak run. */
const SEED = process.env.PAYOUT_PROPERTY_SEED;
/** Small enough that a few sessions fill a day: some fail on one day and are paid on a later one. */
const LIMITS: AmountLimits = {
  perTransfer: { '*': 12_000 },
  dailyTotal: { usd: 15_000, eur: 15_000, jpy: 15_000, '*': 15_000 },
};
const CONFIG = testPayoutConfig({ limits: LIMITS });
/** What `payouts retry` and `dlq redrive` plan with: the same rules as the Lambda's. */
const OPERATOR_CONFIG: OperatorConfig = {
  database: { url: 'postgres://unused' },
  graceHours: CONFIG.graceHours,
  paused: false,
  feeBps: CONFIG.feeBps,
  limits: LIMITS,
  stripeKey: undefined,
  stripeApiBase: undefined,
  stripeBudget: CONFIG.stripeBudget,
  queueUrl: undefined,
  dlqUrl: undefined,
  scanFunction: undefined,
  transferFunction: undefined,
};
const LEASE_MS = CONFIG.leaseMs;
const DAY_START = Date.parse('2026-11-25T00:00:00Z');
/** A client that gives up long before a slow execution at Stripe ends. */
const IMPATIENT_TIMEOUT_MS = 40;
const STRIPE_KEY = 'sk_test_property';
const CURRENCIES = ['usd', 'eur', 'jpy'] as const;

type Currency = (typeof CURRENCIES)[number];
type AccountKind = 'active' | 'restricted' | 'unknown' | 'none';

interface SessionSpec {
  currency: Currency;
  price: number;
  /** Negative or above the price makes an invalid row, failed and never paid. */
  refunded: number;
  account: AccountKind;
  charged: boolean;
}

type Crash = 'none' | 'afterClaim' | 'afterStripeCall' | 'beforeRecordCommit' | 'killDatabase';
/** What Stripe does to the create requests of one delivery. */
type StripeFault =
  | 'none'
  /** A 500 before execution, stored under the key: replayed to the SDK's retries. */
  | '500'
  /** The transfer is created, then a 500 is stored under the key. */
  | '500AfterCreate'
  /** Unstored 503s: one (the SDK's retry gets through) or three (the call fails). */
  | '503'
  | '503x3'
  | '429'
  /** The answer is lost after processing: once (the SDK's retry gets the replay) or three times. */
  | 'drop'
  | 'dropAll'
  /** The platform balance of the session's currency is 0 for the delivery: balance_insufficient. */
  | 'lowBalance';
/** What Stripe does to the list requests (searches) of one delivery. */
type SearchFault = 'none' | '500x3' | '400' | '404' | '429' | 'drop' | 'dropAll';
/** What the marketplace changes under a session. */
type Change = 'refundPart' | 'refundAll' | 'cancel' | 'disconnect' | 'reconnect' | 'newAccount';

type Step =
  | {
      kind: 'deliver';
      session: number;
      crash: Crash;
      stripeFault: StripeFault;
      searchFault: SearchFault;
    }
  | { kind: 'concurrent'; session: number; copies: number }
  /**
   * The next execution takes `ms`; the first copy's client gives up after IMPATIENT_TIMEOUT_MS,
   * the other copies arrive `staggerMs` apart; Stripe is awaited afterwards only if `waitIdle`.
   */
  | {
      kind: 'slow';
      session: number;
      ms: number;
      copies: number;
      staggerMs: number;
      waitIdle: boolean;
    }
  | { kind: 'change'; session: number; change: Change }
  /**
   * Stripe restricts the session's current account or makes it ready again, and its account.updated
   * is handled; with `replay`, the run's first event is delivered again too (a duplicate, late).
   */
  | { kind: 'accountFlips'; session: number; to: AccountState; replay: boolean }
  /** An admin holds, or releases, the session's mentor. */
  | { kind: 'hold' | 'release'; session: number }
  /** `payouts retry`: enqueued (here: delivered) only if planForSession does not stop. */
  | { kind: 'retry'; session: number }
  /** `dlq redrive`: a session whose last delivery threw, unless planForSession says it is settled. */
  | { kind: 'redrive'; pick: number }
  | { kind: 'reconcile' }
  | { kind: 'leaseExpires' }
  | { kind: 'hoursPass'; hours: number }
  /** To a minute past the next UTC midnight, keys kept: a new day's limit, an old key's window. */
  | { kind: 'midnightPasses' }
  /** Past the key reuse window (21 h), keys kept. */
  | { kind: 'windowPasses' }
  /** 25 h, and Stripe prunes every idempotency key. */
  | { kind: 'dayPasses' }
  | { kind: 'poolFills'; connections: number };

interface Scenario {
  /** Minutes after midnight UTC on the first day: some schedules cross midnight early. */
  startMinute: number;
  /** Stripe files transfers with a source_transaction under the charge's transfer group. */
  chargeGroups: boolean;
  sessions: SessionSpec[];
  steps: Step[];
}

const sessionSpec: fc.Arbitrary<SessionSpec> = fc
  .record({
    // Mostly one currency, so that a few sessions fill a day.
    currency: fc.constantFrom<Currency>('usd', 'usd', 'usd', 'eur', 'jpy'),
    price: fc.oneof(
      { weight: 6, arbitrary: fc.integer({ min: 5_000, max: 15_000 }) },
      { weight: 3, arbitrary: fc.integer({ min: 1, max: 20_000 }) },
      { weight: 1, arbitrary: fc.constantFrom(1, 2, 5, 9_999, 15_000) },
    ),
    /** Percent of the price refunded; -50 and 150 make invalid rows. */
    refundedPercent: fc.oneof(
      { weight: 6, arbitrary: fc.constant(0) },
      { weight: 4, arbitrary: fc.integer({ min: 1, max: 100 }) },
      { weight: 1, arbitrary: fc.constantFrom(-50, 150) },
    ),
    account: fc.constantFrom<AccountKind>(
      ...Array<AccountKind>(6).fill('active'),
      'restricted',
      'unknown',
      'none',
    ),
    charged: fc.boolean(),
  })
  .map(({ refundedPercent, ...spec }) => ({
    ...spec,
    refunded: Math.trunc((spec.price * refundedPercent) / 100),
  }));

/** Session indexes are taken modulo the number of sessions (see `scenario`). */
const step: fc.Arbitrary<Step> = (() => {
  // Half the steps go to the first session, so that faults, changes and time meet on one payout.
  const session = fc.oneof(fc.constant(0), fc.nat(4));
  return fc.oneof(
    {
      weight: 10,
      arbitrary: fc.record({
        kind: fc.constant('deliver' as const),
        session,
        crash: fc.constantFrom<Crash>(
          ...Array<Crash>(8).fill('none'),
          'afterClaim',
          'afterStripeCall',
          'beforeRecordCommit',
          'killDatabase',
        ),
        stripeFault: fc.constantFrom<StripeFault>(
          'none',
          'none',
          'none',
          '500',
          '500',
          '500AfterCreate',
          '500AfterCreate',
          '503',
          '503x3',
          '429',
          'drop',
          'dropAll',
          'dropAll',
          'lowBalance',
          'lowBalance',
        ),
        searchFault: fc.constantFrom<SearchFault>(
          ...Array<SearchFault>(6).fill('none'),
          '500x3',
          '400',
          '404',
          '429',
          'drop',
          'dropAll',
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('concurrent' as const),
        session,
        copies: fc.integer({ min: 2, max: 4 }),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('slow' as const),
        session,
        ms: fc.integer({ min: 100, max: 160 }),
        copies: fc.integer({ min: 1, max: 3 }),
        staggerMs: fc.integer({ min: 0, max: 60 }),
        waitIdle: fc.boolean(),
      }),
    },
    {
      weight: 3,
      arbitrary: fc.record({
        kind: fc.constant('change' as const),
        session,
        change: fc.constantFrom<Change>(
          'refundPart',
          'refundAll',
          'cancel',
          'disconnect',
          'reconnect',
          'newAccount',
        ),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('accountFlips' as const),
        session,
        to: fc.constantFrom<AccountState>('active', 'restricted'),
        replay: fc.boolean(),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({ kind: fc.constantFrom('hold' as const, 'release' as const), session }),
    },
    { weight: 1, arbitrary: fc.record({ kind: fc.constant('retry' as const), session }) },
    {
      weight: 1,
      arbitrary: fc.record({ kind: fc.constant('redrive' as const), pick: fc.nat(4) }),
    },
    { weight: 2, arbitrary: fc.constant({ kind: 'reconcile' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'leaseExpires' as const }) },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('hoursPass' as const),
        hours: fc.integer({ min: 1, max: 6 }),
      }),
    },
    { weight: 2, arbitrary: fc.constant({ kind: 'midnightPasses' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'windowPasses' as const }) },
    { weight: 2, arbitrary: fc.constant({ kind: 'dayPasses' as const }) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('poolFills' as const),
        connections: fc.integer({ min: 2, max: 8 }),
      }),
    },
  );
})();

/** Sessions and steps are drawn independently, so that both shrink. */
const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    startMinute: fc.oneof(
      fc.integer({ min: 0, max: 24 * 60 - 1 }),
      fc.constantFrom(6 * 60, 22 * 60 + 30, 23 * 60 + 58),
    ),
    chargeGroups: fc.boolean(),
    /** Sometimes every session in one currency: they compete for the same daily limit. */
    oneCurrency: fc.option(fc.constantFrom<Currency>(...CURRENCIES), { nil: undefined }),
    sessions: fc.array(sessionSpec, { minLength: 1, maxLength: 5 }),
    steps: fc.array(step, { maxLength: 16, size: 'max' }),
  })
  .map(({ oneCurrency, sessions, steps, ...rest }) => ({
    ...rest,
    sessions: oneCurrency ? sessions.map((spec) => ({ ...spec, currency: oneCurrency })) : sessions,
    steps: steps.map((drawn) =>
      'session' in drawn ? { ...drawn, session: drawn.session % sessions.length } : drawn,
    ),
  }));

/**
 * stripe-node sleeps 0.5–2 s between its network retries. A few milliseconds here shorten the
 * waits only: which requests are retried, and how often, stays the SDK's own decision (a retry
 * may then meet a slow execution still running, a 409, where a longer wait would get its replay:
 * Stripe gives both).
 */
function quickRetries(client: Stripe): Stripe {
  client.getInitialNetworkRetryDelay = () => 0.002;
  client.getMaxNetworkRetryDelay = () => 0.005;
  return client;
}

/** A session row as the marketplace has it at one moment of the schedule. */
interface RowVersion {
  /** The highest payout_attempts id when this version was written: later attempts saw it. */
  watermark: number;
  status: string;
  price: number;
  refunded: number;
  currency: string;
  charge: string | null;
  account: string | null;
}

/** One run's marketplace and what the harness knows about it. */
interface World {
  specs: SessionSpec[];
  ids: string[];
  mentorIds: string[];
  /** Every version of each session row, oldest first. */
  history: RowVersion[][];
  /** Connected accounts Stripe knows, by id; any other destination is unknown to Stripe. */
  accounts: Map<string, AccountState>;
  /** Per session: its SQS message is still live (its last delivery threw, or it was enqueued). */
  live: boolean[];
  /** Per session: an admin holds its mentor (one mentor per session). */
  held: boolean[];
  /** Stripe's events handed to the stripe-events code so far. */
  eventsDelivered: StandInEvent[];
  /** reconcile's range starts here: a day before the run. */
  since: Date;
  log: ReturnType<typeof recordingLog>;
}

type Delivery = { threw: false; result: PayoutResult } | { threw: true; error: unknown };

/** PAYOUT_PROPERTY_STATS=1 prints how many runs reached each situation (is the schedule seeing it?). */
const STATS = process.env.PAYOUT_PROPERTY_STATS ? new Map<string, number>() : undefined;

describe('the money path under random faults (property)', () => {
  let database: TestDatabase;
  let stripe: StripeStandIn;
  let admin: pg.Client;
  /** The transfer Lambda's pool (its role), held so that a test can see which connections it still has. */
  let pool: pg.Pool;
  let db: Kysely<Database>;
  /** Stripe's clock is the test's: each run sets its own. */
  let clock = fixedClock(new Date(DAY_START));
  /** The Lambda's client (a generous timeout), and one that gives up on slow executions. */
  let patient: Stripe;
  let impatient: Stripe;
  const pooledClients = new Set<pg.Client>();
  /** Backends the last killDatabase fault terminated. */
  let killedPids: number[] = [];

  beforeAll(async () => {
    [database, stripe] = await Promise.all([
      createTestDatabase(),
      startStripeStandIn({ now: () => clock.now().getTime() }),
    ]);
    pool = createPool(database.urls.transfer);
    pool.on('connect', (client) => pooledClients.add(client));
    pool.on('remove', (client) => pooledClients.delete(client));
    db = dbOverPool(pool);
    admin = new pg.Client({ connectionString: database.url });
    admin.on('error', () => {});
    await admin.connect();
    patient = quickRetries(createStripeClient(STRIPE_KEY, stripe.url, { timeoutMs: 10_000 }));
    impatient = quickRetries(
      createStripeClient(STRIPE_KEY, stripe.url, { timeoutMs: IMPATIENT_TIMEOUT_MS }),
    );
  });
  afterAll(async () => {
    if (STATS) console.info(Object.fromEntries([...STATS].sort()));
    await admin.end();
    await db.destroy();
    await Promise.all([database.close(), stripe.close()]);
  });

  const accountOf = (spec: SessionSpec, index: number) =>
    spec.account === 'none' ? null : `acct_prop_${spec.account}_${index}`;
  const later = (ms: number) => clock.set(new Date(clock.now().getTime() + ms));

  /** The marketplace as the scenario describes it, in one round trip per table. */
  async function seed(specs: SessionSpec[], start: Date): Promise<World> {
    await sql`truncate payout_attempts, payout_reservations, payout_daily_totals, payouts, sessions, mentors, scan_runs, stripe_events, stripe_accounts, mentor_holds, payout_reversals, payout_events`.execute(
      database.db,
    );
    stripe.reset();
    const mentors = specs.map((spec, index) => ({
      id: randomUUID(),
      stripe_account_id: accountOf(spec, index),
    }));
    const sessions = specs.map((spec, index) => ({
      id: randomUUID(),
      mentor_id: mentors[index]?.id ?? '',
      status: 'confirmed',
      session_end_time: new Date(start.getTime() - 48 * HOUR_MS),
      price_amount: spec.price,
      refunded_amount: spec.refunded,
      currency: spec.currency,
      stripe_charge_id: spec.charged ? `ch_prop_${index}` : null,
    }));
    await database.db.insertInto('mentors').values(mentors).execute();
    await database.db.insertInto('sessions').values(sessions).execute();
    const accounts = new Map<string, AccountState>();
    for (const [index, spec] of specs.entries()) {
      const account = accountOf(spec, index);
      if (account && (spec.account === 'active' || spec.account === 'restricted')) {
        accounts.set(account, spec.account);
        stripe.setAccount(account, spec.account);
      }
    }
    return {
      specs,
      ids: sessions.map((session) => session.id),
      mentorIds: mentors.map((mentor) => mentor.id),
      history: specs.map((spec, index) => [
        {
          watermark: 0,
          status: 'confirmed',
          price: spec.price,
          refunded: spec.refunded,
          currency: spec.currency,
          charge: sessions[index]?.stripe_charge_id ?? null,
          account: accountOf(spec, index),
        },
      ]),
      accounts,
      live: specs.map(() => false),
      held: specs.map(() => false),
      eventsDelivered: [],
      since: new Date(start.getTime() - 24 * HOUR_MS),
      log: recordingLog(),
    };
  }

  function crashFaults(crash: Crash): PayoutFaults {
    const die = () => {
      throw new Error('Lambda died');
    };
    switch (crash) {
      case 'afterClaim':
        return { afterClaim: die };
      case 'afterStripeCall':
        return { afterStripeCall: die };
      case 'beforeRecordCommit':
        return { beforeRecordCommit: die };
      case 'killDatabase':
        // The database drops every connection of the transfer Lambda's role between Stripe's answer and the record.
        return {
          afterStripeCall: async () => {
            const { rows } = await admin.query<{ pid: number }>(
              'select pid, pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and usename = $1',
              [new URL(database.urls.transfer).username],
            );
            killedPids.push(...rows.map((row) => row.pid));
          },
        };
      default:
        return {};
    }
  }

  /**
   * pg_terminate_backend only signals the backends; the pool drops a client once it reads the
   * closed socket. SQS redelivers after the visibility timeout, long after that, so the fault is
   * over only when the pool holds none of the killed connections any more.
   */
  async function untilKilledConnectionsAreGone(): Promise<void> {
    const killed = new Set(killedPids);
    const holdsKilled = () =>
      [...pooledClients].some((client) =>
        killed.has((client as pg.Client & { processID: number }).processID),
      );
    const deadline = Date.now() + 10_000;
    while (holdsKilled()) {
      if (Date.now() > deadline)
        throw new Error('The pool still holds killed connections after 10 s');
      await sleep(5);
    }
    killedPids = [];
  }

  function injectStripeFault(fault: StripeFault, currency: string): void {
    if (fault === '500') stripe.failNext(1, 500);
    if (fault === '500AfterCreate') stripe.failNextAfterCreate(1);
    if (fault === '503') stripe.failNext(1, 503);
    if (fault === '503x3') stripe.failNext(3, 503);
    if (fault === '429') stripe.failNext(1, 429);
    if (fault === 'drop') stripe.dropNextAfterCreate(1);
    if (fault === 'dropAll') stripe.dropNextAfterCreate(3);
    if (fault === 'lowBalance') stripe.setBalance(currency, 0);
  }

  /** Create faults not consumed by the step end with it (list faults and balances stay). */
  function clearCreateFaults(): void {
    stripe.failNext(0, 500);
    stripe.failNextAfterCreate(0);
    stripe.dropNextAfterCreate(0);
    stripe.slowNext(0, 0);
  }

  function injectSearchFault(fault: SearchFault): void {
    // stripe-node retries a 500 and a closed connection itself: three make the search fail.
    if (fault === '500x3') stripe.failNextList(3, 500);
    if (fault === '400') stripe.failNextList(1, 400);
    if (fault === '404') stripe.failNextList(1, 404);
    if (fault === '429') stripe.failNextList(1, 429);
    if (fault === 'drop') stripe.dropNextList(1);
    if (fault === 'dropAll') stripe.dropNextList(3);
  }

  /** One delivery of the session's message, as the transfer Lambda would run it. */
  async function deliverOnce(
    world: World,
    index: number,
    faults: PayoutFaults = {},
    client: Stripe = patient,
  ): Promise<Delivery> {
    const deps: PaySessionDeps = {
      db,
      stripe: client,
      clock,
      log: world.log,
      config: CONFIG,
      faults,
    };
    try {
      return { threw: false, result: await paySession(deps, world.ids[index] ?? '') };
    } catch (error) {
      return { threw: true, error };
    }
  }

  /** Copies of the session's message delivered together; one that threw stays live in SQS. */
  async function deliver(
    world: World,
    index: number,
    copies: Array<Promise<Delivery>>,
  ): Promise<Delivery[]> {
    const outcomes = await Promise.all(copies);
    world.live[index] = outcomes.some((outcome) => outcome.threw);
    return outcomes;
  }

  /**
   * One Stripe event through the stripe-events code, as its Lambda runs it (EventBridge envelope,
   * parsing, de-duplication, the account read); the sessions it enqueues are live in SQS.
   */
  async function deliverStripeEvent(world: World, event: StandInEvent): Promise<void> {
    const body = JSON.stringify(stripeEventBridgeEvent(event, LOCAL_STRIPE_EVENT_SOURCE));
    await handleStripeEvent(
      {
        db: database.dbAs('stripeEvents'),
        stripe: patient,
        queue: {
          sendBatch: async (sessionIds) => {
            for (const id of sessionIds) world.live[world.ids.indexOf(id)] = true;
            return { failedIds: [] };
          },
        },
        clock,
        log: world.log,
        sleep: async () => {},
        config: { graceHours: CONFIG.graceHours, paused: false, stripeBudget: CONFIG.stripeBudget },
      },
      parseStripeEventMessage(body, LOCAL_STRIPE_EVENT_SOURCE),
    );
  }

  /** The marketplace changes the session row (or its mentor's account) under the payout. */
  async function change(world: World, index: number, what: Change): Promise<void> {
    const versions = world.history[index] ?? [];
    const current = versions.at(-1);
    if (!current) return;
    const next = { ...current };
    const valid = current.refunded >= 0 && current.refunded <= current.price;
    if (what === 'refundPart' && valid) {
      next.refunded = current.refunded + Math.ceil((current.price - current.refunded) / 3);
    } else if (what === 'refundAll' && valid) {
      next.refunded = current.price;
    } else if (what === 'cancel') {
      next.status = 'cancelled';
    } else if (what === 'disconnect') {
      next.account = null;
    } else if (what === 'reconnect' || what === 'newAccount') {
      // The mentor's own account back, or a new active one (also for a mentor who had none).
      const own = accountOf(world.specs[index] as SessionSpec, index);
      next.account =
        what === 'reconnect' && own ? own : `acct_prop_new_${index}_${versions.length}`;
      if (next.account !== own) {
        world.accounts.set(next.account, 'active');
        stripe.setAccount(next.account, 'active');
      }
    }
    if (
      next.refunded === current.refunded &&
      next.status === current.status &&
      next.account === current.account
    ) {
      return;
    }
    await database.db
      .updateTable('sessions')
      .set({ refunded_amount: next.refunded, status: next.status })
      .where('id', '=', world.ids[index] ?? '')
      .execute();
    await database.db
      .updateTable('mentors')
      .set({ stripe_account_id: next.account })
      .where('id', '=', world.mentorIds[index] ?? '')
      .execute();
    const { max } = await database.db
      .selectFrom('payout_attempts')
      .select(sql<string>`coalesce(max(id), 0)`.as('max'))
      .executeTakeFirstOrThrow();
    versions.push({ ...next, watermark: Number(max) });
  }

  async function perform(world: World, current: Step): Promise<void> {
    const operatorDeps = { db: database.dbAs('operator'), clock, config: OPERATOR_CONFIG };
    switch (current.kind) {
      case 'deliver': {
        const currency = world.specs[current.session]?.currency ?? 'usd';
        injectStripeFault(current.stripeFault, currency);
        // A search fault waits for the next search: this delivery's, or a later one's once the
        // key's window has passed (or a reconcile's list).
        injectSearchFault(current.searchFault);
        await deliver(world, current.session, [
          deliverOnce(world, current.session, crashFaults(current.crash)),
        ]);
        clearCreateFaults();
        if (current.stripeFault === 'lowBalance') stripe.setBalance(currency, null);
        if (current.crash === 'killDatabase') await untilKilledConnectionsAreGone();
        return;
      }
      case 'concurrent':
        await deliver(
          world,
          current.session,
          Array.from({ length: current.copies }, () => deliverOnce(world, current.session)),
        );
        return;
      case 'slow': {
        // Stripe keeps executing the first request after its client gave up; meanwhile the
        // session arrives again (a duplicate message, a redelivery once the lease is released).
        stripe.slowNext(1, current.ms);
        await deliver(
          world,
          current.session,
          Array.from({ length: current.copies }, async (_, copy) => {
            if (copy > 0) await sleep(current.staggerMs * copy);
            return deliverOnce(world, current.session, {}, copy % 2 === 0 ? impatient : patient);
          }),
        );
        clearCreateFaults();
        if (current.waitIdle) await stripe.whenIdle();
        return;
      }
      case 'change':
        return change(world, current.session, current.change);
      case 'accountFlips': {
        const account = world.history[current.session]?.at(-1)?.account;
        // Only an account Stripe knows can change at Stripe.
        if (!account || !world.accounts.has(account)) return;
        world.accounts.set(account, current.to);
        stripe.setAccount(account, current.to);
        const fresh = stripe.events().slice(world.eventsDelivered.length);
        const late = current.replay ? world.eventsDelivered.slice(0, 1) : [];
        world.eventsDelivered.push(...fresh);
        for (const event of [...fresh, ...late]) await deliverStripeEvent(world, event);
        return;
      }
      case 'hold': {
        const mentorId = world.mentorIds[current.session] ?? '';
        await holdMentor(database.db, {
          mentorId,
          reason: 'property',
          heldBy: 'property',
          now: clock.now(),
        });
        world.held[current.session] = true;
        return;
      }
      case 'release': {
        const mentorId = world.mentorIds[current.session] ?? '';
        await releaseMentor(database.db, {
          mentorId,
          releasedBy: 'property',
          reason: null,
          now: clock.now(),
        });
        world.held[current.session] = false;
        return;
      }
      case 'retry': {
        const { plan } = await planForSession(operatorDeps, world.ids[current.session] ?? '');
        if (plan.step !== 'stop') {
          await deliver(world, current.session, [deliverOnce(world, current.session)]);
        }
        return;
      }
      case 'redrive': {
        const dead = [...world.live.keys()].filter((index) => world.live[index]);
        const index = dead[current.pick % Math.max(dead.length, 1)];
        if (index === undefined) return;
        const { plan } = await planForSession(operatorDeps, world.ids[index] ?? '');
        if (isSettled(plan)) world.live[index] = false;
        else await deliver(world, index, [deliverOnce(world, index)]);
        return;
      }
      case 'reconcile': {
        const deps = {
          db: database.dbAs('operator'),
          stripe: patient,
          clock,
          log: world.log,
          pacing: testPacing(database.dbAs('operator')),
        };
        // `reconcile --fix`: found transfers are recorded as the transfer Lambda records them.
        const fix = async (sessionId: string, transfer: Stripe.Transfer) =>
          (await recordReconciledTransfer({ ...deps, config: CONFIG }, sessionId, transfer))
            .outcome === 'paid';
        // A list fault still armed fails it; the operator runs it again some other time.
        await reconcile(deps, { since: world.since, fix }).catch(() => undefined);
        return;
      }
      case 'leaseExpires':
        later(LEASE_MS + 1);
        return;
      // Stripe finishes a request within seconds: none still executes an hour later.
      case 'hoursPass':
        await stripe.whenIdle();
        later(current.hours * HOUR_MS);
        return;
      case 'midnightPasses': {
        await stripe.whenIdle();
        const day = 24 * HOUR_MS;
        clock.set(new Date((Math.floor(clock.now().getTime() / day) + 1) * day + 60_000));
        return;
      }
      case 'windowPasses':
        await stripe.whenIdle();
        later(21 * HOUR_MS);
        return;
      case 'dayPasses':
        await stripe.whenIdle();
        later(25 * HOUR_MS);
        stripe.forgetIdempotencyKeys();
        return;
      case 'poolFills':
        // Other work leaves idle connections in the pool, for a later kill to leave dead there.
        await Promise.all(
          Array.from({ length: current.connections }, () => sql`select pg_sleep(0.02)`.execute(db)),
        );
        return;
    }
  }

  /**
   * The faults stop and the balances are topped up. SQS redelivers every live message (a
   * dead-lettered one is redriven) and the daily scan enqueues every eligible session: past the
   * lease, past the key reuse window, and on later days while some session waits for a day with
   * room under its limit. A message whose deliveries keep failing would go to the DLQ: none may.
   */
  async function settle(world: World): Promise<void> {
    await stripe.whenIdle();
    stripe.clearFaults();
    for (const currency of CURRENCIES) stripe.setBalance(currency, null);
    const receives = world.specs.map(() => 0);
    const deadLettered = new Set<number>();
    let unsettled = false;
    const round = async () => {
      const enqueued = await scan(world);
      for (const [index, id] of world.ids.entries()) {
        if (!world.live[index] && !enqueued.has(id)) continue;
        const [outcome] = await deliver(world, index, [deliverOnce(world, index)]);
        if (!outcome || outcome.threw) {
          unsettled = true;
          receives[index] = (receives[index] ?? 0) + 1;
          if ((receives[index] ?? 0) >= MAX_RECEIVE_COUNT) deadLettered.add(index);
          continue;
        }
        receives[index] = 0;
        const { result } = outcome;
        if (
          result.outcome === 'failed' &&
          result.code === 'amount_over_limit' &&
          result.message.includes('daily limit')
        ) {
          unsettled = true;
        }
      }
    };
    later(LEASE_MS + 1);
    await round();
    later(LEASE_MS + 1);
    await round();
    later(21 * HOUR_MS);
    unsettled = false;
    await round();
    later(LEASE_MS + 1);
    await round();
    for (let day = 0; unsettled && day <= world.specs.length; day += 1) {
      later(25 * HOUR_MS);
      stripe.forgetIdempotencyKeys();
      unsettled = false;
      await round();
      later(LEASE_MS + 1);
      await round();
    }
    await stripe.whenIdle();

    const named = (indexes: number[]) => indexes.map((index) => `session ${index}`);
    expect(
      named([...deadLettered]),
      'sessions whose deliveries kept failing after the faults stopped (the DLQ)',
    ).toEqual([]);
    expect(
      named([...world.live.keys()].filter((index) => world.live[index])),
      'sessions whose last delivery still failed after the faults stopped',
    ).toEqual([]);
  }

  /** The scan Lambda's own run: the session ids it would put on the payout queue now. */
  async function scan(world: World): Promise<Set<string>> {
    const enqueued = new Set<string>();
    await scanEligibleSessions({
      db: database.dbAs('scan'),
      queue: {
        sendBatch: async (sessionIds) => {
          for (const id of sessionIds) enqueued.add(id);
          return { failedIds: [] };
        },
      },
      clock,
      log: world.log,
      sleep: async () => {},
      config: {
        graceHours: CONFIG.graceHours,
        paused: false,
        pageSize: 100,
        sendConcurrency: 1,
        sendRetries: 0,
      },
    });
    return enqueued;
  }

  async function run({ startMinute, chargeGroups, sessions, steps }: Scenario): Promise<void> {
    const start = new Date(DAY_START + startMinute * 60_000);
    clock = fixedClock(start);
    const world = await seed(sessions, start);
    stripe.fileUnderChargeGroup(chargeGroups);
    for (const current of steps) await perform(world, current);
    await settle(world);
    await checkInvariants(world);
    if (STATS) await tally();
  }

  async function checkInvariants(world: World): Promise<void> {
    const { ids, history, accounts } = world;
    const transfers = stripe.transfers();
    const sessionIndex = (id: string | undefined) => ids.indexOf(id ?? '');
    const [sessions, payouts, attempts, held, totals, standings] = await Promise.all([
      database.db.selectFrom('sessions').select(['id', 'payout_status']).execute(),
      database.db.selectFrom('payouts').selectAll().execute(),
      database.db.selectFrom('payout_attempts').selectAll().orderBy('id').execute(),
      database.db
        .selectFrom('payout_reservations')
        .select(['session_id', 'key_generation', 'currency', 'amount'])
        .select(sql<string>`day::text`.as('day'))
        .where('released_at', 'is', null)
        .execute(),
      database.db
        .selectFrom('payout_daily_totals')
        .select(['currency', 'amount'])
        .select(sql<string>`day::text`.as('day'))
        .execute(),
      database.db
        .selectFrom('stripe_accounts')
        .select(['account_id', 'transfers_capability'])
        .execute(),
    ]);
    const storedCapability = new Map(
      standings.map((row) => [row.account_id, row.transfers_capability]),
    );
    const status = new Map(sessions.map((row) => [row.id, row.payout_status]));
    const payoutOf = new Map(payouts.map((row) => [row.session_id, row]));

    // Every transfer was created by one of our keys, for the session it names.
    const creator = new Map<string, string>();
    for (const transfer of transfers) {
      const key = stripe.creatorKey(transfer.id) ?? '';
      expect(
        key,
        `the key that created session ${sessionIndex(transfer.metadata.session_id)}'s transfer`,
      ).toMatch(new RegExp(`^payout-${transfer.metadata.session_id}-\\d+$`));
      creator.set(transfer.id, key);
    }

    // 1. Never two transfers for a session.
    for (const [index, id] of ids.entries()) {
      const own = transfers.filter((transfer) => transfer.metadata.session_id === id);
      const made = own.map((t) => `${t.amount} ${t.currency} by ${creator.get(t.id)}`);
      expect(own.length, `transfers for session ${index}: ${made.join(', ')}`).toBeLessThanOrEqual(
        1,
      );
    }

    // 2. Per UTC day and currency, at most the daily limit handed to Stripe, a transfer counted on
    // the day its creating key was first sent (the day whose reservation covers it).
    const firstSent = new Map<string, number>();
    for (const request of stripe.requests()) {
      const key = request.idempotencyKey;
      if (request.method !== 'POST' || !key) continue;
      firstSent.set(key, Math.min(firstSent.get(key) ?? Number.POSITIVE_INFINITY, request.at));
    }
    const handedOver = new Map<string, number>();
    for (const transfer of transfers) {
      const sent = firstSent.get(creator.get(transfer.id) ?? '') ?? transfer.created * 1000;
      const day = `${utcDay(new Date(sent))} ${transfer.currency}`;
      handedOver.set(day, (handedOver.get(day) ?? 0) + transfer.amount);
    }
    for (const [day, amount] of handedOver) {
      const currency = day.split(' ')[1] ?? '';
      expect(amount, `amount handed to Stripe on ${day}`).toBeLessThanOrEqual(
        limitFor(LIMITS.dailyTotal, currency),
      );
    }
    // And each day's running total is what the generations still hold against it.
    const holding = new Map<string, number>();
    for (const reservation of held) {
      const day = `${reservation.day} ${reservation.currency}`;
      holding.set(day, (holding.get(day) ?? 0) + reservation.amount);
    }
    for (const total of totals) {
      const day = `${total.day} ${total.currency}`;
      expect(total.amount, `running total of ${day}`).toBe(holding.get(day) ?? 0);
    }

    // 4. Nothing is left half done. The one unfinished generation the protocol leaves at rest is
    // one Stripe refused afresh: it keeps its key (Stripe may not have stored a fresh refusal, and
    // a request under the key might still execute) until a later delivery's replay retires it. So
    // that refusal must be the session's latest attempt, and the scan must still enqueue the
    // session, or nothing ever resends that key.
    const enqueued = await scan(world);
    for (const payout of payouts.filter((row) => row.state === 'in_progress')) {
      const name = `session ${sessionIndex(payout.session_id)}`;
      const key = `payout-${payout.session_id}-${payout.key_generation}`;
      const latest = attempts.filter((attempt) => attempt.session_id === payout.session_id).at(-1);
      expect(
        enqueued.has(payout.session_id),
        `${name}'s payout is in_progress: the next scan must bring it back`,
      ).toBe(true);
      expect(
        { outcome: latest?.outcome, key: latest?.idempotency_key },
        `${name}'s payout is in_progress: its latest attempt must be Stripe's refusal of its key`,
      ).toEqual({ outcome: 'failed', key });
    }

    // 3. Every session ends in a defined place.
    for (const [index, id] of ids.entries()) {
      const name = `session ${index}`;
      const transfer = transfers.find((candidate) => candidate.metadata.session_id === id);
      const ownAttempts = attempts.filter((attempt) => attempt.session_id === id);
      const paid = ownAttempts.filter((attempt) => attempt.outcome === 'paid');
      const payout = payoutOf.get(id);
      const versions = history[index] ?? [];
      const final = versions.at(-1) as RowVersion;

      if (transfer) {
        // A transfer ⇔ paid_out ⇔ the payout paid with it ⇔ one paid attempt naming it.
        expect(status.get(id), `payout_status of ${name}, which has a transfer`).toBe('paid_out');
        expect(
          { state: payout?.state, transfer: payout?.stripe_transfer_id },
          `payout of ${name}`,
        ).toEqual({ state: 'paid', transfer: transfer.id });
        expect(
          paid.map((attempt) => attempt.stripe_transfer_id),
          `paid attempts of ${name}`,
        ).toEqual([transfer.id]);
        // It paid what some version of the session warranted...
        expect(
          versions.some((version) => warrants(version, transfer)),
          `${name}'s transfer (${transfer.amount} ${transfer.currency} to ${transfer.destination}) was warranted by some version of the session`,
        ).toBe(true);
        // ...and is flagged for review exactly when the session no longer warranted it when recorded.
        const recorded = paid[0];
        if (recorded) {
          const seen = versions.filter((version) => version.watermark < Number(recorded.id)).at(-1);
          if (seen && warrants(seen, transfer)) {
            expect(
              [null, 'reconciled'],
              `code of ${name}'s paid attempt (the session still warranted the transfer when recorded)`,
            ).toContain(recorded.error_code);
          } else {
            expect(
              recorded.error_code,
              `code of ${name}'s paid attempt (the session no longer warranted the transfer when recorded)`,
            ).toBe('paid_after_change');
          }
        }
        continue;
      }

      expect(paid, `paid attempts of ${name}, which has no transfer`).toEqual([]);
      expect(payout?.state, `payout of ${name}, which has no transfer`).not.toBe('paid');
      if (final.status !== 'confirmed') {
        // Cancelled: never paid; not_payable only if it was seen unpayable before.
        expect(status.get(id), `payout_status of cancelled ${name}`).toMatch(
          /^(pending|not_payable)$/,
        );
        continue;
      }
      const decision = payoutDecision(
        {
          priceAmount: final.price,
          refundedAmount: final.refunded,
          currency: final.currency,
          stripeAccountId: final.account,
        },
        CONFIG,
      );
      const latest = ownAttempts.at(-1);
      const failedWith = (code: string) => {
        expect(status.get(id), `payout_status of ${name}, failed ${code}`).toBe('pending');
        expect(
          { outcome: latest?.outcome, code: latest?.error_code },
          `latest attempt of ${name}`,
        ).toEqual({ outcome: 'failed', code });
      };
      if (decision.kind === 'not_payable') {
        expect(status.get(id), `payout_status of ${name}, net ${decision.net}`).toBe('not_payable');
        expect(
          ownAttempts.some((a) => a.outcome === 'skipped' && a.error_code === 'net_not_positive'),
          `${name} recorded as net_not_positive`,
        ).toBe(true);
      } else if (decision.kind === 'failed') {
        failedWith(decision.code);
      } else if (world.held[index]) {
        failedWith('mentor_on_hold');
      } else {
        const state = accounts.get(decision.destination);
        expect(state, `${name} is payable to an active account but was not paid`).not.toBe(
          'active',
        );
        // Stripe's word on a restricted account, once its account.updated was handled; else Stripe's refusal.
        const known = storedCapability.get(decision.destination);
        failedWith(
          state !== 'restricted'
            ? 'resource_missing'
            : known === 'inactive'
              ? 'account_not_ready'
              : 'insufficient_capabilities_for_transfer',
        );
      }
    }

    // A payee failure is recorded once per session and UTC day: never twice in a row on one day.
    for (const [index, id] of ids.entries()) {
      const own = attempts.filter((attempt) => attempt.session_id === id);
      for (const [at, attempt] of own.entries()) {
        const before = own[at - 1];
        const payee =
          attempt.error_code === 'account_not_ready' || attempt.error_code === 'mentor_on_hold';
        if (!payee || !before) continue;
        expect(
          before.error_code === attempt.error_code &&
            utcDay(before.created_at) === utcDay(attempt.created_at),
          `session ${index}: ${attempt.error_code} recorded twice in a row on ${utcDay(attempt.created_at)}`,
        ).toBe(false);
      }
    }

    // 5. Money at Stripe equals money recorded paid here, per currency.
    const atStripe = new Map<string, number>();
    for (const transfer of transfers) {
      atStripe.set(transfer.currency, (atStripe.get(transfer.currency) ?? 0) + transfer.amount);
    }
    const recordedPaid = new Map<string, number>();
    for (const payout of payouts.filter((row) => row.state === 'paid')) {
      recordedPaid.set(payout.currency, (recordedPaid.get(payout.currency) ?? 0) + payout.amount);
    }
    expect(Object.fromEntries(recordedPaid), 'money recorded paid here, per currency').toEqual(
      Object.fromEntries(atStripe),
    );

    // And reconcile, read-only, finds nothing to fix or explain.
    const report = await reconcile(
      {
        db: database.dbAs('reconcile'),
        stripe: patient,
        clock,
        log: recordingLog(),
        pacing: testPacing(database.dbAs('reconcile')),
      },
      { since: world.since },
    );
    expect(report.mismatches, 'reconcile after settling').toEqual([]);

    // 6. Each paid or failed outcome has its one payout event, and each event its outcome: they
    // are written in one transaction, so no crash or fault above can part them.
    const events = await database.db.selectFrom('payout_events').selectAll().execute();
    const outcomes = attempts
      .filter((attempt) => attempt.outcome === 'paid' || attempt.outcome === 'failed')
      .map((attempt) =>
        JSON.stringify([
          attempt.session_id,
          `payout.${attempt.outcome}`,
          attempt.error_code,
          attempt.outcome === 'paid' ? attempt.stripe_transfer_id : null,
        ]),
      );
    const announced = events.map((event) =>
      JSON.stringify([
        event.session_id,
        event.event_type,
        event.detail.code,
        event.detail.stripeTransferId,
      ]),
    );
    expect(announced.sort(), 'one payout event per paid or failed outcome, and no other').toEqual(
      outcomes.sort(),
    );
  }

  /** Whether this version of the session, as payoutDecision judges it, asks for exactly this transfer. */
  function warrants(
    version: RowVersion,
    transfer: {
      amount: number;
      currency: string;
      destination: string;
      source_transaction: string | null;
    },
  ): boolean {
    if (version.status !== 'confirmed') return false;
    const decision = payoutDecision(
      {
        priceAmount: version.price,
        refundedAmount: version.refunded,
        currency: version.currency,
        stripeAccountId: version.account,
      },
      CONFIG,
    );
    return (
      decision.kind === 'pay' &&
      decision.net === transfer.amount &&
      version.currency === transfer.currency &&
      decision.destination === transfer.destination &&
      version.charge === transfer.source_transaction
    );
  }

  /** Counts, per situation, the runs that reached it (PAYOUT_PROPERTY_STATS). */
  async function tally(): Promise<void> {
    const attempts = await database.db.selectFrom('payout_attempts').selectAll().execute();
    const requests = stripe.requests();
    const transfers = stripe.transfers();
    const searches = requests.filter((r) => r.method === 'GET' && r.query.destination);
    const codes = new Set(attempts.map((attempt) => attempt.error_code));
    const reached: Record<string, boolean> = {
      'a search': searches.length > 0,
      'a failed search': searches.some((r) => r.status !== 200),
      'a 409 (key in use)': requests.some((r) => r.status === 409),
      'a stored 500 replayed': requests.some((r) => r.replayed && r.status === 500),
      'an answer lost': requests.some((r) => r.method === 'POST' && r.status === 0),
      balance_insufficient: codes.has('balance_insufficient'),
      'a daily-limit failure': attempts.some((a) => a.error_message?.includes('daily limit')),
      'transfers on two days':
        new Set(transfers.map((t) => Math.floor(t.created / 86_400))).size > 1,
      'a transfer in a charge group': transfers.some((t) => t.transfer_group?.startsWith('group_')),
      'a second key for a session': attempts.some((a) => /-[2-9]$/.test(a.idempotency_key ?? '')),
      paid_after_change: codes.has('paid_after_change'),
      account_not_ready: codes.has('account_not_ready'),
      mentor_on_hold: codes.has('mentor_on_hold'),
      'an account event handled': requests.some((r) => r.path.startsWith('/v1/accounts/')),
      reconciled: codes.has('reconciled'),
    };
    for (const [situation, yes] of Object.entries({ runs: true, ...reached })) {
      if (yes) STATS?.set(situation, (STATS.get(situation) ?? 0) + 1);
    }
  }

  it(
    `keeps every invariant over ${RUNS} random schedules`,
    async () => {
      await fc.assert(
        fc.asyncProperty(scenario, (drawn) => run(drawn)),
        { numRuns: RUNS, ...(SEED && { seed: Number(SEED) }) },
      );
    },
    Math.max(600_000, RUNS * 3_000),
  );

  const at6 = { startMinute: 6 * 60, chargeGroups: false };
  const deliverWith = (session: number, crash: Crash, stripeFault: StripeFault = 'none'): Step => ({
    kind: 'deliver',
    session,
    crash,
    stripeFault,
    searchFault: 'none',
  });

  // Counterexamples the property found against deliberately broken recovery, kept as fixed tests.
  it('regression: the database dies after Stripe answered, then a day passes and the key is pruned', async () => {
    await run({
      ...at6,
      sessions: [
        { currency: 'jpy', price: 4023, refunded: 0, account: 'active', charged: false },
        { currency: 'eur', price: 12_948, refunded: 6418, account: 'active', charged: false },
      ],
      steps: [deliverWith(0, 'killDatabase'), { kind: 'dayPasses' }],
    });
  });

  it('regression: a stored 500 is replayed for the key on every later delivery', async () => {
    await run({
      ...at6,
      sessions: [{ currency: 'eur', price: 9999, refunded: 0, account: 'active', charged: false }],
      steps: [deliverWith(0, 'beforeRecordCommit', '500'), deliverWith(0, 'none', '429')],
    });
  });

  it('regression (soak): every connection killed right after Stripe answered, then redelivered', async () => {
    await run({
      ...at6,
      sessions: [
        { currency: 'jpy', price: 6072, refunded: 3366, account: 'active', charged: false },
      ],
      steps: [deliverWith(0, 'killDatabase')],
    });
  });

  it('regression (CI): connections killed while the pool holds several idle ones, then redelivered', async () => {
    await run({
      ...at6,
      sessions: [
        { currency: 'usd', price: 15_367, refunded: 3106, account: 'active', charged: false },
      ],
      steps: [{ kind: 'poolFills', connections: 6 }, deliverWith(0, 'killDatabase')],
    });
  });

  // Open findings of this property against the current protocol: these fail until it is fixed.
  it('regression (property): a transfer behind a resend failed over a new day’s limit is recorded although the session was then cancelled', async () => {
    await run({
      startMinute: 23 * 60 + 58,
      chargeGroups: false,
      sessions: [
        { currency: 'usd', price: 15_000, refunded: 0, account: 'active', charged: false },
        { currency: 'usd', price: 10_000, refunded: 0, account: 'active', charged: false },
      ],
      steps: [
        // Created at 23:58; the answer and both retries' answers are lost: the key is unfinished.
        deliverWith(0, 'none', 'dropAll'),
        { kind: 'midnightPasses' },
        // The new day's first payout fills it: 8000 + 12 000 > 15 000.
        deliverWith(1, 'none'),
        // The resend cannot reserve the new day: failed (amount_over_limit) and acknowledged.
        deliverWith(0, 'none'),
        // The scan never enqueues a cancelled session again: the generation is never resumed.
        { kind: 'change', session: 0, change: 'cancel' },
      ],
    });
  });

  it('regression (property): an unfinished key after a refusal is settled although the session was then cancelled', async () => {
    await run({
      ...at6,
      sessions: [
        { currency: 'usd', price: 4796, refunded: 47, account: 'unknown', charged: false },
      ],
      steps: [deliverWith(0, 'none'), { kind: 'change', session: 0, change: 'cancel' }],
    });
  });

  it('regression (property, seed -1607970985): a refused payout does not starve a payable one in its currency', async () => {
    await run({
      ...at6,
      sessions: [
        { currency: 'usd', price: 3829, refunded: 38, account: 'restricted', charged: false },
        { currency: 'usd', price: 14_960, refunded: 0, account: 'active', charged: false },
      ],
      steps: [],
    });
  });
});
