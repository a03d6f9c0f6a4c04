import { z } from 'zod';
import { ConfigError } from './errors.ts';
import type { AmountLimits } from './payout-policy.ts';
import type { StripeBudget } from './stripe-budget.ts';

/**
 * Environment variables are parsed here once into typed values (README, "Configuration").
 * A bad variable fails at start with one line naming it; values are never echoed (some are secrets).
 */

const integerIn = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, `must be a whole number from ${min} to ${max}`)
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** Requests per second: a positive decimal, at most 10 000 (Stripe's own limits are far lower). */
const perSecond = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of requests per second, like 20 or 0.5')
  .transform(Number)
  .pipe(z.number().positive('must be above 0').max(10_000, 'must be at most 10000'));

const flag = z.enum(['true', 'false'], { error: 'must be "true" or "false"' });

/** `usd=1000000,jpy=1500000,*=1000000`: minor units per currency, `*` for every other currency. */
const amountsPerCurrency = z
  .string()
  .trim()
  .regex(
    /^(\*|[a-z]{3})=\d+(,(\*|[a-z]{3})=\d+)*$/,
    'must look like "usd=1000000,jpy=1500000,*=1000000" (minor units; * for the rest)',
  )
  .transform((text) =>
    Object.fromEntries(
      text.split(',').map((pair) => {
        const [currency = '', amount = ''] = pair.split('=');
        return [currency, Number(amount)];
      }),
    ),
  )
  .refine((limits) => '*' in limits, 'must give a default for every other currency with *=<amount>')
  // Amounts are compared with Postgres bigint sums and JavaScript numbers: both must hold them exactly.
  .refine(
    (limits) => Object.values(limits).every((amount) => Number.isSafeInteger(amount)),
    `must give amounts of at most ${Number.MAX_SAFE_INTEGER} (2^53 - 1) minor units`,
  );

const httpUrl = z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' });

/** Powertools Logger's levels, in any case (it reads the variable itself, at import). */
const logLevel = z
  .string()
  .trim()
  .toUpperCase()
  .pipe(
    z.enum(['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'CRITICAL', 'SILENT'], {
      error: 'must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
    }),
  );

/** An EventBridge bus: its name, or its ARN (a bus in another account). */
const eventBusName = z
  .string()
  .trim()
  .regex(
    /^(arn:[\w-]+:events:[\w-]+:\d{12}:event-bus\/)?[\w.\-/]{1,256}$/,
    'must be an EventBridge bus name or ARN',
  );

const commonSchema = z.object({
  DATABASE_URL: z
    .string()
    .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// connection string')
    .optional(),
  DB_SECRET_ARN: z.string().startsWith('arn:', 'must be a Secrets Manager ARN').optional(),
  PAYOUT_GRACE_HOURS: integerIn(0, 24 * 365).default(24),
  PAYOUTS_PAUSED: flag.default('false'),
  // Read by Powertools and the AWS SDK themselves: checked here so that a typo fails at start.
  POWERTOOLS_LOG_LEVEL: logLevel.optional(),
  AWS_ENDPOINT_URL_SQS: httpUrl.optional(),
});

const scanSchema = commonSchema.extend({
  PAYOUT_QUEUE_URL: httpUrl,
  SCAN_PAGE_SIZE: integerIn(1, 10_000).default(1000),
});

/** The Stripe key and where to send requests, and the request budget every caller shares. */
const stripeAccess = {
  STRIPE_SECRET_KEY: z
    .string()
    .regex(/^(sk|rk)_\w+$/, 'must be a Stripe secret key')
    .optional(),
  STRIPE_SECRET_ARN: z.string().startsWith('arn:', 'must be a Secrets Manager ARN').optional(),
  STRIPE_API_BASE: httpUrl.optional(),
  // The Stripe request budget of every Lambda together; the default fits a sandbox.
  STRIPE_CREATES_PER_SECOND: perSecond.prefault('5'),
  STRIPE_READS_PER_SECOND: perSecond.prefault('5'),
};

const transferSchema = commonSchema.extend({
  ...stripeAccess,
  PLATFORM_FEE_BPS: integerIn(0, 10_000).default(2000),
  // About 10 000 of the major unit per transfer, 100 times that per day; zero-decimal currencies in kind.
  PAYOUT_MAX_TRANSFER_AMOUNTS: amountsPerCurrency.prefault('jpy=1500000,krw=14000000,*=1000000'),
  PAYOUT_MAX_DAILY_TOTALS: amountsPerCurrency.prefault('jpy=150000000,krw=1400000000,*=100000000'),
  // A deferred payout is handed back to its queue as a fresh message.
  PAYOUT_QUEUE_URL: httpUrl,
  // Unset: outcomes' events wait in the outbox for the sweeper (lambdas/payout-events).
  PAYOUT_EVENT_BUS: eventBusName.optional(),
});

/** The payout events sweeper: the outbox and the bus it publishes to. */
const eventsSchema = commonSchema.extend({
  PAYOUT_EVENT_BUS: eventBusName,
});

/** The daily reconciliation: Stripe's transfers read within the read budget. */
const reconcileSchema = commonSchema.extend({
  STRIPE_SECRET_KEY: transferSchema.shape.STRIPE_SECRET_KEY,
  STRIPE_SECRET_ARN: transferSchema.shape.STRIPE_SECRET_ARN,
  STRIPE_API_BASE: transferSchema.shape.STRIPE_API_BASE,
  STRIPE_CREATES_PER_SECOND: transferSchema.shape.STRIPE_CREATES_PER_SECOND,
  STRIPE_READS_PER_SECOND: transferSchema.shape.STRIPE_READS_PER_SECOND,
});

const stripeEventsSchema = commonSchema.extend({
  ...stripeAccess,
  // Where a mentor's waiting sessions are enqueued once their account can receive transfers.
  PAYOUT_QUEUE_URL: httpUrl,
  // The partner event source the stack's event bus is on: an event from any other source is refused.
  STRIPE_EVENT_SOURCE: z
    .string()
    .regex(
      /^aws\.partner\/stripe\.com\/ed_\w+$/,
      'must be a Stripe partner event source name, aws.partner/stripe.com/ed_…',
    ),
});

const operatorSchema = transferSchema.extend({
  PAYOUT_QUEUE_URL: httpUrl.optional(),
  PAYOUT_DLQ_URL: httpUrl.optional(),
  // The deployed functions, by name: the CLI reads the transfer one's settings and invokes the scan.
  PAYOUT_SCAN_FUNCTION: z.string().min(1).optional(),
  PAYOUT_TRANSFER_FUNCTION: z.string().min(1).optional(),
});

export type DatabaseSource = { url: string } | { secretArn: string };
export type StripeKeySource = { key: string } | { secretArn: string };

export interface ScanConfig {
  database: DatabaseSource;
  graceHours: number;
  paused: boolean;
  queueUrl: string;
  pageSize: number;
}

export interface TransferConfig {
  database: DatabaseSource;
  graceHours: number;
  paused: boolean;
  stripeKey: StripeKeySource;
  stripeApiBase: string | undefined;
  feeBps: number;
  limits: AmountLimits;
  stripeBudget: StripeBudget;
  queueUrl: string;
  /** Where outcomes' events are published right after commit; unset: by the sweeper only. */
  eventBus: string | undefined;
}

export interface EventsConfig {
  database: DatabaseSource;
  eventBus: string;
}

export interface ReconcileConfig {
  database: DatabaseSource;
  stripeKey: StripeKeySource;
  stripeApiBase: string | undefined;
  stripeBudget: StripeBudget;
}

export interface StripeEventsConfig {
  database: DatabaseSource;
  graceHours: number;
  paused: boolean;
  stripeKey: StripeKeySource;
  stripeApiBase: string | undefined;
  stripeBudget: StripeBudget;
  queueUrl: string;
  eventSource: string;
}

/** The operator CLI: the database always; Stripe and the queues only for the commands that use them. */
export interface OperatorConfig {
  database: DatabaseSource;
  graceHours: number;
  /** PAYOUTS_PAUSED=true on the functions: paused whatever `payouts resume` says. */
  paused: boolean;
  feeBps: number;
  limits: AmountLimits;
  stripeKey: StripeKeySource | undefined;
  stripeApiBase: string | undefined;
  stripeBudget: StripeBudget;
  queueUrl: string | undefined;
  dlqUrl: string | undefined;
  scanFunction: string | undefined;
  transferFunction: string | undefined;
}

type Env = Record<string, string | undefined>;

export function parseOperatorConfig(env: Env): OperatorConfig {
  const vars = parseOrThrow(operatorSchema, env);
  const stripeKey =
    vars.STRIPE_SECRET_KEY || vars.STRIPE_SECRET_ARN ? stripeKeySource(vars) : undefined;
  return {
    database: databaseSource(vars),
    graceHours: vars.PAYOUT_GRACE_HOURS,
    paused: vars.PAYOUTS_PAUSED === 'true',
    feeBps: vars.PLATFORM_FEE_BPS,
    limits: amountLimits(vars),
    stripeKey,
    stripeApiBase: vars.STRIPE_API_BASE,
    stripeBudget: stripeBudget(vars),
    queueUrl: vars.PAYOUT_QUEUE_URL,
    dlqUrl: vars.PAYOUT_DLQ_URL,
    scanFunction: vars.PAYOUT_SCAN_FUNCTION,
    transferFunction: vars.PAYOUT_TRANSFER_FUNCTION,
  };
}

export function parseScanConfig(env: Env): ScanConfig {
  const vars = parseOrThrow(scanSchema, env);
  return {
    database: databaseSource(vars),
    graceHours: vars.PAYOUT_GRACE_HOURS,
    paused: vars.PAYOUTS_PAUSED === 'true',
    queueUrl: vars.PAYOUT_QUEUE_URL,
    pageSize: vars.SCAN_PAGE_SIZE,
  };
}

export function parseTransferConfig(env: Env): TransferConfig {
  const vars = parseOrThrow(transferSchema, env);
  return {
    database: databaseSource(vars),
    graceHours: vars.PAYOUT_GRACE_HOURS,
    paused: vars.PAYOUTS_PAUSED === 'true',
    stripeKey: stripeKeySource(vars),
    stripeApiBase: vars.STRIPE_API_BASE,
    feeBps: vars.PLATFORM_FEE_BPS,
    limits: amountLimits(vars),
    stripeBudget: stripeBudget(vars),
    queueUrl: vars.PAYOUT_QUEUE_URL,
    eventBus: vars.PAYOUT_EVENT_BUS,
  };
}

export function parseEventsConfig(env: Env): EventsConfig {
  const vars = parseOrThrow(eventsSchema, env);
  return { database: databaseSource(vars), eventBus: vars.PAYOUT_EVENT_BUS };
}

export function parseReconcileConfig(env: Env): ReconcileConfig {
  const vars = parseOrThrow(reconcileSchema, env);
  return {
    database: databaseSource(vars),
    stripeKey: stripeKeySource(vars),
    stripeApiBase: vars.STRIPE_API_BASE,
    stripeBudget: stripeBudget(vars),
  };
}

export function parseStripeEventsConfig(env: Env): StripeEventsConfig {
  const vars = parseOrThrow(stripeEventsSchema, env);
  return {
    database: databaseSource(vars),
    graceHours: vars.PAYOUT_GRACE_HOURS,
    paused: vars.PAYOUTS_PAUSED === 'true',
    stripeKey: stripeKeySource(vars),
    stripeApiBase: vars.STRIPE_API_BASE,
    stripeBudget: stripeBudget(vars),
    queueUrl: vars.PAYOUT_QUEUE_URL,
    eventSource: vars.STRIPE_EVENT_SOURCE,
  };
}

function stripeBudget(
  vars: Pick<
    z.infer<typeof transferSchema>,
    'STRIPE_CREATES_PER_SECOND' | 'STRIPE_READS_PER_SECOND'
  >,
): StripeBudget {
  return {
    createsPerSecond: vars.STRIPE_CREATES_PER_SECOND,
    readsPerSecond: vars.STRIPE_READS_PER_SECOND,
  };
}

function amountLimits(
  vars: Pick<
    z.infer<typeof transferSchema>,
    'PAYOUT_MAX_TRANSFER_AMOUNTS' | 'PAYOUT_MAX_DAILY_TOTALS'
  >,
): AmountLimits {
  return {
    perTransfer: vars.PAYOUT_MAX_TRANSFER_AMOUNTS,
    dailyTotal: vars.PAYOUT_MAX_DAILY_TOTALS,
  };
}

function databaseSource(vars: z.infer<typeof commonSchema>): DatabaseSource {
  if (vars.DATABASE_URL) return { url: vars.DATABASE_URL };
  if (vars.DB_SECRET_ARN) return { secretArn: vars.DB_SECRET_ARN };
  throw new ConfigError('Invalid configuration: DATABASE_URL or DB_SECRET_ARN must be set');
}

function stripeKeySource(
  vars: Pick<z.infer<typeof transferSchema>, 'STRIPE_SECRET_KEY' | 'STRIPE_SECRET_ARN'>,
): StripeKeySource {
  if (vars.STRIPE_SECRET_KEY) return { key: vars.STRIPE_SECRET_KEY };
  if (vars.STRIPE_SECRET_ARN) return { secretArn: vars.STRIPE_SECRET_ARN };
  throw new ConfigError(
    'Invalid configuration: STRIPE_SECRET_KEY or STRIPE_SECRET_ARN must be set',
  );
}

function parseOrThrow<S extends z.ZodType>(schema: S, env: Env): z.output<S> {
  // Empty strings count as unset, as they do for most tools that read the environment.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(present);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.');
    return present[name] === undefined ? `${name} is required` : `${name} ${issue.message}`;
  });
  throw new ConfigError(`Invalid configuration: ${problems.join('; ')}`);
}
