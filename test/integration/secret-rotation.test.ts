import {
  CreateSecretCommand,
  PutSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { DEMO_ACCOUNTS } from '../../local/demo-data.ts';
import { type MotoServer, startMotoServer } from '../../local/moto-server.ts';
import { type ConnectionSource, createRotatingDb } from '../../shared/db/connect.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import {
  resolveDatabaseConnection,
  resolveStripeKey,
  SECRET_MAX_AGE_SECONDS,
} from '../../shared/secrets.ts';
import { insertMentor, insertSession } from '../helpers/factories.ts';
import { type Pipeline, sqsEvent, startPipeline } from '../helpers/pipeline.ts';
import { createTestDatabase, type TestDatabase } from '../helpers/test-database.ts';

const ROLE = 'payouts_rotating';
const PAST_MAX_AGE_MS = (SECRET_MAX_AGE_SECONDS + 1) * 1000;

/** The secret's value and the copy a Lambda's cache holds, at the source boundary of the database handle. */
function rotatingSecret(url: string, password: string) {
  let stored = password;
  let cached: string | undefined;
  const reads: { refresh: boolean }[] = [];
  const withPassword = (value: string) => {
    const next = new URL(url);
    next.username = ROLE;
    next.password = value;
    return next.toString();
  };
  const source: ConnectionSource = async ({ refresh }) => {
    reads.push({ refresh });
    if (refresh || cached === undefined) cached = stored;
    return withPassword(cached);
  };
  return {
    source,
    reads,
    rotate(value: string) {
      stored = value;
    },
    expireCache() {
      cached = undefined;
    },
  };
}

describe('a rotated database password', () => {
  let database: TestDatabase;
  let admin: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase();
    admin = new pg.Client({ connectionString: database.url });
    admin.on('error', () => {});
    await admin.connect();
    await admin.query(`create role ${ROLE} login password 'first-password'`);
  });
  afterAll(async () => {
    await admin.query(`drop role ${ROLE}`).catch(() => {});
    await admin.end();
    await database.close();
  });

  const rotateRole = (password: string) => admin.query(`alter role ${ROLE} password '${password}'`);
  const backendsOfRole = async () =>
    Number(
      (
        await admin.query<{ n: string }>(
          'select count(*) as n from pg_stat_activity where usename = $1',
          [ROLE],
        )
      ).rows[0]?.n,
    );
  /** A Db over the secret whose pool reports each idle connection it loses. */
  const rotatingDb = (secret: ReturnType<typeof rotatingSecret>) => {
    const lost: Error[] = [];
    const db = createRotatingDb(secret.source, { onPoolError: (error) => lost.push(error) });
    return { db, lost };
  };
  /** Kills the role's connections and waits until the pool has dropped its idle one. */
  const dropRoleConnections = async (lost: Error[]) => {
    const before = lost.length;
    await admin.query('select pg_terminate_backend(pid) from pg_stat_activity where usename = $1', [
      ROLE,
    ]);
    await vi.waitFor(async () => expect(await backendsOfRole()).toBe(0));
    await vi.waitFor(() => expect(lost.length).toBeGreaterThan(before));
  };
  const whoAmI = async (db: ReturnType<typeof createRotatingDb>) =>
    (await sql<{ user: string }>`select current_user as user`.execute(db)).rows[0]?.user;

  it('is read again at once when a new connection is refused for its credentials, and the query succeeds', async () => {
    await rotateRole('first-password');
    const secret = rotatingSecret(database.url, 'first-password');
    const { db, lost } = rotatingDb(secret);
    expect(await whoAmI(db)).toBe(ROLE);

    // RDS rotates the password; the warm Lambda's cache still holds the old one.
    await rotateRole('second-password');
    secret.rotate('second-password');
    await dropRoleConnections(lost);

    expect(await whoAmI(db)).toBe(ROLE);
    expect(secret.reads.filter((read) => read.refresh)).toHaveLength(1);
    await db.destroy();
  });

  it('is followed within the cache’s max age without a refused login, and the old pool is closed', async () => {
    await rotateRole('first-password');
    const secret = rotatingSecret(database.url, 'first-password');
    const { db } = rotatingDb(secret);
    expect(await whoAmI(db)).toBe(ROLE);

    await rotateRole('second-password');
    secret.rotate('second-password');
    secret.expireCache();

    expect(await whoAmI(db)).toBe(ROLE);
    expect(secret.reads.some((read) => read.refresh)).toBe(false);
    // The connection made with the old password goes once it is back in its pool.
    await vi.waitFor(async () => expect(await backendsOfRole()).toBe(1));
    await db.destroy();
  });

  it('still fails, as an authentication error, when the re-read secret is refused too', async () => {
    await rotateRole('first-password');
    const secret = rotatingSecret(database.url, 'first-password');
    const { db, lost } = rotatingDb(secret);
    expect(await whoAmI(db)).toBe(ROLE);

    await rotateRole('third-password');
    await dropRoleConnections(lost);

    await expect(whoAmI(db)).rejects.toMatchObject({ code: '28P01' });
    expect(secret.reads.filter((read) => read.refresh)).toHaveLength(1);
    await db.destroy();
  });
});

describe('secrets read from Secrets Manager', () => {
  let moto: MotoServer;
  let secrets: SecretsManagerClient;
  let pipeline: Pipeline;

  beforeAll(async () => {
    moto = await startMotoServer();
    const aws = {
      AWS_ENDPOINT_URL_SECRETS_MANAGER: moto.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'testing',
      AWS_SECRET_ACCESS_KEY: 'testing',
    };
    for (const [name, value] of Object.entries(aws)) process.env[name] = value;
    secrets = new SecretsManagerClient({ endpoint: moto.endpoint });
    pipeline = await startPipeline();
  });
  afterEach(() => {
    vi.useRealTimers();
  });
  afterAll(async () => {
    await pipeline.stop();
    secrets.destroy();
    await moto.stop();
  });

  const createSecret = async (name: string, value: string) =>
    (await secrets.send(new CreateSecretCommand({ Name: name, SecretString: value }))).ARN ?? '';
  const putSecret = (arn: string, value: string) =>
    secrets.send(new PutSecretValueCommand({ SecretId: arn, SecretString: value }));
  const rdsSecret = (password: string) =>
    JSON.stringify({ host: 'db.internal', port: 5432, username: 'payouts', password, dbname: 'x' });

  it('come from the cache until its max age, then as rotated; a refresh reads them at once', async () => {
    const db = { secretArn: await createSecret('payouts/test/db', rdsSecret('old')) };
    const stripe = { secretArn: await createSecret('payouts/test/stripe', 'sk_test_old') };
    vi.useFakeTimers({ toFake: ['Date'] });
    expect(await resolveDatabaseConnection(db)).toMatchObject({ password: 'old' });
    expect(await resolveStripeKey(stripe)).toBe('sk_test_old');

    await putSecret(db.secretArn, rdsSecret('new'));
    await putSecret(stripe.secretArn, 'sk_test_new');
    expect(await resolveDatabaseConnection(db)).toMatchObject({ password: 'old' });
    expect(await resolveDatabaseConnection(db, { refresh: true })).toMatchObject({
      password: 'new',
    });
    expect(await resolveStripeKey(stripe)).toBe('sk_test_old');

    vi.setSystemTime(Date.now() + PAST_MAX_AGE_MS);
    expect(await resolveStripeKey(stripe)).toBe('sk_test_new');
  });

  it('let a warm transfer Lambda pay with a rolled Stripe key once the cache’s max age has passed', async () => {
    const oldKey = 'sk_test_before_roll_1111';
    const newKey = 'sk_test_after_roll_2222';
    const arn = await createSecret('payouts/test/stripe-roll', oldKey);
    pipeline.stripe.setAccount(DEMO_ACCOUNTS.active, 'active');
    const mentor = await insertMentor(pipeline.database.db, {
      stripeAccountId: DEMO_ACCOUNTS.active,
    });
    const [first, second] = [
      await insertSession(pipeline.database.db, mentor),
      await insertSession(pipeline.database.db, mentor),
    ];
    vi.useFakeTimers({ toFake: ['Date'] });
    await pipeline.coldStart({ STRIPE_SECRET_KEY: '', STRIPE_SECRET_ARN: arn });
    expect(
      (await pipeline.transfer(sqsEvent([payoutMessageBody(first)]))).batchItemFailures,
    ).toEqual([]);

    // The key is rolled in Stripe (the old one expires) and in the secret.
    await putSecret(arn, newKey);
    pipeline.stripe.revokeApiKey(oldKey);
    vi.setSystemTime(Date.now() + PAST_MAX_AGE_MS);
    expect(
      (await pipeline.transfer(sqsEvent([payoutMessageBody(second)]))).batchItemFailures,
    ).toEqual([]);

    const creates = pipeline.stripe
      .requests()
      .filter((request) => request.method === 'POST' && request.status === 200);
    expect(creates.map((request) => request.apiKeyLast4)).toEqual(['1111', '2222']);
    const paid = await sql<{ n: string }>`
      select count(*) as n from sessions where payout_status = 'paid_out'`.execute(
      pipeline.database.db,
    );
    expect(Number(paid.rows[0]?.n)).toBe(2);
  });
});
