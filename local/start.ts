import { mkdir, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { createDb } from '../shared/db/connect.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import { findAllAttempts } from '../shared/db/payout-attempts.repository.ts';
import { LOCAL_ENV_FILE } from '../tools/cli-environment.ts';
import { DEMO_ACCOUNTS, seedDemoData } from './demo-data.ts';
import { lambdaContext, scheduledEvent } from './lambda-events.ts';
import { drainQueue } from './lambda-poller.ts';
import { startLocalPostgres } from './local-postgres.ts';
import { startLocalSqs } from './local-sqs.ts';
import { localPipelineEnv } from './pipeline-env.ts';
import { receiveAll } from './queue-peek.ts';
import { startStripeStandIn } from './stripe-stand-in/stripe-stand-in.ts';

/**
 * `npm start`: the daily job end to end on embedded defaults. A throw-away Postgres with the demo
 * marketplace, fauxqs as SQS, the Stripe stand-in; then the real scan and transfer handlers.
 */
const started = Date.now();
process.env.POWERTOOLS_LOG_LEVEL ??= 'ERROR';
// EMF metric lines are for CloudWatch; locally they would only bury the report.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
// Node 20 is this project's local runtime by decision; the Lambdas themselves run on nodejs22.x.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const postgres = await startLocalPostgres();
const sqs = await startLocalSqs();
const stripe = await startStripeStandIn();
try {
  const databaseUrl = await postgres.createDatabase('payouts');
  const db = createDb(databaseUrl);
  await migrateToLatest(db);
  await seedDemoData(db, new Date());
  stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
  stripe.setAccount(DEMO_ACCOUNTS.restricted, 'restricted');
  Object.assign(
    process.env,
    localPipelineEnv({
      databaseUrl,
      queueUrl: sqs.queueUrl,
      stripeApiBase: stripe.url,
    }),
  );

  const scan = await import('../lambdas/scan/handler.ts');
  const transfer = await import('../lambdas/transfer/handler.ts');
  const summary = await scan.handler(scheduledEvent(), lambdaContext('payouts-scan'));
  console.log(`Scan: enqueued ${summary.enqueued} eligible sessions in ${summary.pages} page(s).`);
  console.log('Adding one malformed message, as a misbehaving producer might.');
  await sqs.sqs.send(
    new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: '{"session":42}' }),
  );
  const report = await drainQueue({
    sqs: sqs.sqs,
    queueUrl: sqs.queueUrl,
    queueArn: sqs.queueArn,
    handler: transfer.handler,
  });
  console.log(
    `Transfer: ${report.invocations} invocation(s), ${report.acknowledged} message(s) acknowledged.\n`,
  );

  const attempts = await findAllAttempts(db);
  const paid = attempts.filter((attempt) => attempt.outcome === 'paid');
  const failed = attempts.filter((attempt) => attempt.outcome === 'failed');
  const skipped = attempts.filter((attempt) => attempt.outcome === 'skipped');

  console.log(`Paid (${paid.length}):`);
  console.table(
    paid.map((attempt) => ({
      session: attempt.session_id,
      amount: attempt.amount,
      currency: attempt.currency,
      transfer: attempt.stripe_transfer_id,
    })),
  );
  console.log(`Failed, held for admin review (${failed.length}):`);
  console.table(
    failed.map((attempt) => ({
      session: attempt.session_id,
      code: attempt.error_code,
      message: attempt.error_message,
    })),
  );
  console.log(`Not payable (${skipped.length}):`);
  console.table(
    skipped.map((attempt) => ({ session: attempt.session_id, code: attempt.error_code })),
  );
  const deadLetters = await receiveAll(sqs.sqs, sqs.dlqUrl, { release: true });
  console.log(`Dead-lettered (${deadLetters.length}):`);
  console.table(
    deadLetters.map((message) => ({ messageId: message.messageId, body: message.body })),
  );
  console.log(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  await db.destroy();
  if (process.argv.includes('--keep')) await keepRunning(databaseUrl);
} finally {
  await Promise.allSettled([stripe.close(), sqs.stop()]);
  await postgres.stop();
}
// The handlers keep their cold-start clients (pg pool, SQS) open, as in Lambda.
process.exit(0);

/** `npm start -- --keep`: leaves the stand-ins up for `payouts --env local …` until Ctrl-C. */
async function keepRunning(databaseUrl: string): Promise<void> {
  const variables = localPipelineEnv({
    databaseUrl,
    queueUrl: sqs.queueUrl,
    dlqUrl: sqs.dlqUrl,
    stripeApiBase: stripe.url,
    // The CLI runs in another process, which does not resolve fauxqs's host names.
    sqsEndpoint: sqs.endpoint,
  });
  await mkdir(dirname(LOCAL_ENV_FILE), { recursive: true });
  await writeFile(LOCAL_ENV_FILE, JSON.stringify(variables, null, 2));
  console.log(`\nKept running; try: npm run payouts -- --env local status   (Ctrl-C stops it)`);
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await rm(LOCAL_ENV_FILE, { force: true });
}
