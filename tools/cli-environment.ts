import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { GetFunctionConfigurationCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { ConfigError } from '../shared/errors.ts';
import { awsClientConfig } from './cli-deps.ts';

const REPOSITORY_ROOT = resolve(import.meta.dirname, '..');

/**
 * Written by `npm start -- --keep`: the variables that reach its stand-ins while it runs. Found
 * from the repository's root whatever the working directory; PAYOUTS_LOCAL_ENV_FILE names
 * another (tests run pipelines of their own beside a developer's).
 */
export function localEnvFile(env: Record<string, string | undefined> = process.env): string {
  return resolve(REPOSITORY_ROOT, env.PAYOUTS_LOCAL_ENV_FILE || '.local/payouts-env.json');
}

/** The local environment file's own entries, beside the variables. */
export const LOCAL_PID_VARIABLE = 'PAYOUTS_LOCAL_PID';
/** The local database's owner (the marketplace's side), beside the CLI's own operator role. */
export const LOCAL_OWNER_DATABASE_URL_VARIABLE = 'PAYOUTS_LOCAL_OWNER_DATABASE_URL';

/** Stack output → the variable the commands read (see infra/payouts-stack.ts). */
export const STACK_OUTPUT_VARIABLES: Record<string, string> = {
  PayoutQueueUrl: 'PAYOUT_QUEUE_URL',
  PayoutDlqUrl: 'PAYOUT_DLQ_URL',
  OperatorDbSecretArn: 'DB_SECRET_ARN',
  StripeSecretArn: 'STRIPE_SECRET_ARN',
  ScanFunctionName: 'PAYOUT_SCAN_FUNCTION',
  TransferFunctionName: 'PAYOUT_TRANSFER_FUNCTION',
};

/**
 * The money rules the transfer Lambda runs with. Read from the deployed function, they win over
 * the shell's, so that `preview` and `retry` decide as the Lambda does.
 */
export const DEPLOYED_SETTINGS = [
  'PLATFORM_FEE_BPS',
  'PAYOUT_GRACE_HOURS',
  'PAYOUT_MAX_TRANSFER_AMOUNTS',
  'PAYOUT_MAX_DAILY_TOTALS',
  'STRIPE_CREATES_PER_SECOND',
  'STRIPE_READS_PER_SECOND',
  'PAYOUTS_PAUSED',
] as const;

export const ENVIRONMENT_NAMES = ['local', 'dev', 'staging', 'prod'] as const;

type Env = Record<string, string | undefined>;

/**
 * The variables of one environment: `local` from the file `npm start -- --keep` writes, the AWS
 * ones from their stack's outputs (AWS credentials needed), each plus the settings of its
 * deployed transfer function. The process's own variables win, except over those settings.
 */
export async function environmentVariables(
  name: string | undefined,
  env: Env,
  note: (line: string) => void = () => {},
): Promise<Env> {
  if (!name) return env;
  if (!ENVIRONMENT_NAMES.includes(name as (typeof ENVIRONMENT_NAMES)[number])) {
    throw new ConfigError(
      `Unknown environment "${name}": use one of ${ENVIRONMENT_NAMES.join(', ')}`,
    );
  }
  const variables = {
    ...(name === 'local' ? await localVariables(env) : await stackVariables(name)),
    ...env,
  };
  const deployed = await deployedSettings(variables, name, note);
  for (const [key, value] of Object.entries(deployed)) {
    if (env[key] !== undefined && env[key] !== value) {
      note(
        `payouts: ${key}=${env[key]} in your shell is ignored: --env ${name} runs with ${value}`,
      );
    }
  }
  return { ...variables, ...deployed };
}

async function stackVariables(name: string): Promise<Record<string, string>> {
  const client = new CloudFormationClient({});
  try {
    const { Stacks = [] } = await client.send(
      new DescribeStacksCommand({ StackName: `Payouts-${name}` }),
    );
    return variablesFromOutputs(Stacks[0]?.Outputs ?? []);
  } finally {
    client.destroy();
  }
}

/**
 * DEPLOYED_SETTINGS as the transfer function has them (GetFunctionConfiguration). Without them the
 * commands still run, warned: `pause` and `status` must work whatever else is broken.
 */
async function deployedSettings(
  variables: Env,
  name: string,
  note: (line: string) => void,
): Promise<Record<string, string>> {
  const functionName = variables.PAYOUT_TRANSFER_FUNCTION;
  const fallback = (why: string) => {
    note(`payouts: WARNING: default fee, grace and limits, not the deployed ones: ${why}`);
    return {};
  };
  if (!functionName) {
    return fallback(`--env ${name} names no transfer function (deploy the current stack)`);
  }
  const client = new LambdaClient({ maxAttempts: 3, ...awsClientConfig(variables, 'LAMBDA') });
  try {
    const { Environment } = await client.send(
      new GetFunctionConfigurationCommand({ FunctionName: functionName }),
    );
    const deployed = Environment?.Variables ?? {};
    return Object.fromEntries(
      DEPLOYED_SETTINGS.flatMap((key) =>
        deployed[key] === undefined ? [] : [[key, deployed[key]]],
      ),
    );
  } catch (error) {
    if (name === 'local' && localConnectionRefused(error)) throw new ConfigError(NOT_RUNNING);
    return fallback(`${functionName}: ${error instanceof Error ? error.message : String(error)}`);
  } finally {
    client.destroy();
  }
}

/**
 * A line for stderr when `--env <dev|staging|prod>` is read from an endpoint override (the deploy
 * rehearsal's moto), so that nobody mistakes it for the environment in AWS.
 */
export function endpointOverrideNote(name: string | undefined, env: Env): string | undefined {
  const endpoint = env.AWS_ENDPOINT_URL_CLOUDFORMATION || env.AWS_ENDPOINT_URL;
  if (!name || name === 'local' || !endpoint) return undefined;
  return `payouts: --env ${name} is read from ${endpoint} (AWS_ENDPOINT_URL), not from AWS`;
}

function variablesFromOutputs(
  outputs: { OutputKey?: string; OutputValue?: string }[],
): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const { OutputKey, OutputValue } of outputs) {
    const variable = OutputKey ? STACK_OUTPUT_VARIABLES[OutputKey] : undefined;
    if (variable && OutputValue) variables[variable] = OutputValue;
  }
  return variables;
}

const NOT_RUNNING = 'The local environment is not running: start it with "npm start -- --keep"';

/** The file of a running `npm start -- --keep`; a file its process left behind says so. */
async function localVariables(env: Env): Promise<Record<string, string>> {
  const file = localEnvFile(env);
  let variables: Record<string, string>;
  try {
    variables = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>;
  } catch {
    throw new ConfigError(`${NOT_RUNNING} (it writes ${file})`);
  }
  const pid = Number(variables[LOCAL_PID_VARIABLE]);
  if (!isRunning(pid)) {
    throw new ConfigError(`${NOT_RUNNING} (${file} is left from process ${pid}, which has ended)`);
  }
  return variables;
}

function isRunning(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it runs, as another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** What to say when a local stand-in refuses the connection (killed without cleaning up). */
export function localConnectionRefused(error: unknown): string | undefined {
  const codes = [error, (error as { cause?: unknown })?.cause].map(
    (each) => (each as { code?: string } | undefined)?.code,
  );
  const text = error instanceof Error ? error.message : '';
  return codes.includes('ECONNREFUSED') || text.includes('ECONNREFUSED')
    ? `${NOT_RUNNING} (a stand-in refused the connection)`
    : undefined;
}
