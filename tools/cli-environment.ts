import { readFile } from 'node:fs/promises';
import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { ConfigError } from '../shared/errors.ts';

/** Written by `npm start -- --keep`: the variables that reach its stand-ins while it runs. */
export const LOCAL_ENV_FILE = '.local/payouts-env.json';

/** Stack output → the variable the commands read (see infra/payouts-stack.ts). */
export const STACK_OUTPUT_VARIABLES: Record<string, string> = {
  PayoutQueueUrl: 'PAYOUT_QUEUE_URL',
  PayoutDlqUrl: 'PAYOUT_DLQ_URL',
  DbSecretArn: 'DB_SECRET_ARN',
  StripeSecretArn: 'STRIPE_SECRET_ARN',
};

export const ENVIRONMENT_NAMES = ['local', 'dev', 'staging', 'prod'] as const;

/**
 * The variables of one environment, under the process's own (which win): `local` from the file
 * `npm start -- --keep` writes, the AWS ones from their stack's outputs (AWS credentials needed).
 */
export async function environmentVariables(
  name: string | undefined,
  env: Record<string, string | undefined>,
): Promise<Record<string, string | undefined>> {
  if (!name) return env;
  if (name === 'local') return { ...(await localVariables()), ...env };
  if (!ENVIRONMENT_NAMES.includes(name as (typeof ENVIRONMENT_NAMES)[number])) {
    throw new ConfigError(
      `Unknown environment "${name}": use one of ${ENVIRONMENT_NAMES.join(', ')}`,
    );
  }
  const client = new CloudFormationClient({});
  try {
    const { Stacks = [] } = await client.send(
      new DescribeStacksCommand({ StackName: `Payouts-${name}` }),
    );
    return { ...variablesFromOutputs(Stacks[0]?.Outputs ?? []), ...env };
  } finally {
    client.destroy();
  }
}

/**
 * A line for stderr when `--env <dev|staging|prod>` is read from an endpoint override (the deploy
 * rehearsal's moto), so that nobody mistakes it for the environment in AWS.
 */
export function endpointOverrideNote(
  name: string | undefined,
  env: Record<string, string | undefined>,
): string | undefined {
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

async function localVariables(): Promise<Record<string, string>> {
  try {
    return JSON.parse(await readFile(LOCAL_ENV_FILE, 'utf8')) as Record<string, string>;
  } catch {
    throw new ConfigError(
      `No local environment: start one with "npm start -- --keep" (it writes ${LOCAL_ENV_FILE})`,
    );
  }
}
