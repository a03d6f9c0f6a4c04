import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { interceptLocalhostDns } from 'fauxqs';
import { startLocalPostgres } from '../local/local-postgres.ts';
import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import { SECRET_MAX_AGE_SECONDS } from '../shared/secrets.ts';
import { PRICE_LIST } from './aws-prices.ts';
import { awsSdkClientsOf, importToReadyMs, medianOfRounds, requireOnlyMs } from './cold-start.ts';
import { COST_ASSUMPTIONS, costFigures } from './cost.ts';
import {
  type BenchResults,
  type Figure,
  formatFigureLine,
  round,
  secondaryFigure,
  targetFigure,
} from './figures.ts';
import { type LambdaBundle, REPOSITORY_ROOT, synthesizeBundles } from './lambda-bundles.ts';
import { startRemoteSqs } from './remote-sqs.ts';
import { benchScan } from './scan-bench.ts';
import { startStandInProcess } from './stand-in-process.ts';
import { benchTransferOverhead } from './transfer-overhead.ts';
import { benchTransferThroughput, captureOutput } from './transfer-throughput.ts';

/**
 * `npm run bench [-- --quick]`: every figure against its target, written to bench/results.json
 * (the README's Performance section is rendered from it by `npm run bench:readme`). Targets are
 * ratios to a ceiling measured in the same run; correctness is asserted, time never is.
 */
const quick = process.argv.includes('--quick');
// Node 20 is the local runtime by decision (the Lambdas run on nodejs22.x).
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
// The transfer bundles run in this process and send to fauxqs's sqs.<region>.localhost URLs.
interceptLocalhostDns();
const SIZES = quick
  ? {
      scanEligibleSmaller: 10_000,
      scanEligibleLarger: 100_000,
      naiveBaselineSample: 1_000,
      payoutsPerTransferRun: 150,
      payoutsForOverhead: 300,
      coldStartRepetitions: 5,
    }
  : {
      scanEligibleSmaller: 100_000,
      scanEligibleLarger: 1_000_000,
      naiveBaselineSample: 5_000,
      payoutsPerTransferRun: 600,
      payoutsForOverhead: 2_000,
      coldStartRepetitions: 9,
    };
const LATENCIES_MS = [0, 100, 300];
const CONSUMERS = [10, 50];
const COLD_START_TARGET = 1.5;

const figures: Figure[] = [];
const report = (...more: Figure[]) => {
  for (const figure of more) {
    figures.push(figure);
    console.log(formatFigureLine(figure));
  }
};
const section = (title: string) => console.log(`\n${title}`);

/** What every bundle runs with locally: the stand-ins' addresses instead of AWS's and Stripe's. */
function localEnvironment(bundle: LambdaBundle, local: Record<string, string>) {
  const { NODE_EXTRA_CA_CERTS: _lambdaOnly, ...fromStack } = bundle.environment;
  return {
    ...fromStack,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'bench',
    AWS_SECRET_ACCESS_KEY: 'bench',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...local,
  };
}

const started = performance.now();
console.log(
  `payouts benchmark (${quick ? 'quick: smaller sizes' : 'full'}), ${cpus().length} cores, Node ${process.version}`,
);
console.log(`sizes: ${JSON.stringify(SIZES)}`);

section('Synthesizing prod’s stack (the Lambdas bundled as cdk deploy bundles them)…');
const synthesized = synthesizeBundles(REPOSITORY_ROOT);
const byName = (name: string) => {
  const found = synthesized.lambdas.find((bundle) => bundle.name === name);
  if (!found) throw new Error(`No ${name} Lambda in the synthesized stack`);
  return found;
};
const transferBundle = byName('payouts-transfer');
const scanBundle = byName('payouts-scan');

try {
  section('Cold start: import to ready, fresh Node process each time, median');
  const importEnv = {
    ...process.env,
    DATABASE_URL: 'postgres://bench@127.0.0.1:1/bench',
    STRIPE_SECRET_KEY: 'sk_test_bench',
    PAYOUT_QUEUE_URL: 'http://127.0.0.1:1/000000000000/bench',
  };
  const sdkClients = new Map(
    synthesized.lambdas.map((bundle) => [
      bundle.name,
      awsSdkClientsOf(readFileSync(bundle.file, 'utf8')),
    ]),
  );
  const measurements = new Map<string, () => number>([
    ['baseline', () => importToReadyMs(synthesized.baseline, importEnv)],
    ...synthesized.lambdas.flatMap((bundle): [string, () => number][] => [
      [bundle.name, () => importToReadyMs(bundle, importEnv)],
      [
        `${bundle.name} sdk`,
        () => requireOnlyMs(sdkClients.get(bundle.name) ?? [], REPOSITORY_ROOT, importEnv),
      ],
    ]),
  ]);
  const medians = medianOfRounds(measurements, SIZES.coldStartRepetitions);
  const baselineMs = medians.get('baseline') ?? Number.NaN;
  report(
    secondaryFigure(
      'cold start, minimal Powertools SQS handler (Logger + BatchProcessor)',
      round(baselineMs, 1),
      'ms',
    ),
  );
  for (const bundle of synthesized.lambdas) {
    const ms = medians.get(bundle.name) ?? Number.NaN;
    const sdkMs = medians.get(`${bundle.name} sdk`) ?? 0;
    const clients = sdkClients.get(bundle.name) ?? [];
    report(
      targetFigure(
        `cold start ${bundle.name} / minimal handler`,
        round(ms / baselineMs, 1),
        '×',
        { text: `≤ ${COLD_START_TARGET}×`, met: (value) => value <= COLD_START_TARGET },
        `${round(ms, 0)} ms against ${round(baselineMs, 0)} ms; requiring only the AWS SDK clients it needs from the runtime (${clients.join(', ')}) takes ${round(sdkMs, 0)} ms, ${round(sdkMs / baselineMs, 1)}× the minimal handler, before any code of ours (the Stripe SDK, pg, kysely, zod) loads`,
      ),
      secondaryFigure(`cold start ${bundle.name}`, round(ms, 1), 'ms'),
      secondaryFigure(
        `bundle size ${bundle.name}, minified`,
        round(statSync(bundle.file).size / 2 ** 20, 2),
        'MB',
      ),
    );
  }

  const postgres = await startLocalPostgres({ maxConnections: 250 });
  const sqs = await startRemoteSqs();
  const standIn = await startStandInProcess();
  try {
    section(
      `Scan: ${SIZES.scanEligibleSmaller} and ${SIZES.scanEligibleLarger} eligible sessions, the bundle in a fresh process each time`,
    );
    const scanUrl = await postgres.createDatabase('bench_scan');
    const scanDb = createDb(scanUrl, { maxConnections: 4 });
    await migrateToLatest(scanDb);
    const scan = await benchScan(
      {
        db: scanDb,
        queue: sqs.scanQueue,
        bundle: scanBundle,
        env: localEnvironment(scanBundle, {
          DATABASE_URL: scanUrl,
          PAYOUT_QUEUE_URL: sqs.scanQueue.queueUrl,
          AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        }),
        smaller: SIZES.scanEligibleSmaller,
        larger: SIZES.scanEligibleLarger,
        baselineSample: SIZES.naiveBaselineSample,
      },
      (line) => console.log(line),
    );
    report(...scan.figures);
    await scanDb.destroy();

    const transferUrl = await postgres.createDatabase('bench_transfer');
    const transferDb = createDb(transferUrl, { maxConnections: 4 });
    await migrateToLatest(transferDb);
    await transferDb
      .insertInto('mentors')
      .values(
        Array.from({ length: 200 }, (_, index) => ({
          id: crypto.randomUUID(),
          stripe_account_id: `acct_bench_${index}`,
        })),
      )
      .execute();
    section(
      `Transfer overhead: paySession in this process, ${SIZES.payoutsForOverhead} payouts one at a time, Stripe answering at once`,
    );
    report(
      ...(await benchTransferOverhead({
        db: transferDb,
        standIn,
        payouts: SIZES.payoutsForOverhead,
      })),
    );

    section(
      `Transfer throughput: the transfer bundle, ${SIZES.payoutsPerTransferRun} payouts per run, Stripe enforcing 25/s per endpoint`,
    );
    const budget = synthesized.prod.transfer.stripeBudget;
    const costRun = { latencyMs: 300, consumers: synthesized.prod.transfer.maxConcurrency };
    const transfer = await benchTransferThroughput({
      db: transferDb,
      standIn,
      queue: sqs.transferQueue,
      bundle: transferBundle,
      env: localEnvironment(transferBundle, {
        DATABASE_URL: transferUrl,
        STRIPE_SECRET_KEY: 'sk_test_bench',
        STRIPE_API_BASE: standIn.url,
        PAYOUT_QUEUE_URL: sqs.transferQueue.queueUrl,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        STRIPE_CREATES_PER_SECOND: String(budget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(budget.readsPerSecond),
      }),
      createsPerSecond: budget.createsPerSecond,
      latenciesMs: LATENCIES_MS,
      consumers: CONSUMERS,
      payoutsPerRun: SIZES.payoutsPerTransferRun,
      costRun,
    });
    report(...transfer.figures);
    await transferDb.destroy();

    section('Cost of 1 000 000 payouts (README: Performance → Cost)');
    report(
      secondaryFigure(
        `transfer Lambda billed time per payout (${costRun.latencyMs} ms, ${costRun.consumers} consumers)`,
        round(transfer.cost.billedMsPerPayout, 0),
        `ms at ${transferBundle.memoryMb} MB`,
      ),
      secondaryFigure(
        'transfer log and metric bytes per payout (INFO)',
        round(transfer.cost.logBytesPerPayout, 0),
        'bytes',
      ),
      ...costFigures({
        transfer: {
          memoryMb: transferBundle.memoryMb,
          billedMsPerPayout: transfer.cost.billedMsPerPayout,
          invocationsPerPayout: transfer.cost.invocationsPerPayout,
          logBytesPerPayout: transfer.cost.logBytesPerPayout,
          handBacksPerPayout: transfer.cost.handBacksPerPayout,
          payoutsPerSecond: transfer.cost.payoutsPerSecond,
          concurrency: costRun.consumers,
          logRetentionMonths: Math.round(synthesized.prod.logRetention / 30.4),
        },
        scan: { memoryMb: scanBundle.memoryMb, billedMsPerSession: scan.cost.billedMsPerSession },
        secretMaxAgeSeconds: SECRET_MAX_AGE_SECONDS,
      }),
    );
  } finally {
    // The transfer Lambdas' pools log the connections the server's stop closes: not news here.
    const output = captureOutput();
    try {
      await standIn.stop();
      await sqs.stop();
      await postgres.stop();
    } finally {
      output.stop();
    }
  }
} finally {
  synthesized.remove();
}

const results: BenchResults = {
  mode: quick ? 'quick' : 'full',
  measuredAt: new Date().toISOString(),
  machine: `${cpus().length} cores (shared), ${round(totalmem() / 2 ** 30, 0)} GiB`,
  node: process.version,
  sizes: SIZES,
  figures,
  prices: PRICE_LIST,
  costAssumptions: COST_ASSUMPTIONS,
};
writeFileSync(join(REPOSITORY_ROOT, 'bench/results.json'), `${JSON.stringify(results, null, 2)}\n`);
const missed = figures.filter((figure) => figure.met === false);
console.log(
  `\n${figures.filter((figure) => figure.met === true).length} targets met, ${missed.length} missed${missed.length ? `: ${missed.map((figure) => figure.name).join('; ')}` : ''}.`,
);
console.log(
  `Written to bench/results.json in ${round((performance.now() - started) / 1000, 0)} s; \`npm run bench:readme\` renders the README's Performance section from it.`,
);
process.exit(0);
