import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  PurgeQueueCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { build } from 'esbuild';
import { type Kysely, sql } from 'kysely';
import { type ScanDeps, scanEligibleSessions } from '../lambdas/scan/scan-eligible-sessions.ts';
import { handlePayoutRecord, type TransferDeps } from '../lambdas/transfer/handle-payout-record.ts';
import { paySession } from '../lambdas/transfer/pay-session.ts';
import { drainQueue } from '../local/lambda-poller.ts';
import { startLocalPostgres } from '../local/local-postgres.ts';
import { startLocalSqs } from '../local/local-sqs.ts';
import { startStripeStandIn } from '../local/stripe-stand-in/stripe-stand-in.ts';
import { systemClock } from '../shared/clock.ts';
import { createDb } from '../shared/db/connect.ts';
import type { Database } from '../shared/db/database.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import {
  eligibleSessionPageQuery,
  findEligibleSessionPage,
} from '../shared/db/sessions.repository.ts';
import { SERVICE } from '../shared/metric-names.ts';
import { createMetrics } from '../shared/metrics.ts';
import { eligibilityCutoff } from '../shared/payout-policy.ts';
import { createSqsPayoutQueue, payoutMessageBody } from '../shared/payout-queue.ts';
import { PAYOUT_LEASE_MS } from '../shared/runtime-limits.ts';
import { createStripeClient } from '../shared/stripe-client.ts';
import { type RemoteSqs, startRemoteSqs } from './remote-sqs.ts';

/**
 * `npm run bench [-- --quick]`: the scan at scale against a naive baseline, the transfer path's own
 * overhead, transfer throughput against its bound, and the Lambda bundles. Figures are printed
 * against their targets and written to bench/results.json; correctness is asserted (every id
 * enqueued once, one transfer per session), time never is.
 */
const quick = process.argv.includes('--quick');
const SIZES = quick
  ? { sessions: 100_000, eligible: 10_000, baseline: 2_000, payouts: 400, throughput: 200 }
  : { sessions: 1_000_000, eligible: 100_000, baseline: 10_000, payouts: 2_000, throughput: 600 };
const FEE_BPS = 2000;
const LIMITS = { perTransfer: { '*': 1_000_000 }, dailyTotal: { '*': 1_000_000_000_000 } };
const silentLog = { debug() {}, info() {}, warn() {}, error() {} };
process.env.POWERTOOLS_METRICS_DISABLED = 'true';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

interface Figure {
  name: string;
  value: number;
  unit: string;
  target?: string;
  met?: boolean;
}
const figures: Figure[] = [];
const report = (figure: Figure) => {
  figures.push(figure);
  const mark = figure.met === undefined ? ' ' : figure.met ? '✓' : '✗';
  console.log(
    `${mark} ${figure.name.padEnd(52)} ${String(figure.value).padStart(12)} ${figure.unit.padEnd(12)} ${figure.target ?? ''}`,
  );
};
const round = (value: number, digits = 2) => Number(value.toFixed(digits));
/** The batched, concurrent scan against the naive baseline (the target: 20×). */
const SPEED_UP_TARGET = 20;
const reportSpeedUp = (name: string, ratio: number) =>
  report({
    name,
    value: round(ratio, 1),
    unit: '×',
    target: `≥ ${SPEED_UP_TARGET}×`,
    met: ratio >= SPEED_UP_TARGET,
  });
function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}
function check(condition: boolean, message: string): void {
  if (!condition) throw new Error(`Correctness check failed: ${message}`);
}

async function drainIds(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const ids: string[] = [];
  for (;;) {
    const batches = await Promise.all(
      Array.from({ length: 8 }, () =>
        sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 600,
          }),
        ),
      ),
    );
    const messages = batches.flatMap((batch) => batch.Messages ?? []);
    if (messages.length === 0) return ids;
    for (const message of messages)
      ids.push((JSON.parse(message.Body ?? '{}') as { sessionId: string }).sessionId);
  }
}

/** Sessions generated in SQL; a tenth eligible, many sharing one session_end_time. */
async function seedSessions(db: Kysely<Database>, now: Date): Promise<void> {
  await sql`insert into mentors (id, stripe_account_id)
    select gen_random_uuid(), 'acct_bench_' || g from generate_series(1, 1000) g`.execute(db);
  await sql`
    with m as (select id, row_number() over () as n from mentors)
    insert into sessions (id, mentor_id, status, session_end_time, price_amount, refunded_amount, currency, stripe_charge_id, payout_status)
    select gen_random_uuid(), m.id,
      case when g % 10 = 0 then 'confirmed' when g % 10 = 1 then 'cancelled' else 'confirmed' end,
      -- eligible: ended 2..30 days ago, on the hour (many ties); others: recent or already paid
      case when g % 10 = 0 then ${now}::timestamptz - interval '2 days' - ((g / 10) % 700) * interval '1 hour'
           else ${now}::timestamptz - (g % 20) * interval '1 hour' end,
      1000 + (g % 50000), 0, (array['usd','eur','jpy'])[1 + g % 3], null,
      case when g % 10 = 0 then 'pending' when g % 10 < 5 then 'paid_out' else 'pending' end
    from generate_series(1, ${SIZES.sessions}) g
    join m on m.n = 1 + g % 1000`.execute(db);
  await sql`analyze sessions`.execute(db);
}

async function benchScan(db: Kysely<Database>, remoteSqs: RemoteSqs): Promise<void> {
  const { sqs, queueUrl } = remoteSqs;
  const now = new Date();
  const t0 = performance.now();
  await seedSessions(db, now);
  report({
    name: 'seed: sessions generated in SQL',
    value: SIZES.sessions,
    unit: `rows in ${round((performance.now() - t0) / 1000, 1)} s`,
  });
  const cutoff = eligibilityCutoff(now, 24);

  // The plan of the scan's own page query, first page and a page deep in the walk.
  const plans: string[] = [];
  for (const after of [
    undefined,
    {
      endTime: new Date(now.getTime() - 15 * 86_400_000).toISOString(),
      id: '00000000-0000-0000-0000-000000000000',
    },
  ]) {
    const plan = await eligibleSessionPageQuery(db, { cutoff, after, limit: 1000 }).explain();
    plans.push(plan.map((row) => String(row['QUERY PLAN'])).join('\n'));
  }
  const planText = plans.join('\n');
  console.log(`  query plans (first page, a later page):\n${planText.replace(/^/gm, '    ')}`);
  const indexUsed = plans.every(
    (text) => text.includes('sessions_payout_eligible_idx') && !text.includes('Seq Scan'),
  );
  report({
    name: 'scan page query uses sessions_payout_eligible_idx',
    value: indexUsed ? 1 : 0,
    unit: 'yes=1',
    target: 'index, no seq scan',
    met: indexUsed,
  });

  // Per-page query time at the start and the end of the keyset walk: it must stay flat.
  const pageTimes: number[] = [];
  let after: Parameters<typeof findEligibleSessionPage>[1]['after'];
  do {
    const start = performance.now();
    const page = await findEligibleSessionPage(db, { cutoff, after, limit: 1000 });
    pageTimes.push(performance.now() - start);
    after = page.next;
  } while (after);
  const tenth = Math.max(1, Math.floor(pageTimes.length / 10));
  const first = pageTimes.slice(0, tenth);
  const last = pageTimes.slice(-tenth);
  report({
    name: 'page query p50 / p95, first 10% of pages',
    value: round(percentile(first, 50)),
    unit: `ms / ${round(percentile(first, 95))} ms`,
  });
  report({
    name: 'page query p50 / p95, last 10% of pages',
    value: round(percentile(last, 50)),
    unit: `ms / ${round(percentile(last, 95))} ms`,
    target: 'flat (≤ 2× first)',
    met: percentile(last, 50) <= 2 * percentile(first, 50) + 1,
  });

  // The real scan use-case against the naive baseline (one SELECT of every eligible row, one
  // SendMessage per row), first straight into the emulator, then with an SQS-like round trip.
  const scanOnce = async (client: SQSClient): Promise<number> => {
    const deps: ScanDeps = {
      db,
      queue: createSqsPayoutQueue(client, queueUrl),
      clock: { now: () => now },
      log: silentLog,
      sleep: (ms) => sleep(ms),
      config: {
        graceHours: 24,
        paused: false,
        pageSize: 1000,
        sendConcurrency: 10,
        sendRetries: 3,
      },
    };
    const start = performance.now();
    const summary = await scanEligibleSessions(deps);
    const rate = SIZES.eligible / ((performance.now() - start) / 1000);
    const enqueued = await drainIds(sqs, queueUrl);
    check(
      summary.enqueued === SIZES.eligible,
      `scan enqueued ${summary.enqueued}, expected ${SIZES.eligible}`,
    );
    check(
      enqueued.length === SIZES.eligible && new Set(enqueued).size === SIZES.eligible,
      'every eligible id enqueued exactly once',
    );
    return rate;
  };
  const baselineOnce = async (client: SQSClient, rows: number): Promise<number> => {
    const start = performance.now();
    const all = await sql<{
      id: string;
    }>`select id from sessions where status = 'confirmed' and payout_status = 'pending' and session_end_time < ${cutoff}`.execute(
      db,
    );
    check(all.rows.length === SIZES.eligible, 'eligible count in the database');
    for (const row of all.rows.slice(0, rows)) {
      await client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: payoutMessageBody(row.id),
        }),
      );
    }
    const rate = rows / ((performance.now() - start) / 1000);
    await sqs.send(new PurgeQueueCommand({ QueueUrl: queueUrl }));
    return rate;
  };

  const scanRate = await scanOnce(sqs);
  const baselineRate = await baselineOnce(sqs, SIZES.baseline);
  report({
    name: `scan: ${SIZES.eligible} eligible of ${SIZES.sessions} enqueued, each once`,
    value: round(scanRate, 0),
    unit: 'rows/s',
  });
  report({
    name: `naive baseline (${SIZES.baseline}-row sample)`,
    value: round(baselineRate, 0),
    unit: 'rows/s',
  });
  reportSpeedUp('speed-up, emulator round trip (~0.7 ms, CPU-bound)', scanRate / baselineRate);
  const slow = remoteSqs.withLatency(5);
  const slowScanRate = await scanOnce(slow);
  const slowBaselineRate = await baselineOnce(slow, Math.min(SIZES.baseline, 1000));
  report({
    name: 'scan with a 5 ms SQS round trip',
    value: round(slowScanRate, 0),
    unit: 'rows/s',
  });
  report({
    name: 'naive baseline with a 5 ms SQS round trip',
    value: round(slowBaselineRate, 0),
    unit: 'rows/s',
  });
  reportSpeedUp('speed-up with a 5 ms SQS round trip', slowScanRate / slowBaselineRate);
  const projected = 1_000_000 / Math.min(scanRate, slowScanRate);
  report({
    name: 'projected scan of 1 000 000 eligible sessions',
    value: round(projected, 0),
    unit: 's',
    target: '< 900 s (Lambda limit) with margin',
    met: projected < 450,
  });
}

async function benchTransfer(
  db: Kysely<Database>,
  stripeUrl: string,
  setLatency: (ms: number) => void,
  setAccount: (id: string) => void,
): Promise<void> {
  await sql`truncate payout_attempts, payouts`.execute(db);
  const mentors = await db.selectFrom('mentors').select('stripe_account_id').execute();
  for (const mentor of mentors) if (mentor.stripe_account_id) setAccount(mentor.stripe_account_id);
  const ids = (
    await sql<{
      id: string;
    }>`select id from sessions where status = 'confirmed' and payout_status = 'pending' and session_end_time < now() - interval '24 hours' limit ${SIZES.payouts + SIZES.throughput}`.execute(
      db,
    )
  ).rows.map((row) => row.id);

  // Overhead: the time of paySession minus the time of its Stripe call, stand-in at 0 ms.
  setLatency(0);
  const stripe = createStripeClient('sk_test_bench', stripeUrl);
  let stripeMs = 0;
  const timedStripe = {
    on: stripe.on.bind(stripe),
    off: stripe.off.bind(stripe),
    transfers: {
      create: (async (...args: Parameters<typeof stripe.transfers.create>) => {
        const start = performance.now();
        try {
          return await stripe.transfers.create(...args);
        } finally {
          stripeMs = performance.now() - start;
        }
      }) as typeof stripe.transfers.create,
      list: stripe.transfers.list.bind(stripe.transfers),
    },
  };
  const deps = {
    db,
    stripe: timedStripe,
    clock: systemClock,
    log: silentLog,
    config: {
      feeBps: FEE_BPS,
      graceHours: 24,
      paused: false,
      leaseMs: PAYOUT_LEASE_MS,
      limits: LIMITS,
      // The overhead is our own code: a budget it never waits for.
      stripeBudget: { createsPerSecond: 10_000, readsPerSecond: 10_000 },
    },
  };
  // The same run's database round trip through the same pool: the overhead's machine-bound floor
  // (a payout makes 9 round trips: two transactions, BEGIN and COMMIT included).
  const roundTrips: number[] = [];
  for (let i = 0; i < 500; i += 1) {
    const start = performance.now();
    await sql`select 1`.execute(db);
    roundTrips.push(performance.now() - start);
  }
  const overheads: number[] = [];
  for (const id of ids.slice(0, SIZES.payouts)) {
    const start = performance.now();
    const result = await paySession(deps, id);
    check(result.outcome === 'paid', `session ${id} paid`);
    overheads.push(performance.now() - start - stripeMs);
  }
  report({
    name: `transfer overhead, our code + database (${SIZES.payouts} payouts) p50`,
    value: round(percentile(overheads, 50)),
    unit: 'ms',
    target: '≤ 5 ms',
    met: percentile(overheads, 50) <= 5,
  });
  report({ name: 'transfer overhead p95', value: round(percentile(overheads, 95)), unit: 'ms' });
  report({
    name: 'database round trip (select 1) p50, same run',
    value: round(percentile(roundTrips, 50), 3),
    unit: 'ms',
  });
  report({
    name: 'transfer overhead p50 in database round trips',
    value: round(percentile(overheads, 50) / percentile(roundTrips, 50), 1),
    unit: 'round trips',
  });

  // Throughput at 300 ms per Stripe call, with the configured concurrency of Lambdas, each
  // handling its batch one record at a time, as in AWS.
  setLatency(300);
  const concurrency = 10;
  const budget = 100;
  const sqsLocal = await startLocalSqs({ queueName: 'bench-throughput' });
  const queue = createSqsPayoutQueue(sqsLocal.sqs, sqsLocal.queueUrl);
  const throughputIds = ids.slice(SIZES.payouts);
  for (let index = 0; index < throughputIds.length; index += 10)
    await queue.sendBatch(throughputIds.slice(index, index + 10));
  const transferDeps: TransferDeps = {
    ...deps,
    config: { ...deps.config, stripeBudget: { createsPerSecond: budget, readsPerSecond: budget } },
    stripe,
    metrics: createMetrics(SERVICE.transfer),
    queue,
  };
  // A Lambda handles its batch one record at a time; each paid record is stamped when it finishes.
  const completions: number[] = [];
  const countingHandler = async (event: {
    Records: Parameters<typeof handlePayoutRecord>[1][];
  }) => {
    const failures: { itemIdentifier: string }[] = [];
    for (const record of event.Records) {
      try {
        await handlePayoutRecord(transferDeps, record, () => 300_000);
        completions.push(performance.now());
      } catch {
        failures.push({ itemIdentifier: record.messageId });
      }
    }
    return { batchItemFailures: failures };
  };
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, () =>
      drainQueue({
        sqs: sqsLocal.sqs,
        queueUrl: sqsLocal.queueUrl,
        queueArn: sqsLocal.queueArn,
        handler: countingHandler,
      }),
    ),
  );
  const seconds = (performance.now() - start) / 1000;
  const rate = throughputIds.length / seconds;
  const bound = Math.min(budget, concurrency / 0.3);
  let peak = 0;
  for (const at of completions)
    peak = Math.max(peak, completions.filter((other) => other >= at && other < at + 1000).length);
  const paid = await db
    .selectFrom('payouts')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('state', '=', 'paid')
    .executeTakeFirstOrThrow();
  check(Number(paid.n) === ids.length, `every session paid once (${paid.n} of ${ids.length})`);
  report({
    name: `throughput at 300 ms, ${concurrency} Lambdas (${throughputIds.length} payouts)`,
    value: round(rate, 1),
    unit: 'payouts/s',
    target: `≥ 90% of ${round(bound, 1)}`,
    met: rate >= 0.9 * bound,
  });
  report({
    name: 'throughput, busiest second',
    value: peak,
    unit: 'payouts/s',
    target: `≤ ${budget} (Stripe budget)`,
    met: peak <= budget,
  });
  await sqsLocal.stop();
}

async function benchBundles(): Promise<void> {
  mkdirSync(resolve('cdk.out'), { recursive: true });
  const out = mkdtempSync(join(resolve('cdk.out'), 'bench-bundles-'));
  for (const name of ['scan', 'transfer']) {
    const outfile = join(out, name, 'index.js');
    // The options NodejsFunction uses in infra/payouts-function.ts.
    const result = await build({
      entryPoints: [resolve(`lambdas/${name}/handler.ts`)],
      bundle: true,
      minify: true,
      sourcemap: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      external: ['@aws-sdk/*'],
      outfile,
      metafile: true,
      logLevel: 'silent',
    });
    writeFileSync(join(out, name, 'package.json'), '{"type":"commonjs"}');
    const bytes =
      Object.values(result.metafile.outputs).find((output) => output.entryPoint)?.bytes ?? 0;
    report({
      name: `${name} bundle, minified`,
      value: round(bytes / 1024 / 1024, 2),
      unit: 'MB',
      target: '≤ 1.5 MB',
      met: bytes <= 1.5 * 1024 * 1024,
    });
    const inits: number[] = [];
    for (let run = 0; run < 5; run += 1) {
      const output = execFileSync(
        process.execPath,
        [
          '-e',
          `const t = performance.now(); const m = require(${JSON.stringify(outfile)}); if (typeof m.handler !== 'function') throw new Error('no handler'); console.log(performance.now() - t);`,
        ],
        {
          env: {
            ...process.env,
            NODE_PATH: resolve('node_modules'),
            DATABASE_URL: 'postgres://bench@127.0.0.1:1/bench',
            STRIPE_SECRET_KEY: 'sk_test_bench',
            PAYOUT_QUEUE_URL: 'http://127.0.0.1:1/000000000000/q',
          },
        },
      );
      inits.push(Number(output.toString().trim()));
    }
    report({
      name: `${name} bundle, import to ready (median of 5)`,
      value: round(percentile(inits, 50), 1),
      unit: 'ms',
      target: '≤ 150 ms',
      met: percentile(inits, 50) <= 150,
    });
  }
}

const started = performance.now();
console.log(
  `payouts benchmark (${quick ? 'quick' : 'full'}) on ${process.platform} ${process.arch}, Node ${process.version}\n`,
);
const postgres = await startLocalPostgres();
const sqsLocal = await startRemoteSqs();
const standIn = await startStripeStandIn();
try {
  const db = createDb(await postgres.createDatabase('bench'), { maxConnections: 12 });
  await migrateToLatest(db);
  await benchScan(db, sqsLocal);
  await benchTransfer(
    db,
    standIn.url,
    (ms) => standIn.setLatency(ms),
    (id) => standIn.setAccount(id, 'active'),
  );
  await benchBundles();
  await db.destroy();
} finally {
  await standIn.close();
  await sqsLocal.stop();
  await postgres.stop();
}
mkdirSync('bench', { recursive: true });
writeFileSync(
  'bench/results.json',
  JSON.stringify(
    {
      mode: quick ? 'quick' : 'full',
      node: process.version,
      measuredAt: new Date().toISOString(),
      sizes: SIZES,
      figures,
    },
    null,
    2,
  ),
);
console.log(
  `\nWritten to bench/results.json in ${round((performance.now() - started) / 1000, 1)} s.`,
);
process.exit(0);
