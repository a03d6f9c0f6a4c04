import { execFile } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { type Kysely, sql } from 'kysely';
import type { Database } from '../shared/db/database.ts';
import { eligibleSessionPageQuery } from '../shared/db/sessions.repository.ts';
import { eligibilityCutoff } from '../shared/payout-policy.ts';
import { payoutMessageBody } from '../shared/payout-queue.ts';
import { median } from './cold-start.ts';
import { type Figure, round, secondaryFigure, targetFigure } from './figures.ts';
import type { LambdaBundle } from './lambda-bundles.ts';
import { type BenchQueue, LOCALHOST_DNS_PRELOAD } from './remote-sqs.ts';

const run = promisify(execFile);

/** The scan's own send concurrency (lambdas/scan/scan-deps.ts): the ceiling loop uses the same. */
const SEND_CONCURRENCY = 10;
/** Rounds of the throughput measurement (an odd number: the median is one of them). */
const SCAN_ROUNDS = 3;

export interface ScanBenchOptions {
  db: Kysely<Database>;
  queue: BenchQueue;
  bundle: LambdaBundle;
  env: Record<string, string>;
  /** Eligible sessions of the first and the second memory measurement. */
  smaller: number;
  larger: number;
  baselineSample: number;
}

export interface ScanCostMeasure {
  billedMsPerSession: number;
}

/** One invocation of the scan bundle in a fresh Node process, as a Lambda cold start runs it. */
const SCAN_ONCE = `
const { handler } = require(process.argv[1]);
const context = { functionName: 'payouts-scan', awsRequestId: 'bench', getRemainingTimeInMillis: () => 900000 };
const start = performance.now();
handler({}, context).then((summary) => {
  const ms = performance.now() - start;
  process.stdout.write('\\nBENCH_RESULT ' + JSON.stringify({ summary, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\\n');
  process.exit(0);
});
`;

/** The queue's own ceiling: a bare SendMessageBatch loop, nothing else, in a fresh process. */
const SEND_CEILING = `
const { SQSClient, SendMessageBatchCommand } = require('@aws-sdk/client-sqs');
const [queueUrl, total, concurrency] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const sqs = new SQSClient({ maxAttempts: 3 });
let next = 0;
async function worker() {
  while (next < total) {
    const size = Math.min(10, total - next);
    next += size;
    const entries = Array.from({ length: size }, (_, i) => ({ Id: String(i), MessageBody: JSON.stringify({ sessionId: crypto.randomUUID() }) }));
    const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: entries }));
    if (out.Failed && out.Failed.length > 0) throw new Error('SendMessageBatch refused entries');
  }
}
const start = performance.now();
Promise.all(Array.from({ length: concurrency }, worker)).then(() => {
  process.stdout.write(JSON.stringify({ ms: performance.now() - start }));
});
`;

interface ScanRun {
  summary: { enqueued: number };
  ms: number;
  maxRssKb: number;
}

async function runScan(options: ScanBenchOptions): Promise<ScanRun> {
  const { stdout } = await run(
    process.execPath,
    ['--require', LOCALHOST_DNS_PRELOAD, '-e', SCAN_ONCE, options.bundle.file],
    {
      env: { ...process.env, ...options.env },
      maxBuffer: 1 << 26,
    },
  );
  // The scan logs to stdout too (as in Lambda); its result is the marked line.
  const line = stdout.split('\n').find((each) => each.startsWith('BENCH_RESULT '));
  if (!line) throw new Error(`The scan printed no result:\n${stdout.slice(-2000)}`);
  return JSON.parse(line.slice('BENCH_RESULT '.length)) as ScanRun;
}

async function sendCeiling(options: ScanBenchOptions, messages: number): Promise<number> {
  const { stdout } = await run(
    process.execPath,
    [
      '--require',
      LOCALHOST_DNS_PRELOAD,
      '-e',
      SEND_CEILING,
      options.queue.queueUrl,
      String(messages),
      String(SEND_CONCURRENCY),
    ],
    { env: { ...process.env, ...options.env } },
  );
  const { ms } = JSON.parse(stdout) as { ms: number };
  await options.queue.purge();
  return messages / (ms / 1000);
}

export async function benchScan(
  options: ScanBenchOptions,
  progress: (line: string) => void,
): Promise<{ figures: Figure[]; cost: ScanCostMeasure }> {
  const { db, queue } = options;
  const now = new Date();
  const figures: Figure[] = [];
  const seedStart = performance.now();
  await seedSessions(db, now, options.smaller, { withOthers: true });
  progress(
    `  seeded ${options.smaller} eligible sessions and ${options.smaller} others in ${round((performance.now() - seedStart) / 1000, 1)} s`,
  );

  // The scan's own page query, first page and one deep in the walk: the partial index, no seq scan.
  const cutoff = eligibilityCutoff(now, 24);
  const deep = {
    endTime: new Date(now.getTime() - 15 * 86_400_000).toISOString(),
    id: '00000000-0000-0000-0000-000000000000',
  };
  const plans = await Promise.all(
    [undefined, deep].map(async (after) =>
      (await eligibleSessionPageQuery(db, { cutoff, after, limit: 1000 }).explain())
        .map((row) => String(row['QUERY PLAN']))
        .join('\n'),
    ),
  );
  const indexOnly = plans.every(
    (plan) => plan.includes('sessions_payout_eligible_idx') && !plan.includes('Seq Scan'),
  );
  figures.push(
    targetFigure(
      'scan page query uses sessions_payout_eligible_idx (first and a later page)',
      indexOnly ? 1 : 0,
      'yes = 1',
      { text: 'the index, no seq scan', met: (value) => value === 1 },
      plans[1]?.split('\n')[0],
    ),
  );

  // Throughput against the queue's ceiling: rounds of (ceiling, scan, ceiling), each scan taken
  // against the higher of the ceilings either side of it; the median of the rounds' ratios, so a
  // busy moment of the shared machine falls on one round, not on the figure.
  const rounds: { scanRate: number; ceiling: number }[] = [];
  let smallRun: ScanRun | undefined;
  let ceilingBefore = await sendCeiling(options, options.smaller);
  for (let index = 0; index < SCAN_ROUNDS; index += 1) {
    const run = await runScan(options);
    if (index === 0) await expectEachEnqueuedOnce(options, run, options.smaller);
    else await expectEnqueued(options, run, options.smaller);
    smallRun ??= run;
    const ceilingAfter = await sendCeiling(options, options.smaller);
    rounds.push({
      scanRate: options.smaller / (run.ms / 1000),
      ceiling: Math.max(ceilingBefore, ceilingAfter),
    });
    ceilingBefore = ceilingAfter;
  }
  if (!smallRun) throw new Error('No scan ran');
  const ratios = rounds.map((each) => each.scanRate / each.ceiling);
  const middle = rounds[ratios.indexOf(median(ratios))] ?? { scanRate: 0, ceiling: 1 };
  const scanRate = middle.scanRate;
  figures.push(
    targetFigure(
      `scan throughput / the queue's ceiling (${options.smaller} eligible, median of ${SCAN_ROUNDS} rounds)`,
      round(median(ratios), 2),
      '×',
      { text: '≥ 0.8', met: (value) => value >= 0.8 },
      `rounds: ${rounds.map((each) => `${round(each.scanRate, 0)} / ${round(each.ceiling, 0)}`).join(', ')} (scan rows/s / bare SendMessageBatch loop messages/s)`,
    ),
    secondaryFigure('scan throughput (median round)', round(scanRate, 0), 'rows/s'),
    secondaryFigure(
      `queue ceiling: bare SendMessageBatch ×${SEND_CONCURRENCY} concurrent (median round)`,
      round(middle.ceiling, 0),
      'messages/s',
    ),
  );

  const naiveRate = await naiveBaseline(options, now);
  figures.push(
    secondaryFigure(
      `naive baseline (SELECT all, one SendMessage each; ${options.baselineSample}-row sample)`,
      round(naiveRate, 0),
      'rows/s',
    ),
    secondaryFigure('scan speed-up over the naive baseline', round(scanRate / naiveRate, 1), '×'),
  );

  // Memory: the same bundle at the larger size.
  const more = options.larger - options.smaller;
  const moreStart = performance.now();
  await seedSessions(db, now, more, { withOthers: false });
  progress(
    `  seeded ${more} more eligible sessions in ${round((performance.now() - moreStart) / 1000, 1)} s`,
  );
  const largeRun = await runScan(options);
  if (largeRun.summary.enqueued !== options.larger || (await queue.depth()) !== options.larger) {
    throw new Error(
      `Correctness check failed: scan enqueued ${largeRun.summary.enqueued} of ${options.larger}`,
    );
  }
  await queue.purge();
  const mb = (kb: number) => round(kb / 1024, 1);
  figures.push(
    secondaryFigure(
      `scan peak RSS, ${options.smaller} eligible`,
      mb(smallRun.maxRssKb),
      `MB (of ${options.bundle.memoryMb})`,
    ),
    secondaryFigure(
      `scan peak RSS, ${options.larger} eligible`,
      mb(largeRun.maxRssKb),
      `MB (of ${options.bundle.memoryMb})`,
    ),
    targetFigure(
      `scan peak RSS ratio, ${options.larger} / ${options.smaller} eligible`,
      round(largeRun.maxRssKb / smallRun.maxRssKb, 2),
      '×',
      { text: '≤ 1.2 (flat)', met: (value) => value <= 1.2 },
    ),
    secondaryFigure(
      `scan of ${options.larger} eligible, one invocation`,
      round(largeRun.ms / 1000, 1),
      `s (timeout ${options.bundle.timeoutSeconds} s)`,
    ),
  );
  return {
    figures,
    cost: { billedMsPerSession: Math.ceil(largeRun.ms) / options.larger },
  };
}

/** As many messages as eligible sessions, then the queue emptied. */
async function expectEnqueued(options: ScanBenchOptions, scan: ScanRun, count: number) {
  const depth = await options.queue.depth();
  await options.queue.purge();
  if (scan.summary.enqueued !== count || depth !== count) {
    throw new Error(
      `Correctness check failed: scan enqueued ${scan.summary.enqueued}, queue held ${depth}, of ${count}`,
    );
  }
}

/** Every eligible id received exactly once, then the queue emptied. */
async function expectEachEnqueuedOnce(options: ScanBenchOptions, scan: ScanRun, count: number) {
  const ids: string[] = [];
  for (;;) {
    const batches = await Promise.all(
      Array.from({ length: 8 }, () =>
        options.queue.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: options.queue.queueUrl,
            MaxNumberOfMessages: 10,
            VisibilityTimeout: 600,
          }),
        ),
      ),
    );
    const messages = batches.flatMap((batch) => batch.Messages ?? []);
    if (messages.length === 0) break;
    for (const message of messages) {
      ids.push((JSON.parse(message.Body ?? '{}') as { sessionId: string }).sessionId);
    }
  }
  await options.queue.purge();
  if (scan.summary.enqueued !== count || ids.length !== count || new Set(ids).size !== count) {
    throw new Error(
      `Correctness check failed: scan enqueued ${scan.summary.enqueued}, received ${ids.length} (${new Set(ids).size} distinct) of ${count}`,
    );
  }
}

/** One SELECT of every eligible row, one SendMessage per row: what the scan's batching replaces. */
async function naiveBaseline(options: ScanBenchOptions, now: Date): Promise<number> {
  const cutoff = eligibilityCutoff(now, 24);
  const start = performance.now();
  const all = await sql<{ id: string }>`select id from sessions
    where status = 'confirmed' and payout_status = 'pending' and session_end_time < ${cutoff}`.execute(
    options.db,
  );
  for (const row of all.rows.slice(0, options.baselineSample)) {
    await options.queue.sqs.send(
      new SendMessageCommand({
        QueueUrl: options.queue.queueUrl,
        MessageBody: payoutMessageBody(row.id),
      }),
    );
  }
  const rate = options.baselineSample / ((performance.now() - start) / 1000);
  await options.queue.purge();
  return rate;
}

/**
 * Eligible sessions generated in SQL, ended 2 to 30 days ago on the hour (many ties in the keyset
 * order); with `withOthers`, as many sessions the scan must pass over (cancelled, paid, recent).
 */
async function seedSessions(
  db: Kysely<Database>,
  now: Date,
  eligible: number,
  { withOthers }: { withOthers: boolean },
): Promise<void> {
  const mentors = await db
    .selectFrom('mentors')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  if (Number(mentors.n) === 0) {
    await sql`insert into mentors (id, stripe_account_id)
      select gen_random_uuid(), 'acct_bench_' || g from generate_series(1, 1000) g`.execute(db);
  }
  await sql`
    with m as (select id, row_number() over (order by id) as n from mentors)
    insert into sessions (id, mentor_id, status, session_end_time, price_amount, refunded_amount, currency, stripe_charge_id, payout_status)
    select gen_random_uuid(), m.id, 'confirmed',
      ${now}::timestamptz - interval '2 days' - (g % 700) * interval '1 hour',
      1000 + (g % 50000), 0, (array['usd','eur','jpy'])[1 + g % 3], null, 'pending'
    from generate_series(1, ${eligible}) g join m on m.n = 1 + g % 1000`.execute(db);
  if (withOthers) {
    await sql`
      with m as (select id, row_number() over (order by id) as n from mentors)
      insert into sessions (id, mentor_id, status, session_end_time, price_amount, refunded_amount, currency, stripe_charge_id, payout_status)
      select gen_random_uuid(), m.id,
        case when g % 3 = 0 then 'cancelled' else 'confirmed' end,
        ${now}::timestamptz - (case when g % 3 = 2 then 1 else 72 end) * interval '1 hour',
        1000, 0, 'usd', null, case when g % 3 = 1 then 'paid_out' else 'pending' end
      from generate_series(1, ${eligible}) g join m on m.n = 1 + g % 1000`.execute(db);
  }
  await sql`analyze sessions`.execute(db);
}
