import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Kysely } from 'kysely';
import type { Database } from './db/database.ts';
import {
  readDatabaseClockMs,
  takeStripeRequestSlot,
} from './db/stripe-request-pacing.repository.ts';
import { NoStripeSlotError } from './errors.ts';
import { MIN_TIME_FOR_STRIPE_CALL_MS } from './runtime-limits.ts';
import { rateLimitedReason } from './stripe-errors.ts';

/**
 * The Stripe request budget (README, "Stripe request budget"): Stripe limits each endpoint to 25
 * requests per second by default, and the account to 100 (25 in a sandbox). Every transfer Lambda
 * and the CLI take a send slot for their endpoint from one schedule in Postgres before each
 * request, so the rate is a setting, not a by-product of concurrency and Stripe's latency.
 */
/** Stripe counts each named operation as an endpoint of its own. */
export type StripeEndpoint =
  | 'transfers.create'
  | 'transfers.list'
  | 'transfers.retrieve'
  /** GET /v1/accounts/:id: the stripe-events Lambda reads an account after account.updated. */
  | 'accounts.retrieve';

export interface StripeBudget {
  /** POST /v1/transfers per second, across every Lambda. */
  createsPerSecond: number;
  /** Each read endpoint apart (GET /v1/transfers, GET /v1/transfers/:id, GET /v1/accounts/:id), per second. */
  readsPerSecond: number;
}

/** The longest a request waits for its slot; a payout that would wait longer is handed back. */
export const MAX_SLOT_WAIT_MS = 10_000;

export interface PacingDeps {
  db: Kysely<Database>;
  sleep: (ms: number) => Promise<void>;
  budget: StripeBudget;
}

/**
 * How late after its slot a request may still be sent, as a share of the interval (at most a
 * quarter of a second): a request woken later (a paused event loop, a busy host) would land among
 * the next slots' requests and crowd Stripe's second, so its slot is given up and the next one
 * taken. Slots are spaced for twice this lateness: the rest is for the way to Stripe.
 */
export const LATE_SLOT_TOLERANCE = 0.25;

/**
 * The lateness a send may have is never judged finer than this: a process cannot place its slot
 * on its clock more closely than a database round trip. What a second at Stripe may hold depends
 * on the lateness in ms, not per slot: at high rates (tests' unlimited budget) slots are spaced
 * for this much (10 000/s: 0.102 ms apart instead of 0.1).
 */
export const MIN_LATE_SLOT_TOLERANCE_MS = 10;

/**
 * Where the database's clock stands against this process's, learnt from the round trips that
 * take slots: the database read its clock after the statement was sent and before its answer was
 * read, so (ours − its) lies between `sent − databaseNow` and `read − databaseNow`. The tightest
 * bounds of the last half minute's round trips are kept (clocks drift; a stepped clock that makes
 * them disagree starts them afresh). With them a slot, a time on the database's clock, is known on
 * ours to within the fastest recent round trip, however late its own answer was read.
 */
class DatabaseClock {
  private samples: { lo: number; hi: number; at: number }[] = [];

  observe(sentAt: number, readAt: number, databaseNowMs: number): void {
    this.samples = this.samples.filter((sample) => readAt - sample.at <= CLOCK_SAMPLES_MS);
    this.samples.push({ lo: sentAt - databaseNowMs, hi: readAt - databaseNowMs, at: readAt });
    if (this.samples.length > MAX_CLOCK_SAMPLES) this.samples.shift();
    if (this.offset().lo > this.offset().hi) this.samples = this.samples.slice(-1);
  }

  /** How vague the offset still is, ms. */
  spread(): number {
    const { lo, hi } = this.offset();
    return hi - lo;
  }

  /** Our clock minus the database's: at least lo, at most hi. */
  offset(): { lo: number; hi: number } {
    return {
      lo: Math.max(...this.samples.map((sample) => sample.lo)),
      hi: Math.min(...this.samples.map((sample) => sample.hi)),
    };
  }
}

const CLOCK_SAMPLES_MS = 30_000;
const MAX_CLOCK_SAMPLES = 16;
const CLOCK_PROBES = 2;
/** One per database handle, that is one per Lambda instance (or CLI run). */
const databaseClocks = new WeakMap<object, DatabaseClock>();

function databaseClock(db: object): DatabaseClock {
  let clock = databaseClocks.get(db);
  if (!clock) {
    clock = new DatabaseClock();
    databaseClocks.set(db, clock);
  }
  return clock;
}

/** This process's clock, epoch ms, monotonic (performance.now from a fixed origin). */
function now(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * A send slot taken. `send` makes one Stripe call in it, passing the request options the call
 * must give the SDK: its first request leaves in this slot if it is still on time when it reaches
 * the HTTP layer, else it takes the next one (the event loop paused between the check and the
 * request); every request the SDK sends again by itself inside the call (its retries after a
 * timeout, a dropped connection, a 409 or a 5xx) waits for a slot of its own. A request that finds
 * no slot in time is not sent: the call fails as a connection error would, which the callers
 * already treat as an outcome unknown.
 */
export interface SendSlot {
  send<T>(call: (options: { headers: Record<string, string> }) => Promise<T>): Promise<T>;
}

/** The paced call a request belongs to, for the Stripe client's HTTP layer (paceStripeRequest). */
interface PacedCall {
  endpoint: StripeEndpoint;
  /** The latest, on our clock, the call's first request may leave in its slot; null once used. */
  sendBy: number | null;
  nextSlot: () => Promise<number | null>;
}

/**
 * How a request names its paced call to the HTTP layer, which takes the header off before the
 * request leaves. A header rather than AsyncLocalStorage: in Node 20 the latter turns on promise
 * hooks for the whole process, which made promise-heavy code (pg, kysely) 2.5× slower.
 */
export const PACED_CALL_HEADER = 'X-Payouts-Paced-Call';
/**
 * The calls in flight, one registry per process even if this module is loaded twice (a test's
 * module reset, a bundle that inlines it twice): the HTTP layer of one copy finds the calls the
 * other began.
 */
const pacedCalls = processWide('payouts.pacedStripeCalls', () => new Map<string, PacedCall>());

function processWide<T>(name: string, create: () => T): T {
  const registry = globalThis as Record<symbol, unknown>;
  const key = Symbol.for(name);
  if (!(key in registry)) registry[key] = create();
  return registry[key] as T;
}

/**
 * Called by the Stripe client's HTTP layer just before each request leaves (createStripeClient),
 * with the request's headers: a request of a SendSlot's call is held to the budget, and the
 * header naming the call is taken off; any other request (tests, scripts) goes as it is.
 */
export async function paceStripeRequest(headers: Record<string, unknown>): Promise<void> {
  const name = Object.keys(headers).find(
    (header) => header.toLowerCase() === PACED_CALL_HEADER.toLowerCase(),
  );
  if (name === undefined) return;
  const call = pacedCalls.get(String(headers[name]));
  delete headers[name];
  if (!call) throw new Error(`A Stripe request names a paced call that has ended (${name})`);
  const sendBy = call.sendBy;
  call.sendBy = null;
  if (sendBy !== null && now() <= sendBy) return;
  if ((await call.nextSlot()) === null) throw new NoStripeSlotError(call.endpoint);
}

/**
 * Waits for the endpoint's next slot; null (nothing taken) if it does not come within maxWaitMs
 * (each later request of the call the slot sends waits as long again).
 */
export async function waitForStripeSlot(
  deps: PacingDeps,
  endpoint: StripeEndpoint,
  maxWaitMs: number | (() => number),
): Promise<SendSlot | null> {
  const nextSlot = () =>
    takeSendSlot(deps, endpoint, typeof maxWaitMs === 'number' ? maxWaitMs : maxWaitMs());
  const sendBy = await nextSlot();
  if (sendBy === null) return null;
  return {
    send: async (call) => {
      const id = randomUUID();
      pacedCalls.set(id, { endpoint, sendBy, nextSlot });
      try {
        return await call({ headers: { [PACED_CALL_HEADER]: id } });
      } finally {
        pacedCalls.delete(id);
      }
    },
  };
}

/**
 * Takes the endpoint's next slot and waits for it; resolves to the latest our clock lets the
 * request leave in it, or null (nothing taken) if none comes within maxWaitMs. It wakes no earlier
 * than the latest our clock may place the slot, and sends only if it is not later than the
 * tolerance after the earliest: the lateness judged is the most it may be, counted from the slot
 * itself, not from when the answer naming the slot was read.
 */
async function takeSendSlot(
  deps: PacingDeps,
  endpoint: StripeEndpoint,
  maxWaitMs: number,
): Promise<number | null> {
  const perSecond =
    endpoint === 'transfers.create' ? deps.budget.createsPerSecond : deps.budget.readsPerSecond;
  const toleranceMs = Math.max(
    LATE_SLOT_TOLERANCE * Math.min(1000 / perSecond, 1000),
    MIN_LATE_SLOT_TOLERANCE_MS,
  );
  // Slots are spaced by twice the tolerance more per second's worth of them, so that sends late by
  // the tolerance, and late again on their way, leave every second at Stripe within the rate
  // (20/s: 51.25 ms apart).
  const lateness = 2 * toleranceMs;
  const scheduleMs = perSecond >= 1 ? (1000 + lateness) / perSecond : 1000 / perSecond + lateness;
  const until = now() + Math.max(0, Math.min(maxWaitMs, MAX_SLOT_WAIT_MS));
  const clock = databaseClock(deps.db);
  for (;;) {
    const sentAt = now();
    const slot = await takeStripeRequestSlot(deps.db, endpoint, {
      perSecond: 1000 / scheduleMs,
      maxWaitMs: Math.max(0, until - sentAt),
    });
    if (!slot) return null;
    clock.observe(sentAt, now(), slot.databaseNowMs);
    // A slow round trip (a new connection, a busy moment) leaves the slot's place on our clock
    // too vague to judge: a round trip or two more that take nothing narrow it.
    for (let probe = 0; probe < CLOCK_PROBES && clock.spread() > toleranceMs / 2; probe += 1) {
      const probeSent = now();
      const databaseNowMs = await readDatabaseClockMs(deps.db);
      clock.observe(probeSent, now(), databaseNowMs);
    }
    const offset = clock.offset();
    const wait = slot.slotAtMs + offset.hi - now();
    if (wait > 0) await deps.sleep(wait);
    const sendBy = slot.slotAtMs + offset.lo + toleranceMs;
    if (now() <= sendBy) return sendBy;
    if (now() >= until) return null;
  }
}

/** A Lambda's pacing: what the invocation has left decides whether a Stripe call may start. */
export interface TimedPacingDeps extends PacingDeps {
  timeLeftMs?: () => number;
}

/** Stripe's 429s one call (one read, or one page of a search) backs off from before giving up. */
export const MAX_RATE_LIMITED_REQUESTS = 4;

/** Whether a Stripe call (after waiting `waitMs` first) still fits in what the invocation has left. */
export function hasTimeForStripeCall(
  deps: Pick<TimedPacingDeps, 'timeLeftMs'>,
  waitMs = 0,
): boolean {
  return !deps.timeLeftMs || deps.timeLeftMs() >= MIN_TIME_FOR_STRIPE_CALL_MS + waitMs;
}

/** Waits for the endpoint's next slot, as long as a Stripe call still fits after it. */
export function waitForSlotInTime(
  deps: TimedPacingDeps,
  endpoint: StripeEndpoint,
): Promise<SendSlot | null> {
  const timeLeftMs = deps.timeLeftMs;
  return waitForStripeSlot(
    deps,
    endpoint,
    timeLeftMs ? () => timeLeftMs() - MIN_TIME_FOR_STRIPE_CALL_MS : Number.POSITIVE_INFINITY,
  );
}

/** What a read that cannot be made now throws; each caller says how it is retried. */
export interface ReadRefusals {
  noTime(): Error;
  noSlot(): Error;
  rateLimited(reason: string | undefined, cause: unknown): Error;
}

/**
 * One Stripe read in a slot of the budget, started only with time for it; Stripe's 429 (refused
 * before anything was read) is backed off and the read sent again, MAX_RATE_LIMITED_REQUESTS times
 * at most. Any other failure is the read's own, thrown as it came.
 */
export async function readInSlot<T>(
  deps: TimedPacingDeps,
  endpoint: StripeEndpoint,
  read: (options: { headers: Record<string, string> }) => Promise<T>,
  refusals: ReadRefusals,
): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    if (!hasTimeForStripeCall(deps)) throw refusals.noTime();
    const slot = await waitForSlotInTime(deps, endpoint);
    if (!slot) throw refusals.noSlot();
    try {
      return await slot.send(read);
    } catch (error) {
      const reason = rateLimitedReason(error);
      if (reason === null) throw error;
      const backoffMs = rateLimitBackoffMs(reason, attempt);
      if (attempt >= MAX_RATE_LIMITED_REQUESTS || !hasTimeForStripeCall(deps, backoffMs)) {
        throw refusals.rateLimited(reason, error);
      }
      await deps.sleep(backoffMs);
    }
  }
}

/**
 * How long to back off after Stripe's 429, by its Stripe-Rate-Limited-Reason: a rate limit is
 * counted per second, a concurrency limit frees up as requests finish, and a 429 without a reason
 * may be a lock timeout on the object. Doubles with each attempt, capped.
 */
export function rateLimitBackoffMs(reason: string | undefined, attempt: number): number {
  const base =
    reason === 'global-concurrency' || reason === 'endpoint-concurrency'
      ? 250
      : reason === undefined
        ? 500
        : 1_000;
  return Math.min(base * 2 ** Math.max(0, attempt - 1), 8_000);
}
