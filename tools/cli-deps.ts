import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import type { Kysely } from 'kysely';
import type Stripe from 'stripe';
import { type Clock, systemClock } from '../shared/clock.ts';
import { type OperatorConfig, parseOperatorConfig } from '../shared/config.ts';
import { createDb } from '../shared/db/connect.ts';
import type { Database } from '../shared/db/database.ts';
import { ConfigError } from '../shared/errors.ts';
import type { Log } from '../shared/logger.ts';
import { resolveDatabaseConnection, resolveStripeKey } from '../shared/secrets.ts';
import { createStripeClient } from '../shared/stripe-client.ts';
import { type Output, wrapToWidth } from './commands/format.ts';

export type { Output };

/** Colour for a terminal that has colours; Node's check honours NO_COLOR, FORCE_COLOR and TERM. */
function streamHasColour(stream: NodeJS.WriteStream): boolean {
  return Boolean(stream.isTTY && stream.hasColors?.());
}

/**
 * The terminal this process prints to: its width and colours, each stream for itself. Prose
 * longer than a terminal's width is wrapped at spaces (tables already fit).
 */
export function processOutput(): Output {
  const fitted = (stream: NodeJS.WriteStream, text: string) =>
    stream.isTTY ? wrapToWidth(text, stream.columns) : text;
  return {
    log: (text) => console.log(fitted(process.stdout, text)),
    error: (text) => console.error(fitted(process.stderr, text)),
    isTTY: Boolean(process.stdout.isTTY),
    columns: process.stdout.isTTY ? process.stdout.columns : undefined,
    colour: streamHasColour(process.stdout),
    errorColour: streamHasColour(process.stderr),
  };
}

export interface CliDeps {
  config: OperatorConfig;
  db: Kysely<Database>;
  clock: Clock;
  out: Output;
  /** Aborted by Ctrl-C: long commands stop at the next safe point and say what they did. */
  signal: AbortSignal;
  /** The money path's own log lines (reconcile --fix records as the Lambda does): warnings and errors. */
  log: Log;
  /** Built on first use, so commands that do not need Stripe or SQS do not need their variables. */
  stripe(): Promise<Stripe>;
  sqs(): SQSClient;
  lambda(): LambdaClient;
  queueUrl(): string;
  dlqUrl(): string;
  close(): Promise<void>;
}

export async function createCliDeps(
  env: Record<string, string | undefined>,
  out: Output,
  signal: AbortSignal = new AbortController().signal,
): Promise<CliDeps> {
  const config = parseOperatorConfig(env);
  const db = createDb(await resolveDatabaseConnection(config.database), { maxConnections: 2 });
  let sqs: SQSClient | undefined;
  let lambda: LambdaClient | undefined;
  const required = (value: string | undefined, name: string) => {
    if (!value)
      throw new ConfigError(`Invalid configuration: ${name} is required for this command`);
    return value;
  };
  return {
    config,
    db,
    clock: systemClock,
    out,
    signal,
    log: outputLog(out),
    async stripe() {
      if (!config.stripeKey) {
        throw new ConfigError(
          'Invalid configuration: STRIPE_SECRET_KEY or STRIPE_SECRET_ARN is required for this command',
        );
      }
      return createStripeClient(await resolveStripeKey(config.stripeKey), config.stripeApiBase);
    },
    sqs() {
      // Given to the client rather than left to the SDK, which would send to the queue URL's host
      // (sqs.<region>.amazonaws.com in an emulator's stack outputs) instead of the override.
      sqs ??= new SQSClient({ maxAttempts: 3, ...awsClientConfig(env, 'SQS') });
      return sqs;
    },
    lambda() {
      lambda ??= new LambdaClient({ maxAttempts: 3, ...awsClientConfig(env, 'LAMBDA') });
      return lambda;
    },
    queueUrl: () => required(config.queueUrl, 'PAYOUT_QUEUE_URL'),
    dlqUrl: () => required(config.dlqUrl, 'PAYOUT_DLQ_URL'),
    async close() {
      sqs?.destroy();
      lambda?.destroy();
      await db.destroy();
    },
  };
}

/**
 * An AWS client's endpoint, region and credentials from `env`, not process.env: with --env local
 * they come from the local environment file. Unset ones are left to the SDK's own chain.
 */
export function awsClientConfig(
  env: Record<string, string | undefined>,
  service: 'SQS' | 'LAMBDA',
) {
  const { AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } = env;
  const endpoint = env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL;
  return {
    ...(endpoint && { endpoint }),
    ...(AWS_REGION && { region: AWS_REGION }),
    ...(AWS_ACCESS_KEY_ID &&
      AWS_SECRET_ACCESS_KEY && {
        credentials: { accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY },
      }),
  };
}

/** A Log for a person at a terminal: warnings and errors as plain lines on stderr, the rest dropped. */
function outputLog(out: Output): Log {
  const line =
    (level: string) =>
    (message: string, ...data: unknown[]) =>
      out.error(
        `${level}: ${message} ${data.map((item) => JSON.stringify(item)).join(' ')}`.trim(),
      );
  const quiet = () => {};
  return { debug: quiet, info: quiet, warn: line('warning'), error: line('error') } as Log;
}
