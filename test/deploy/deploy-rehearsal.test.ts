import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { DescribeEventBusCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import {
  CreateSecretCommand,
  GetSecretValueCommand,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ENVIRONMENTS, type EnvironmentName } from '../../infra/environments.ts';
import { DEMO_SESSIONS } from '../../local/demo-data.ts';
import { startMotoServer } from '../../local/moto-server.ts';
import { createDb } from '../../shared/db/connect.ts';
import { DATABASE_ROLES } from '../../shared/db/database-roles.ts';
import { setPaused } from '../../shared/db/payout-controls.repository.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import { MAX_RECEIVE_COUNT } from '../../shared/runtime-limits.ts';
import { STACK_OUTPUT_VARIABLES } from '../../tools/cli-environment.ts';
import {
  clientConfig,
  type DeployedEnvironment,
  type DeployRehearsal,
  NOT_CREATED_BY_MOTO,
  REHEARSAL_STRIPE_KEY,
  stackResources,
  startDeployRehearsal,
  unexpectedGaps,
} from '../../tools/deploy-rehearsal.ts';

async function eventBusExists(deployed: DeployedEnvironment, name: string): Promise<boolean> {
  const events = new EventBridgeClient(clientConfig(deployed.awsEnv));
  try {
    return (await events.send(new DescribeEventBusCommand({ Name: name }))).Name === name;
  } catch {
    return false;
  } finally {
    events.destroy();
  }
}

/**
 * The deploy rehearsal from a clean clone: the real CDK CLI deploys each environment into one
 * moto_server, then the on-call CLI and the Lambdas' dependency builders run against what was
 * deployed, as separate processes, with nothing but the variables `npm run deploy:local` prints.
 */

const ROOT = resolve(import.meta.dirname, '../..');
const ENV_NAMES = Object.keys(ENVIRONMENTS) as EnvironmentName[];
const run = promisify(execFile);

/** PATH and HOME to find npm and node; nothing of this process's own AWS or database settings. */
function cleanEnv(variables: Record<string, string>): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    ...variables,
  };
}

/** `npm run payouts -- --env <env> …` as the README says, with the rehearsal's variables. */
async function payouts(deployed: DeployedEnvironment, ...args: string[]) {
  const { stdout, stderr } = await run(
    'npm',
    ['run', '--silent', 'payouts', '--', '--env', deployed.name, ...args],
    { cwd: ROOT, env: cleanEnv(deployed.awsEnv) },
  );
  return { stdout, stderr };
}

async function payoutsJson<T>(deployed: DeployedEnvironment, ...args: string[]): Promise<T> {
  return JSON.parse((await payouts(deployed, ...args, '--json')).stdout) as T;
}

/** Builds one Lambda's dependencies in a process given exactly `env` (lambda-deps-probe.ts). */
async function probeLambdaDeps(lambda: 'scan' | 'transfer', env: Record<string, string>) {
  const { stdout } = await run(
    process.execPath,
    ['--import', 'tsx', 'test/deploy/lambda-deps-probe.ts', lambda],
    { cwd: ROOT, env: cleanEnv(env) },
  );
  return JSON.parse(stdout) as {
    database: string;
    user: string;
    config: Record<string, unknown>;
  };
}

/** The environment CloudFormation gave the deployed function, read back with GetFunctionConfiguration. */
async function deployedFunctionEnv(
  deployed: DeployedEnvironment,
  logicalIdPrefix: string,
): Promise<Record<string, string>> {
  const cloudFormation = new CloudFormationClient(clientConfig(deployed.awsEnv));
  const lambda = new LambdaClient(clientConfig(deployed.awsEnv));
  try {
    const resource = (await stackResources(cloudFormation, deployed.stackName)).find(
      (r) =>
        r.ResourceType === 'AWS::Lambda::Function' &&
        r.LogicalResourceId?.startsWith(logicalIdPrefix),
    );
    const { Environment } = await lambda.send(
      new GetFunctionConfigurationCommand({ FunctionName: resource?.PhysicalResourceId }),
    );
    return Environment?.Variables ?? {};
  } finally {
    cloudFormation.destroy();
    lambda.destroy();
  }
}

/** Stands in for api.stripe.com: answers an empty transfer list and keeps each request's key. */
async function startStripeRecorder() {
  const authorizations: string[] = [];
  const server: Server = createServer((req, res) => {
    authorizations.push(req.headers.authorization ?? '');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ object: 'list', data: [], has_more: false, url: '/v1/transfers' }));
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    authorizations,
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

/** Every message in a queue, deleted: what a test left behind, or what a redrive sent there. */
async function drainQueue(sqs: SQSClient, queueUrl: string): Promise<string[]> {
  const bodies: string[] = [];
  for (;;) {
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10 }),
    );
    if (Messages.length === 0) return bodies;
    for (const message of Messages) {
      bodies.push(message.Body ?? '');
      await sqs.send(
        new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }),
      );
    }
  }
}

const TEMPLATE_TESTS = readdirSync(join(ROOT, 'test/infra'))
  .filter((file) => file.endsWith('.test.ts'))
  .map((file) => readFileSync(join(ROOT, 'test/infra', file), 'utf8'))
  .join('\n');

describe('the deploy rehearsal fails loudly without its tools', () => {
  it('names cfn-lint or moto_server when it is not on PATH, before starting anything', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(startDeployRehearsal()).rejects.toThrow(/^cfn-lint is not on PATH/);
      await expect(startMotoServer()).rejects.toThrow(/^moto_server is not on PATH/);
    } finally {
      process.env.PATH = path;
    }
  });
});

describe('deploy rehearsal: the real CDK CLI into moto_server, each environment', () => {
  let rehearsal: DeployRehearsal;
  let stripe: Awaited<ReturnType<typeof startStripeRecorder>>;
  const deployments = new Map<EnvironmentName, DeployedEnvironment>();

  beforeAll(async () => {
    rehearsal = await startDeployRehearsal();
    stripe = await startStripeRecorder();
  }, 120_000);
  afterAll(async () => {
    await stripe?.close();
    await rehearsal?.stop();
  });

  describe.each(ENV_NAMES)('%s', (name) => {
    let deployed: DeployedEnvironment;
    let sqs: SQSClient;
    const queueUrl = () => deployed.outputs.PayoutQueueUrl ?? '';
    const dlqUrl = () => deployed.outputs.PayoutDlqUrl ?? '';
    /** Puts payout messages straight into the deployed DLQ, as SQS does after 5 receives. */
    const deadLetter = async (...sessionIds: string[]) => {
      for (const sessionId of sessionIds) {
        await sqs.send(
          new SendMessageCommand({ QueueUrl: dlqUrl(), MessageBody: payoutMessageBody(sessionId) }),
        );
      }
    };

    beforeAll(async () => {
      deployed = await rehearsal.deploy(name);
      deployments.set(name, deployed);
      sqs = new SQSClient(clientConfig(deployed.awsEnv));
    }, 600_000);
    afterAll(() => sqs?.destroy());
    beforeEach(async () => {
      await drainQueue(sqs, queueUrl());
      await drainQueue(sqs, dlqUrl());
    }, 60_000);

    it('synthesizes a template in which cfn-lint finds no error (and warns only W3005)', () => {
      const errors = deployed.lintFindings.filter((finding) => finding.level === 'Error');
      expect(errors).toEqual([]);
      // W3005: CDK's DependsOn next to a GetAtt on the function's role, harmless (FIELD-NOTES).
      const otherFindings = deployed.lintFindings.filter((finding) => finding.rule !== 'W3005');
      expect(otherFindings).toEqual([]);
    });

    it('deploys the stack with the outputs the CLI maps, the payout queue dead-lettering into the output DLQ', async () => {
      expect(Object.keys(deployed.outputs).sort()).toEqual(
        Object.keys(STACK_OUTPUT_VARIABLES).sort(),
      );
      expect(deployed.outputs.OperatorDbSecretArn).toMatch(
        new RegExp(`:secret:${ENVIRONMENTS[name].secrets.dbSecretNames.operator}$`),
      );
      const { Attributes = {} } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: queueUrl(), AttributeNames: ['All'] }),
      );
      const redrive = JSON.parse(Attributes.RedrivePolicy ?? '{}');
      expect(redrive.deadLetterTargetArn).toMatch(new RegExp(`:${dlqUrl().split('/').pop()}$`));
      expect(Number(redrive.maxReceiveCount)).toBe(MAX_RECEIVE_COUNT);
    });

    it('leaves to the template tests only what moto cannot create: alarms, schedule, invoke config, topic and queue policies', async () => {
      // moto creates the payout events bus but lists it without a physical id, which the gap
      // check reads as "not created": the bus is looked up in moto's EventBridge instead.
      const busCreated = await eventBusExists(deployed, `payouts-${name}`);
      const gaps = unexpectedGaps(deployed).filter(
        (gap) => !(gap.type === 'AWS::Events::EventBus' && busCreated),
      );

      expect(busCreated).toBe(true);
      expect(gaps).toEqual([]);
      for (const type of new Set(deployed.notCreated.map((resource) => resource.type))) {
        expect(TEMPLATE_TESTS, `a template test asserting ${type}`).toContain(`'${type}'`);
      }
    });

    it('`payouts --env <env> status` reads the deployed queues and the database the deployed secret names', async () => {
      const db = createDb(deployed.databaseUrl, { maxConnections: 1 });
      const reason = `rehearsal of ${name}`;
      try {
        await setPaused(db, { paused: true, reason, changedBy: 'test', now: new Date() });
        const { stdout, stderr } = await payouts(deployed, 'status', '--json');
        expect(JSON.parse(stdout)).toMatchObject({
          paused: true,
          pausedReason: reason,
          queue: { visible: 0, inFlight: 0 },
          dlq: { visible: 0, inFlight: 0 },
        });
        expect(stderr).toContain(`--env ${name} is read from ${deployed.awsEnv.AWS_ENDPOINT_URL}`);
      } finally {
        await setPaused(db, { paused: false, reason: null, changedBy: 'test', now: new Date() });
        await db.destroy();
      }
    }, 60_000);

    it('creates one database secret per role, each logging in as that role’s user and nothing more', async () => {
      const secrets = new SecretsManagerClient(clientConfig(deployed.awsEnv));
      const logins: string[] = [];
      try {
        for (const [role, secretName] of Object.entries(ENVIRONMENTS[name].secrets.dbSecretNames)) {
          const { SecretString = '{}' } = await secrets.send(
            new GetSecretValueCommand({ SecretId: secretName }),
          );
          const secret = JSON.parse(SecretString);
          const client = new pg.Client({
            host: secret.host,
            port: secret.port,
            user: secret.username,
            password: secret.password,
            database: secret.dbname,
          });
          await client.connect();
          const { rows } = await client.query<{ user: string; roles: string[] }>(
            `select current_user as user, array(select b.rolname::text from pg_auth_members m
               join pg_roles b on b.oid = m.roleid join pg_roles u on u.oid = m.member
               where u.rolname = current_user) as roles`,
          );
          await client.end();
          logins.push(`${role}: ${rows[0]?.user} in ${rows[0]?.roles.join(',')}`);
        }
      } finally {
        secrets.destroy();
      }

      expect(logins).toEqual(
        Object.entries(DATABASE_ROLES).map(
          ([role, dbRole]) => `${role}: ${dbRole}_login in ${dbRole}`,
        ),
      );
    }, 60_000);

    it('`dlq list` shows dead letters in the deployed DLQ with their sessions, without consuming them', async () => {
      await deadLetter(DEMO_SESSIONS.adaUsd, DEMO_SESSIONS.adaAlreadyPaid);

      const { messages: entries } = await payoutsJson<{
        messages: { sessionId: string; payoutStatus: string }[];
      }>(deployed, 'dlq', 'list');

      expect(entries.map(({ sessionId, payoutStatus }) => ({ sessionId, payoutStatus }))).toEqual(
        expect.arrayContaining([
          { sessionId: DEMO_SESSIONS.adaUsd, payoutStatus: 'pending' },
          { sessionId: DEMO_SESSIONS.adaAlreadyPaid, payoutStatus: 'paid_out' },
        ]),
      );
      expect(entries).toHaveLength(2);
      expect((await drainQueue(sqs, dlqUrl())).length).toBe(2);
    }, 60_000);

    it('`dlq redrive` sends the unpaid session back to the deployed payout queue and drops the paid one', async () => {
      await deadLetter(DEMO_SESSIONS.adaUsd, DEMO_SESSIONS.adaAlreadyPaid);

      const report = await payoutsJson(deployed, 'dlq', 'redrive');

      expect(report).toEqual({
        dryRun: false,
        redriven: 1,
        alreadySettled: 1,
        malformedLeft: 0,
        interrupted: false,
      });
      expect(await drainQueue(sqs, queueUrl())).toEqual([payoutMessageBody(DEMO_SESSIONS.adaUsd)]);
      expect(await drainQueue(sqs, dlqUrl())).toEqual([]);
    }, 60_000);

    it('`payouts --env <env> preview` plans with the deployed transfer function’s fee and grace, not the shell’s', async () => {
      const { transfer, graceHours } = ENVIRONMENTS[name];
      const functionEnv = await deployedFunctionEnv(deployed, 'TransferFunction');
      expect(functionEnv.PLATFORM_FEE_BPS).toBe(String(transfer.platformFeeBps));

      const { stdout, stderr } = await run(
        'npm',
        ['run', '--silent', 'payouts', '--', '--env', name, 'preview', '--json'],
        {
          cwd: ROOT,
          // What a stray shell might hold: both differ from every environment's.
          env: cleanEnv({ ...deployed.awsEnv, PLATFORM_FEE_BPS: '1', PAYOUT_GRACE_HOURS: '1000' }),
        },
      );

      const report = JSON.parse(stdout);
      expect(report).toMatchObject({ feeBps: transfer.platformFeeBps, graceHours });
      const adaUsd = 12_000 - Math.round((12_000 * transfer.platformFeeBps) / 10_000);
      expect(report.largest).toContainEqual(
        expect.objectContaining({ sessionId: DEMO_SESSIONS.adaUsd, amount: adaUsd }),
      );
      expect(stderr).toContain(
        `payouts: PLATFORM_FEE_BPS=1 in your shell is ignored: --env ${name} runs with ${transfer.platformFeeBps}`,
      );
    }, 60_000);

    it('the scan Lambda’s dependency builder, given the deployed function’s environment, reads the deployed database secret', async () => {
      const functionEnv = await deployedFunctionEnv(deployed, 'ScanFunction');
      expect(functionEnv.DB_SECRET_ARN).toMatch(
        new RegExp(`:secret:${ENVIRONMENTS[name].secrets.dbSecretNames.scan}$`),
      );
      expect(functionEnv.DATABASE_URL).toBeUndefined();

      // What Lambda's runtime adds (region, credentials) and the rehearsal's endpoint.
      const deps = await probeLambdaDeps('scan', { ...functionEnv, ...deployed.awsEnv });

      expect(deps.database).toBe(`payouts_${name}`);
      expect(deps.user).toBe('payouts_scan_login');
      expect(deps.config).toMatchObject({
        graceHours: ENVIRONMENTS[name].graceHours,
        paused: false,
      });
    }, 60_000);

    it('the transfer Lambda’s dependency builder, given the deployed function’s environment, reads both deployed secrets', async () => {
      const functionEnv = await deployedFunctionEnv(deployed, 'TransferFunction');
      expect(functionEnv.DB_SECRET_ARN).toMatch(
        new RegExp(`:secret:${ENVIRONMENTS[name].secrets.dbSecretNames.transfer}$`),
      );
      expect(functionEnv.STRIPE_SECRET_ARN).toBe(deployed.outputs.StripeSecretArn);
      expect(functionEnv.DATABASE_URL).toBeUndefined();
      expect(functionEnv.STRIPE_SECRET_KEY).toBeUndefined();
      stripe.authorizations.length = 0;

      // Plus the Stripe endpoint: the deployed function would call api.stripe.com.
      const deps = await probeLambdaDeps('transfer', {
        ...functionEnv,
        ...deployed.awsEnv,
        STRIPE_API_BASE: stripe.url,
      });

      expect(deps.database).toBe(`payouts_${name}`);
      expect(deps.user).toBe('payouts_transfer_login');
      expect(stripe.authorizations).toEqual([`Bearer ${REHEARSAL_STRIPE_KEY}`]);
      expect(deps.config).toMatchObject({ feeBps: ENVIRONMENTS[name].transfer.platformFeeBps });
    }, 60_000);
  });

  it('with a database secret in plain RDS format (no sslmode), the builders insist on TLS and refuse the local Postgres', async () => {
    const prod = deployments.get('prod');
    if (!prod) throw new Error('prod was not deployed');
    const url = new URL(prod.databaseUrl);
    const secrets = new SecretsManagerClient(clientConfig(prod.awsEnv));
    const { ARN } = await secrets.send(
      new CreateSecretCommand({
        Name: 'payouts/prod/db-rds-format',
        SecretString: JSON.stringify({
          host: url.hostname,
          port: Number(url.port),
          username: url.username,
          password: url.password,
          dbname: url.pathname.slice(1),
        }),
      }),
    );
    secrets.destroy();
    const functionEnv = await deployedFunctionEnv(prod, 'ScanFunction');

    const probe = probeLambdaDeps('scan', {
      ...functionEnv,
      ...prod.awsEnv,
      DB_SECRET_ARN: ARN ?? '',
    });

    await expect(probe).rejects.toThrow(/does not support SSL connections/);
  }, 60_000);

  it('lists in NOT_CREATED_BY_MOTO only types moto really skipped in some environment', () => {
    const skipped = new Set(
      [...deployments.values()].flatMap((deployed) => deployed.notCreated.map((r) => r.type)),
    );
    expect([...NOT_CREATED_BY_MOTO].filter((type) => !skipped.has(type))).toEqual([]);
  });
});
