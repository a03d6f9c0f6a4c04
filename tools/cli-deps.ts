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

/** Where the commands print: the console by default, a buffer in tests. */
export interface Output {
  log(text: string): void;
  error(text: string): void;
  /** A terminal gets a progress bar, a pipe plain counts. */
  isTTY: boolean;
}

export interface CliDeps {
  config: OperatorConfig;
  db: Kysely<Database>;
  clock: Clock;
  out: Output;
  /** The money path's own log lines (reconcile --fix records as the Lambda does): warnings and errors. */
  log: Log;
  /** Built on first use, so commands that do not need Stripe or SQS do not need their variables. */
  stripe(): Promise<Stripe>;
  sqs(): SQSClient;
  queueUrl(): string;
  dlqUrl(): string;
  close(): Promise<void>;
}

export async function createCliDeps(
  env: Record<string, string | undefined>,
  out: Output,
): Promise<CliDeps> {
  const config = parseOperatorConfig(env);
  const db = createDb(await resolveDatabaseConnection(config.database), { maxConnections: 2 });
  let sqs: SQSClient | undefined;
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
      // From `env`, not process.env: with --env local these come from the local environment file.
      const { AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY } = env;
      // Given to the client rather than left to the SDK, which would send to the queue URL's host
      // (sqs.<region>.amazonaws.com in an emulator's stack outputs) instead of the override.
      const endpoint = env.AWS_ENDPOINT_URL_SQS || env.AWS_ENDPOINT_URL;
      sqs ??= new SQSClient({
        maxAttempts: 3,
        ...(endpoint && { endpoint }),
        ...(AWS_REGION && { region: AWS_REGION }),
        ...(AWS_ACCESS_KEY_ID &&
          AWS_SECRET_ACCESS_KEY && {
            credentials: { accessKeyId: AWS_ACCESS_KEY_ID, secretAccessKey: AWS_SECRET_ACCESS_KEY },
          }),
      });
      return sqs;
    },
    queueUrl: () => required(config.queueUrl, 'PAYOUT_QUEUE_URL'),
    dlqUrl: () => required(config.dlqUrl, 'PAYOUT_DLQ_URL'),
    async close() {
      sqs?.destroy();
      await db.destroy();
    },
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
