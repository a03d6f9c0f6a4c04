import { interceptLocalhostDns } from 'fauxqs';
import { startLocalPostgres } from '../local/local-postgres.ts';
import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import { formatFigureLine } from './figures.ts';
import { type LambdaBundle, REPOSITORY_ROOT, synthesizeBundles } from './lambda-bundles.ts';
import { startRemoteSqs } from './remote-sqs.ts';
import { startStandInProcess } from './stand-in-process.ts';
import { benchTransferThroughput } from './transfer-throughput.ts';

/**
 * One transfer scenario of `npm run bench`, repeated (issue 13: the budget at 0 ms latency and 50
 * consumers): `npx tsx bench/transfer-scenario.ts [runs] [payouts] [latencyMs] [consumers]`.
 * Prints each run's figures; writes nothing.
 */
const [runs, payouts, latencyMs, consumers] = [3, 300, 0, 50].map((fallback, index) => {
  const given = process.argv[2 + index];
  const value = given === undefined ? fallback : Number(given);
  if (!Number.isInteger(value) || value < 0) {
    console.error(
      `Usage: transfer-scenario.ts [runs] [payouts] [latencyMs] [consumers]; got ${given}`,
    );
    process.exit(2);
  }
  return value;
}) as [number, number, number, number];
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
interceptLocalhostDns();

const synthesized = synthesizeBundles(REPOSITORY_ROOT);
const bundle = synthesized.lambdas.find((found) => found.name === 'payouts-transfer');
if (!bundle) throw new Error('No payouts-transfer Lambda in the synthesized stack');
const postgres = await startLocalPostgres({ maxConnections: 250 });
const sqs = await startRemoteSqs();
const standIn = await startStandInProcess();
try {
  const url = await postgres.createDatabase('bench_transfer');
  const db = createDb(url, { maxConnections: 4 });
  await migrateToLatest(db);
  await db
    .insertInto('mentors')
    .values(
      Array.from({ length: 200 }, (_, index) => ({
        id: crypto.randomUUID(),
        stripe_account_id: `acct_bench_${index}`,
      })),
    )
    .execute();
  const budget = synthesized.prod.transfer.stripeBudget;
  for (let run = 1; run <= runs; run += 1) {
    const { figures } = await benchTransferThroughput({
      db,
      standIn,
      queue: sqs.transferQueue,
      bundle,
      env: localEnvironment(bundle, {
        DATABASE_URL: url,
        STRIPE_SECRET_KEY: 'sk_test_bench',
        STRIPE_API_BASE: standIn.url,
        PAYOUT_QUEUE_URL: sqs.transferQueue.queueUrl,
        AWS_ENDPOINT_URL_SQS: sqs.endpoint,
        STRIPE_CREATES_PER_SECOND: String(budget.createsPerSecond),
        STRIPE_READS_PER_SECOND: String(budget.readsPerSecond),
      }),
      createsPerSecond: budget.createsPerSecond,
      latenciesMs: [latencyMs],
      consumers: [consumers],
      payoutsPerRun: payouts,
      costRun: { latencyMs, consumers },
    });
    console.log(`\nrun ${run} of ${runs}`);
    for (const figure of figures) {
      console.log(formatFigureLine(figure));
      if (figure.met === false && figure.note) console.log(`    ${figure.note}`);
    }
  }
  await db.destroy();
} finally {
  await standIn.stop();
  await sqs.stop();
  await postgres.stop();
  synthesized.remove();
}
process.exit(0);

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
