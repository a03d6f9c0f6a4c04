import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_ACCOUNTS, seedDemoData } from '../../local/demo-data.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import { insertMentor, insertSession } from '../helpers/factories.ts';
import { captureLogs } from '../helpers/log-capture.ts';
import { type Pipeline, sqsEvent, startPipeline } from '../helpers/pipeline.ts';

const DB_PASSWORD = 'pw_CANARY_db_7f3a9c';
const STRIPE_KEY = 'sk_test_CANARYstripe4b8e21';

describe('secrets', () => {
  let pipeline: Pipeline;

  beforeAll(async () => {
    pipeline = await startPipeline();
    // A login of the handlers' own roles (scan, transfer, stripe-events), with a canary password.
    // Roles are the cluster's, seen by every test file: named as logins are (`*_login`), so the
    // roles test, which lists the group roles, does not count it, and dropped afterwards.
    await sql`create role payouts_canary_login login password ${sql.lit(DB_PASSWORD)}
      in role payouts_scan, payouts_transfer, payouts_stripe_events`.execute(pipeline.database.db);
  });
  afterAll(async () => {
    await sql`drop owned by payouts_canary_login`.execute(pipeline.database.db);
    await sql`drop role payouts_canary_login`.execute(pipeline.database.db);
    await pipeline.stop();
  });

  it('appear in no log line, error message, attempt row or dead letter, whatever happens', async () => {
    const url = new URL(pipeline.database.url);
    url.username = 'payouts_canary_login';
    url.password = DB_PASSWORD;
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.restricted, 'restricted');
    await seedDemoData(pipeline.database.db, new Date());
    const logs = captureLogs();
    const errors: string[] = [];
    const failures: { batchItemFailures: unknown[] }[] = [];
    const remember = (error: unknown) => {
      errors.push(
        error instanceof Error
          ? `${error.name}: ${error.message} ${String(error.cause ?? '')}`
          : String(error),
      );
    };

    try {
      await pipeline.coldStart({
        DATABASE_URL: url.toString(),
        STRIPE_SECRET_KEY: STRIPE_KEY,
        POWERTOOLS_LOG_LEVEL: 'DEBUG',
      });
      pipeline.stripe.failNext(2, 500);
      await pipeline.scan();
      await pipeline.enqueue('not json at all');
      await pipeline.drain();
      const extra = await insertSession(
        pipeline.database.db,
        await insertMentor(pipeline.database.db, { stripeAccountId: DEMO_ACCOUNTS.active }),
      );
      // Stripe unreachable and the database unreachable: failed records, logged with their errors.
      const stripeDown = { STRIPE_API_BASE: 'http://127.0.0.1:1' };
      await pipeline.coldStart({
        DATABASE_URL: url.toString(),
        STRIPE_SECRET_KEY: STRIPE_KEY,
        ...stripeDown,
      });
      failures.push(await pipeline.transfer(sqsEvent([payoutMessageBody(extra)])));
      const databaseDown = url.toString().replace(/@127\.0\.0\.1:\d+/, '@127.0.0.1:1');
      await pipeline.coldStart({ DATABASE_URL: databaseDown, STRIPE_SECRET_KEY: STRIPE_KEY });
      failures.push(await pipeline.transfer(sqsEvent([payoutMessageBody(extra)])));
      // A malformed key fails the invocation at start, naming the variable, not its value.
      await pipeline.coldStart({
        DATABASE_URL: url.toString(),
        STRIPE_SECRET_KEY: `${STRIPE_KEY}!`,
      });
      await pipeline.transfer(sqsEvent([payoutMessageBody(extra)])).catch(remember);
    } finally {
      logs.stop();
    }

    const attempts = await pipeline.database.db.selectFrom('payout_attempts').selectAll().execute();
    const deadLetters = await pipeline.deadLetters();
    const everything = [...logs.raw, ...errors, JSON.stringify(attempts), ...deadLetters].join(
      '\n',
    );
    expect(logs.lines.length).toBeGreaterThan(10);
    expect(errors).toEqual([
      'ConfigError: Invalid configuration: STRIPE_SECRET_KEY must be a Stripe secret key ',
    ]);
    expect(failures.map((response) => response.batchItemFailures.length)).toEqual([1, 1]);
    expect(attempts.some((attempt) => attempt.outcome === 'paid')).toBe(true);
    expect(everything).not.toContain(DB_PASSWORD);
    expect(everything).not.toContain(STRIPE_KEY);
    expect(everything).not.toContain('CANARYstripe');
  }, 60_000);
});
