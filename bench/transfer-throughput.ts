import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { type Kysely, sql } from 'kysely';
import { drainQueue } from '../local/lambda-poller.ts';
import type { Database } from '../shared/db/database.ts';
import { createSqsPayoutQueue } from '../shared/payout-queue.ts';
import { type Figure, round, targetFigure } from './figures.ts';
import type { LambdaBundle } from './lambda-bundles.ts';
import type { BenchQueue } from './remote-sqs.ts';
import type { StandInProcess } from './stand-in-process.ts';

type Handler = (event: SQSEvent, context: unknown) => Promise<SQSBatchResponse>;

export interface TransferBenchOptions {
  db: Kysely<Database>;
  standIn: StandInProcess;
  queue: BenchQueue;
  /** The transfer Lambda's bundle, loaded afresh for each consumer: one Lambda instance each. */
  bundle: LambdaBundle;
  /** The variables the bundle runs with (the stack's, pointed at the stand-ins). */
  env: Record<string, string>;
  createsPerSecond: number;
  latenciesMs: number[];
  consumers: number[];
  payoutsPerRun: number;
  /** Prod's concurrency and latency: the run the cost is computed from. */
  costRun: { latencyMs: number; consumers: number };
}

/** What the cost run measured, per payout. */
export interface TransferCostMeasure {
  billedMsPerPayout: number;
  invocationsPerPayout: number;
  logBytesPerPayout: number;
  handBacksPerPayout: number;
  payoutsPerSecond: number;
}

/** Stripe's default limit per endpoint: the stand-in answers 429 above it, as Stripe does. */
const STRIPE_ENDPOINT_LIMIT = 25;
const HANDED_BACK = 'Payout handed back to the queue for later';

/**
 * Transfer throughput through the real transfer bundle: `consumers` Lambda instances, each
 * polling the queue and handling its batch one record at a time, against the Stripe stand-in with
 * injected latency and a real Postgres; the busiest second of POST /v1/transfers as the stand-in
 * received them, against the configured budget.
 */
export async function benchTransferThroughput(
  options: TransferBenchOptions,
): Promise<{ figures: Figure[]; cost: TransferCostMeasure }> {
  Object.assign(process.env, options.env);
  const instances = loadInstances(options.bundle, Math.max(...options.consumers));
  const warm = new Set<Handler>();
  const figures: Figure[] = [];
  let cost: TransferCostMeasure | undefined;
  await options.standIn.limitRate(STRIPE_ENDPOINT_LIMIT);
  for (const latencyMs of options.latenciesMs) {
    for (const consumers of options.consumers) {
      const run = await runOnce(options, instances.slice(0, consumers), latencyMs, warm);
      const bound = Math.min(
        options.createsPerSecond,
        latencyMs === 0 ? Number.POSITIVE_INFINITY : consumers / (latencyMs / 1000),
      );
      const label = `${latencyMs} ms Stripe latency, ${consumers} consumers`;
      figures.push(
        targetFigure(
          `transfer throughput, ${label} (sustained: first to last create)`,
          round(run.sustainedPerSecond, 1),
          'payouts/s',
          { text: `≥ 90% of ${round(bound, 1)}`, met: (value) => value >= 0.9 * bound },
          `${run.payouts} payouts, ${round(run.payoutsPerSecond, 1)}/s with the Lambdas' cold starts and the queue's drain; ${run.handBacks} handed back`,
        ),
        targetFigure(
          `busiest second of POST /v1/transfers at Stripe, ${label}`,
          run.busiest.most,
          'requests',
          {
            text: `≤ ${options.createsPerSecond} (prod's budget)`,
            met: (value) => value <= options.createsPerSecond,
          },
          `the busiest one-second window of arrivals at the stand-in (its own process)${overBudget(run)}; Stripe's ${STRIPE_ENDPOINT_LIMIT}/s per endpoint, enforced by the stand-in, answered ${run.rateLimited} 429s`,
        ),
      );
      if (latencyMs === options.costRun.latencyMs && consumers === options.costRun.consumers) {
        cost = {
          billedMsPerPayout: run.billedMs / run.payouts,
          invocationsPerPayout: run.invocations / run.payouts,
          logBytesPerPayout: run.logBytes / run.payouts,
          handBacksPerPayout: run.handBacks / run.payouts,
          payoutsPerSecond: run.sustainedPerSecond,
        };
      }
    }
  }
  await options.standIn.limitRate(null);
  if (!cost) throw new Error('The cost run is not among the scenarios');
  return { figures, cost };
}

function overBudget(run: {
  busiest: { overLimitAt: number[] };
  coldStarts: number;
  coldSecondsAfterFirstRequest: number;
}): string {
  const starts = run.busiest.overLimitAt;
  if (starts.length === 0) return '';
  const seconds = (ms: number) => round(ms / 1000, 1);
  const cold =
    run.coldStarts > 0
      ? `, and the last of the ${run.coldStarts} Lambdas cold in this run finished its first invocation ${round(run.coldSecondsAfterFirstRequest, 1)} s after it`
      : ', every Lambda warm';
  return `; ${starts.length} windows above the budget, beginning ${seconds(Math.min(...starts))}–${seconds(Math.max(...starts))} s after the first request${cold}`;
}

/** Each require of the bundle afresh is one more Lambda instance, with its own pool and clients. */
function loadInstances(bundle: LambdaBundle, count: number): Handler[] {
  const require = createRequire(import.meta.url);
  return Array.from({ length: count }, () => {
    delete require.cache[bundle.file];
    return (require(bundle.file) as { handler: Handler }).handler;
  });
}

async function runOnce(
  options: TransferBenchOptions,
  instances: Handler[],
  latencyMs: number,
  warm: Set<Handler>,
) {
  const { db, standIn, queue } = options;
  const sessionIds = await seedPayableSessions(db, options.payoutsPerRun);
  const accounts = await db.selectFrom('mentors').select('stripe_account_id').execute();
  await standIn.activateAccounts(accounts.flatMap((row) => row.stripe_account_id ?? []));
  const sqsQueue = createSqsPayoutQueue(queue.sqs, queue.queueUrl);
  for (let index = 0; index < sessionIds.length; index += 10) {
    await sqsQueue.sendBatch(sessionIds.slice(index, index + 10));
  }
  await standIn.setLatency(latencyMs);
  const before = await standIn.observed();

  let billedMs = 0;
  let invocations = 0;
  let lastDone = 0;
  // When the last Lambda that was cold in this run finished its first invocation (epoch ms).
  let coldStarts = 0;
  let lastColdDone = 0;
  const output = captureOutput();
  const start = performance.now();
  try {
    await Promise.all(
      instances.map((handler) =>
        drainQueue({
          sqs: queue.sqs,
          queueUrl: queue.queueUrl,
          queueArn: queue.queueArn,
          handler: async (event, context) => {
            const invoked = performance.now();
            const cold = !warm.has(handler);
            warm.add(handler);
            try {
              return await handler(event, context);
            } finally {
              lastDone = performance.now();
              if (cold) {
                coldStarts += 1;
                lastColdDone = performance.timeOrigin + lastDone;
              }
              billedMs += Math.ceil(lastDone - invoked);
              invocations += 1;
            }
          },
        }),
      ),
    );
  } finally {
    output.stop();
  }
  const seconds = (lastDone - start) / 1000;

  const after = await standIn.observed();
  const posts = after.posts.slice(before.posts.length).sort((a, b) => a - b);
  const created = after.sessionIds.slice(before.sessionIds.length);
  const paidOnce = new Set(created);
  if (created.length !== sessionIds.length || !sessionIds.every((id) => paidOnce.has(id))) {
    throw new Error(
      `Correctness check failed: ${created.length} transfers for ${sessionIds.length} sessions`,
    );
  }
  const dead = await queue.countDeadLetters();
  if (dead > 0) throw new Error(`Correctness check failed: ${dead} payouts dead-lettered`);
  return {
    payouts: sessionIds.length,
    payoutsPerSecond: sessionIds.length / seconds,
    sustainedPerSecond: (posts.length - 1) / (((posts.at(-1) ?? 0) - (posts[0] ?? 0)) / 1000),
    busiest: busiestSecond(posts, options.createsPerSecond),
    coldStarts,
    coldSecondsAfterFirstRequest: coldStarts > 0 ? (lastColdDone - (posts[0] ?? 0)) / 1000 : 0,
    billedMs,
    invocations,
    logBytes: output.bytes(),
    handBacks: output.count(HANDED_BACK),
    rateLimited: after.rateLimited - before.rateLimited,
  };
}

/**
 * The most requests in any window of one second, [t, t + 1000), t being each request's arrival;
 * and when (ms after the first request) each window above `limit` began.
 */
export function busiestSecond(sortedAt: number[], limit: number) {
  let most = 0;
  let first = 0;
  const overLimitAt: number[] = [];
  for (let last = 0; last < sortedAt.length; last += 1) {
    while ((sortedAt[last] ?? 0) - (sortedAt[first] ?? 0) >= 1000) first += 1;
    most = Math.max(most, last - first + 1);
    if (last - first + 1 > limit) overLimitAt.push((sortedAt[first] ?? 0) - (sortedAt[0] ?? 0));
  }
  return { most, overLimitAt };
}

/** Payable sessions of mentors with connected accounts, ended two days ago. */
export async function seedPayableSessions(db: Kysely<Database>, count: number): Promise<string[]> {
  const { rows } = await sql<{ id: string }>`
    with m as (select id, row_number() over (order by id) as n from mentors)
    insert into sessions (id, mentor_id, status, session_end_time, price_amount, refunded_amount, currency, stripe_charge_id, payout_status)
    select gen_random_uuid(), m.id, 'confirmed', now() - interval '2 days', 1000 + (g % 4000), 0,
      (array['usd','eur','jpy'])[1 + g % 3], null, 'pending'
    from generate_series(1, ${count}) g join m on m.n = 1 + g % (select count(*) from mentors)
    returning id`.execute(db);
  return rows.map((row) => row.id);
}

/**
 * What the Lambdas write to stdout and stderr (their logs and EMF metrics, which CloudWatch bills
 * by the byte) is counted and kept from the terminal while the handlers run.
 */
export function captureOutput() {
  const writes = { stdout: process.stdout.write, stderr: process.stderr.write };
  let bytes = 0;
  const lines = new Map<string, number>();
  const counting = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    bytes += Buffer.byteLength(text);
    if (text.includes(HANDED_BACK)) lines.set(HANDED_BACK, (lines.get(HANDED_BACK) ?? 0) + 1);
    const callback = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined;
    callback?.();
    return true;
  }) as typeof process.stdout.write;
  process.stdout.write = counting;
  process.stderr.write = counting;
  return {
    bytes: () => bytes,
    count: (line: string) => lines.get(line) ?? 0,
    stop() {
      process.stdout.write = writes.stdout;
      process.stderr.write = writes.stderr;
    },
  };
}
