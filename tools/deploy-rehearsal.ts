import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CloudFormationClient,
  DescribeStacksCommand,
  ListStackResourcesCommand,
  type StackResourceSummary,
} from '@aws-sdk/client-cloudformation';
import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { ENVIRONMENTS, type EnvironmentName } from '../infra/environments.ts';
import {
  createDatabaseLogins,
  type DatabaseLogins,
  databaseUrls,
} from '../local/database-logins.ts';
import { seedDemoData } from '../local/demo-data.ts';
import { type LocalPostgres, startLocalPostgres } from '../local/local-postgres.ts';
import { MOTO_ACCOUNT, type MotoServer, startMotoServer } from '../local/moto-server.ts';
import { createDb } from '../shared/db/connect.ts';
import { DATABASE_ROLE_NAMES, type DatabaseRole } from '../shared/db/database-roles.ts';
import { migrateToLatest } from '../shared/db/migrate.ts';
import { runCdk } from './cdk-cli.ts';
import { type CfnLintFinding, cfnLint, requireCfnLint } from './cfn-lint.ts';

/**
 * The deploy rehearsal: a stack synthesized by the real CDK CLI, linted with cfn-lint, and
 * bootstrapped and deployed by the same CLI into moto_server on loopback, with its secrets created
 * as the README says: the Stripe key, and one database secret per database role, each naming that
 * role's login user on a local PostgreSQL that holds the demo marketplace.
 */

/** Where environment-agnostic stacks go (the CLI takes the region from AWS_REGION). */
export const REHEARSAL_REGION = 'eu-central-1';
/** Test mode by its prefix; nothing here can reach Stripe. */
export const REHEARSAL_STRIPE_KEY = 'sk_test_deploy_rehearsal';

/**
 * Template resources moto's CloudFormation skips without failing the stack, and which template
 * tests (test/infra/) assert instead. CDK's own metadata is no resource of ours.
 */
export const NOT_CREATED_BY_MOTO = [
  'AWS::CloudWatch::Alarm',
  'AWS::Scheduler::Schedule',
  'AWS::Lambda::EventInvokeConfig',
  'AWS::SNS::TopicPolicy',
  'AWS::SQS::QueuePolicy',
] as const;
const CDK_METADATA = 'AWS::CDK::Metadata';

export interface DeployedEnvironment {
  name: EnvironmentName;
  stackName: string;
  region: string;
  /** cfn-lint's findings on the synthesized template that was deployed (errors stop the deploy). */
  lintFindings: CfnLintFinding[];
  /** The stack's outputs, by output key. */
  outputs: Record<string, string>;
  /** The database the secrets point at, as its owner (superuser of the throw-away server). */
  databaseUrl: string;
  /** The same database as each role's login user: what each role's secret holds. */
  databaseUrls: Record<DatabaseRole, string>;
  /** Every variable an AWS SDK client, the CDK CLI or `payouts --env <name>` needs to reach moto. */
  awsEnv: Record<string, string>;
  /** Template resources moto did not create (see NOT_CREATED_BY_MOTO and unexpectedGaps). */
  notCreated: { logicalId: string; type: string }[];
}

export interface DeployRehearsal {
  readonly moto: MotoServer;
  readonly postgres: LocalPostgres;
  /** Synthesizes, lints, bootstraps (once per region), creates the secrets and deploys. */
  deploy(
    name: EnvironmentName,
    options?: { onOutput?: (line: string) => void },
  ): Promise<DeployedEnvironment>;
  stop(): Promise<void>;
}

/** Dummy credentials and moto's endpoint; nothing inherited can point the SDK at real AWS. */
export function rehearsalAwsEnv(endpoint: string, region: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL: endpoint,
    AWS_REGION: region,
    AWS_DEFAULT_REGION: region,
    AWS_ACCESS_KEY_ID: 'rehearsal',
    AWS_SECRET_ACCESS_KEY: 'rehearsal',
  };
}

/** The calling process's variables without any AWS_ or CDK_ one (a profile, real credentials). */
function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && !/^(AWS|CDK)_/.test(entry[0]),
    ),
  );
}

export async function startDeployRehearsal(): Promise<DeployRehearsal> {
  // Both tools are checked before minutes are spent on anything else.
  requireCfnLint();
  const moto = await startMotoServer();
  let postgres: LocalPostgres;
  try {
    postgres = await startLocalPostgres();
  } catch (error) {
    await moto.stop();
    throw error;
  }
  const bootstrapped = new Set<string>();
  // Login users belong to the server, which the environments share: made once, after the first
  // migrations (which create the roles), and named by every environment's secrets.
  let logins: DatabaseLogins | undefined;

  async function deploy(
    name: EnvironmentName,
    options: { onOutput?: (line: string) => void } = {},
  ): Promise<DeployedEnvironment> {
    const outdir = await mkdtemp(join(tmpdir(), `payouts-rehearsal-${name}-`));
    try {
      return await synthLintAndDeploy(name, outdir, options);
    } finally {
      // Removed at once: a Ctrl-C later ends the process before any cleanup could run.
      await rm(outdir, { recursive: true, force: true });
    }
  }

  async function synthLintAndDeploy(
    name: EnvironmentName,
    outdir: string,
    options: { onOutput?: (line: string) => void },
  ): Promise<DeployedEnvironment> {
    const stackName = `Payouts-${name}`;
    const synthEnv = { ...inheritedEnv(), ...rehearsalAwsEnv(moto.endpoint, REHEARSAL_REGION) };
    const step = (text: string) => options.onOutput?.(`── ${text}`);

    step(`cdk synth -c env=${name}`);
    await runCdk(['synth', '-c', `env=${name}`, '-o', outdir, '-q'], {
      env: synthEnv,
      onOutput: options.onOutput,
    });
    const { templateFile, region } = await stackArtifact(outdir, stackName);
    const awsEnv = rehearsalAwsEnv(moto.endpoint, region);
    const cdkEnv = { ...inheritedEnv(), ...awsEnv };

    step(`cfn-lint ${templateFile}`);
    const lintFindings = await cfnLint([templateFile]);
    const errors = lintFindings.filter((finding) => finding.level === 'Error');
    if (errors.length > 0) {
      throw new Error(
        `cfn-lint found ${errors.length} error(s) in ${stackName}:\n${errors.map((e) => `${e.rule} ${e.path}: ${e.message}`).join('\n')}`,
      );
    }

    if (!bootstrapped.has(region)) {
      step(`cdk bootstrap aws://${MOTO_ACCOUNT}/${region}`);
      await runCdk(['bootstrap', `aws://${MOTO_ACCOUNT}/${region}`, '--app', outdir], {
        env: cdkEnv,
        onOutput: options.onOutput,
      });
      bootstrapped.add(region);
    }

    step(`database payouts_${name}: migrations, the demo marketplace, a login user per role`);
    const databaseUrl = await prepareDatabase(postgres, `payouts_${name}`);
    logins ??= await createDatabaseLogins(databaseUrl);
    const roleUrls = databaseUrls(databaseUrl, logins);
    const { stripeSecretName, dbSecretNames } = ENVIRONMENTS[name].secrets;
    step(`secrets ${stripeSecretName}, ${Object.values(dbSecretNames).join(', ')}`);
    await putSecrets(name, roleUrls, awsEnv);

    step(`cdk deploy ${stackName} --method=direct`);
    await runCdk(
      [
        'deploy',
        stackName,
        '--app',
        outdir,
        // With change sets moto answers DescribeStacks without the stack's outputs.
        '--method=direct',
        '--require-approval',
        'never',
        '--progress',
        'events',
      ],
      { env: cdkEnv, onOutput: options.onOutput },
    );
    const cloudFormation = new CloudFormationClient(clientConfig(awsEnv));
    try {
      return {
        name,
        stackName,
        region,
        lintFindings,
        outputs: await stackOutputs(cloudFormation, stackName),
        databaseUrl,
        databaseUrls: roleUrls,
        awsEnv,
        notCreated: await resourcesNotCreated(cloudFormation, stackName, templateFile),
      };
    } finally {
      cloudFormation.destroy();
    }
  }

  return {
    moto,
    postgres,
    deploy,
    async stop() {
      await Promise.allSettled([moto.stop(), postgres.stop()]);
    },
  };
}

/** An SDK client's settings from the rehearsal's variables, for clients built in this process. */
export function clientConfig(awsEnv: Record<string, string>) {
  return {
    endpoint: awsEnv.AWS_ENDPOINT_URL,
    region: awsEnv.AWS_REGION,
    credentials: {
      accessKeyId: awsEnv.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: awsEnv.AWS_SECRET_ACCESS_KEY ?? '',
    },
  };
}

/** The stack's template and region from the cloud assembly's manifest. */
async function stackArtifact(
  outdir: string,
  stackName: string,
): Promise<{ templateFile: string; region: string }> {
  const manifest = JSON.parse(await readFile(join(outdir, 'manifest.json'), 'utf8')) as {
    artifacts: Record<string, { environment?: string; properties?: { templateFile?: string } }>;
  };
  const artifact = manifest.artifacts[stackName];
  if (!artifact?.properties?.templateFile) {
    throw new Error(`The cloud assembly in ${outdir} has no stack ${stackName}`);
  }
  const region = artifact.environment?.split('/')[3];
  return {
    templateFile: join(outdir, artifact.properties.templateFile),
    region: region && region !== 'unknown-region' ? region : REHEARSAL_REGION,
  };
}

async function prepareDatabase(postgres: LocalPostgres, name: string): Promise<string> {
  const url = await postgres.createDatabase(name);
  const db = createDb(url, { maxConnections: 1 });
  try {
    await migrateToLatest(db);
    await seedDemoData(db, new Date());
  } finally {
    await db.destroy();
  }
  return url;
}

/**
 * The README's secrets: the Stripe key, and each database role's login in RDS format, plus
 * `sslmode: "disable"`: the local PostgreSQL has no TLS, and shared/secrets.ts accepts that only
 * for a loopback host.
 */
async function putSecrets(
  name: EnvironmentName,
  roleUrls: Record<DatabaseRole, string>,
  awsEnv: Record<string, string>,
): Promise<void> {
  const { dbSecretNames, stripeSecretName } = ENVIRONMENTS[name].secrets;
  const client = new SecretsManagerClient(clientConfig(awsEnv));
  try {
    for (const role of DATABASE_ROLE_NAMES) {
      await putSecret(client, dbSecretNames[role], JSON.stringify(rdsSecret(roleUrls[role])));
    }
    await putSecret(client, stripeSecretName, REHEARSAL_STRIPE_KEY);
  } finally {
    client.destroy();
  }
}

function rdsSecret(databaseUrl: string) {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname,
    port: Number(url.port),
    username: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    dbname: url.pathname.slice(1),
    sslmode: 'disable',
  };
}

async function putSecret(client: SecretsManagerClient, name: string, value: string) {
  try {
    await client.send(new CreateSecretCommand({ Name: name, SecretString: value }));
  } catch (error) {
    if (!(error instanceof ResourceExistsException)) throw error;
    await client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
  }
}

async function stackOutputs(
  client: CloudFormationClient,
  stackName: string,
): Promise<Record<string, string>> {
  const { Stacks = [] } = await client.send(new DescribeStacksCommand({ StackName: stackName }));
  return Object.fromEntries(
    (Stacks[0]?.Outputs ?? []).map((output) => [output.OutputKey ?? '', output.OutputValue ?? '']),
  );
}

/** The stack's resources as moto reports them. */
export async function stackResources(
  client: CloudFormationClient,
  stackName: string,
): Promise<StackResourceSummary[]> {
  const resources: StackResourceSummary[] = [];
  let NextToken: string | undefined;
  do {
    const page = await client.send(
      new ListStackResourcesCommand({ StackName: stackName, NextToken }),
    );
    resources.push(...(page.StackResourceSummaries ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return resources;
}

/** Template resources moto did not create (it skips types it does not know, and says nothing). */
async function resourcesNotCreated(
  client: CloudFormationClient,
  stackName: string,
  templateFile: string,
): Promise<{ logicalId: string; type: string }[]> {
  const template = JSON.parse(await readFile(templateFile, 'utf8')) as {
    Resources: Record<string, { Type: string }>;
  };
  const created = new Set(
    (await stackResources(client, stackName))
      .filter((resource) => resource.PhysicalResourceId)
      .map((resource) => resource.LogicalResourceId),
  );
  return Object.entries(template.Resources)
    .filter(([logicalId, { Type }]) => !created.has(logicalId) && Type !== CDK_METADATA)
    .map(([logicalId, { Type }]) => ({ logicalId, type: Type }));
}

/** Not-created resources of a type the README and the template tests do not account for. */
export function unexpectedGaps(deployed: Pick<DeployedEnvironment, 'notCreated'>) {
  return deployed.notCreated.filter(
    ({ type }) => !(NOT_CREATED_BY_MOTO as readonly string[]).includes(type),
  );
}
