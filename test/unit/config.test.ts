import { describe, expect, it } from 'vitest';
import {
  parseScanConfig,
  parseStripeEventsConfig,
  parseTransferConfig,
} from '../../shared/config.ts';
import { ConfigError } from '../../shared/errors.ts';

const TRANSFER_ENV = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/payouts',
  STRIPE_SECRET_KEY: 'sk_test_abc',
  PAYOUT_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/payouts',
};
const SCAN_ENV = {
  DATABASE_URL: 'postgres://u:p@127.0.0.1:5432/payouts',
  PAYOUT_QUEUE_URL: 'https://sqs.eu-west-1.amazonaws.com/123456789012/payouts',
};

function configError(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('parseTransferConfig', () => {
  it('applies the contract defaults', () => {
    expect(parseTransferConfig(TRANSFER_ENV)).toEqual({
      database: { url: TRANSFER_ENV.DATABASE_URL },
      graceHours: 24,
      paused: false,
      stripeKey: { key: 'sk_test_abc' },
      stripeApiBase: undefined,
      feeBps: 2000,
      limits: {
        perTransfer: { jpy: 1_500_000, krw: 14_000_000, '*': 1_000_000 },
        dailyTotal: { jpy: 150_000_000, krw: 1_400_000_000, '*': 100_000_000 },
      },
      // A sandbox's share: an environment that forgets its budget stays inside every Stripe limit.
      stripeBudget: { createsPerSecond: 5, readsPerSecond: 5 },
      queueUrl: TRANSFER_ENV.PAYOUT_QUEUE_URL,
    });
  });

  it('reads the Stripe request budget, fractions included', () => {
    const config = parseTransferConfig({
      ...TRANSFER_ENV,
      STRIPE_CREATES_PER_SECOND: '20',
      STRIPE_READS_PER_SECOND: '0.5',
    });
    expect(config.stripeBudget).toEqual({ createsPerSecond: 20, readsPerSecond: 0.5 });
  });

  it.each([
    ['0', 'STRIPE_CREATES_PER_SECOND must be above 0'],
    ['fast', 'STRIPE_CREATES_PER_SECOND must be a number of requests per second, like 20 or 0.5'],
    ['20000', 'STRIPE_CREATES_PER_SECOND must be at most 10000'],
  ])('names a Stripe budget of %s with one clear line', (value, message) => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, STRIPE_CREATES_PER_SECOND: value }),
    );
    expect(error.message).toBe(`Invalid configuration: ${message}`);
  });

  it('names a missing payout queue, where deferred payouts are handed back', () => {
    const { PAYOUT_QUEUE_URL: _, ...withoutQueue } = TRANSFER_ENV;
    const error = configError(() => parseTransferConfig(withoutQueue));
    expect(error.message).toBe('Invalid configuration: PAYOUT_QUEUE_URL is required');
  });

  it('reads per-currency amount limits', () => {
    const config = parseTransferConfig({
      ...TRANSFER_ENV,
      PAYOUT_MAX_TRANSFER_AMOUNTS: 'usd=500000,*=100000',
    });
    expect(config.limits.perTransfer).toEqual({ usd: 500_000, '*': 100_000 });
  });

  it('names a limit without a default for the other currencies', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, PAYOUT_MAX_DAILY_TOTALS: 'usd=500000' }),
    );
    expect(error.message).toBe(
      'Invalid configuration: PAYOUT_MAX_DAILY_TOTALS must give a default for every other currency with *=<amount>',
    );
  });

  it.each([
    ['PAYOUT_MAX_DAILY_TOTALS', 'usd=99999999999999999999,*=100000000'],
    ['PAYOUT_MAX_TRANSFER_AMOUNTS', '*=9007199254740992'],
  ])(
    'refuses at start a %s amount that Postgres bigint sums and JavaScript cannot hold exactly',
    (name, value) => {
      const error = configError(() => parseTransferConfig({ ...TRANSFER_ENV, [name]: value }));
      expect(error.message).toBe(
        `Invalid configuration: ${name} must give amounts of at most 9007199254740991 (2^53 - 1) minor units`,
      );
    },
  );

  it('names a malformed limit', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, PAYOUT_MAX_TRANSFER_AMOUNTS: 'USD:5' }),
    );
    expect(error.message).toContain('PAYOUT_MAX_TRANSFER_AMOUNTS must look like');
  });

  it('reads secrets from Secrets Manager ARNs when no local values are given', () => {
    const config = parseTransferConfig({
      DB_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:db',
      STRIPE_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:stripe',
      PAYOUT_QUEUE_URL: TRANSFER_ENV.PAYOUT_QUEUE_URL,
    });
    expect(config.database).toEqual({ secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:db' });
    expect(config.stripeKey).toEqual({
      secretArn: 'arn:aws:secretsmanager:eu-west-1:1:secret:stripe',
    });
  });

  it('turns the kill switch on only for "true"', () => {
    expect(parseTransferConfig({ ...TRANSFER_ENV, PAYOUTS_PAUSED: 'true' }).paused).toBe(true);
    expect(parseTransferConfig({ ...TRANSFER_ENV, PAYOUTS_PAUSED: 'false' }).paused).toBe(false);
  });

  it('names a malformed kill switch instead of guessing', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, PAYOUTS_PAUSED: 'yes' }),
    );
    expect(error.message).toBe('Invalid configuration: PAYOUTS_PAUSED must be "true" or "false"');
  });

  it('names a fee that is not a whole number', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, PLATFORM_FEE_BPS: '20%' }),
    );
    expect(error.message).toBe(
      'Invalid configuration: PLATFORM_FEE_BPS must be a whole number from 0 to 10000',
    );
  });

  it('names a fee above 100 %', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, PLATFORM_FEE_BPS: '10001' }),
    );
    expect(error.message).toBe('Invalid configuration: PLATFORM_FEE_BPS must be at most 10000');
  });

  it('names a missing Stripe key', () => {
    const error = configError(() =>
      parseTransferConfig({
        DATABASE_URL: TRANSFER_ENV.DATABASE_URL,
        PAYOUT_QUEUE_URL: TRANSFER_ENV.PAYOUT_QUEUE_URL,
      }),
    );
    expect(error.message).toBe(
      'Invalid configuration: STRIPE_SECRET_KEY or STRIPE_SECRET_ARN must be set',
    );
  });

  it('does not echo a malformed secret key', () => {
    const error = configError(() =>
      parseTransferConfig({ ...TRANSFER_ENV, STRIPE_SECRET_KEY: 'pk_live_notsecretbutwrong' }),
    );
    expect(error.message).toBe(
      'Invalid configuration: STRIPE_SECRET_KEY must be a Stripe secret key',
    );
    expect(error.message).not.toContain('pk_live_notsecretbutwrong');
  });

  it('names a bad STRIPE_API_BASE and a bad grace period together on one line', () => {
    const error = configError(() =>
      parseTransferConfig({
        ...TRANSFER_ENV,
        STRIPE_API_BASE: 'localhost',
        PAYOUT_GRACE_HOURS: '-1',
      }),
    );
    expect(error.message).toContain('PAYOUT_GRACE_HOURS must be a whole number');
    expect(error.message).toContain('STRIPE_API_BASE must be an http(s) URL');
    expect(error.message).not.toContain('\n');
  });
});

describe('parseScanConfig', () => {
  it('requires the queue URL', () => {
    const error = configError(() => parseScanConfig({ DATABASE_URL: SCAN_ENV.DATABASE_URL }));
    expect(error.message).toBe('Invalid configuration: PAYOUT_QUEUE_URL is required');
  });

  it('names a missing database', () => {
    const error = configError(() =>
      parseScanConfig({ PAYOUT_QUEUE_URL: SCAN_ENV.PAYOUT_QUEUE_URL }),
    );
    expect(error.message).toBe('Invalid configuration: DATABASE_URL or DB_SECRET_ARN must be set');
  });

  it('treats an empty variable as unset', () => {
    expect(parseScanConfig({ ...SCAN_ENV, PAYOUT_GRACE_HOURS: '' }).graceHours).toBe(24);
  });

  it('parses a custom grace period and page size', () => {
    const config = parseScanConfig({
      ...SCAN_ENV,
      PAYOUT_GRACE_HOURS: '48',
      SCAN_PAGE_SIZE: '250',
    });
    expect(config.graceHours).toBe(48);
    expect(config.pageSize).toBe(250);
  });
});

describe('variables read by the libraries themselves, checked at start like the rest', () => {
  it.each([
    [
      'SCAN_PAGE_SIZE',
      '0',
      'Invalid configuration: SCAN_PAGE_SIZE must be at least 1',
      parseScanConfig,
      SCAN_ENV,
    ],
    [
      'POWERTOOLS_LOG_LEVEL',
      'LOUD',
      'Invalid configuration: POWERTOOLS_LOG_LEVEL must be one of TRACE, DEBUG, INFO, WARN, ERROR, CRITICAL, SILENT',
      parseTransferConfig,
      TRANSFER_ENV,
    ],
    [
      'AWS_ENDPOINT_URL_SQS',
      'localhost:4566',
      'Invalid configuration: AWS_ENDPOINT_URL_SQS must be an http(s) URL',
      parseScanConfig,
      SCAN_ENV,
    ],
  ])('names %s=%s with one line', (name, value, message, parse, env) => {
    const error = configError(() => parse({ ...env, [name]: value }));

    expect(error.message).toBe(message);
  });

  it('accepts a log level in any case, as Powertools does', () => {
    expect(() => parseScanConfig({ ...SCAN_ENV, POWERTOOLS_LOG_LEVEL: 'debug' })).not.toThrow();
  });
});

describe('parseStripeEventsConfig', () => {
  const STRIPE_EVENTS_ENV = {
    ...TRANSFER_ENV,
    STRIPE_EVENT_SOURCE: 'aws.partner/stripe.com/ed_61SXyzAbc',
  };

  it('reads the partner event source, the payout queue and the read budget', () => {
    expect(parseStripeEventsConfig({ ...STRIPE_EVENTS_ENV, STRIPE_READS_PER_SECOND: '2' })).toEqual(
      {
        database: { url: TRANSFER_ENV.DATABASE_URL },
        graceHours: 24,
        paused: false,
        stripeKey: { key: 'sk_test_abc' },
        stripeApiBase: undefined,
        stripeBudget: { createsPerSecond: 5, readsPerSecond: 2 },
        queueUrl: TRANSFER_ENV.PAYOUT_QUEUE_URL,
        eventSource: 'aws.partner/stripe.com/ed_61SXyzAbc',
      },
    );
  });

  it('names a missing or malformed event source', () => {
    expect(configError(() => parseStripeEventsConfig(TRANSFER_ENV)).message).toBe(
      'Invalid configuration: STRIPE_EVENT_SOURCE is required',
    );
    expect(
      configError(() =>
        parseStripeEventsConfig({ ...STRIPE_EVENTS_ENV, STRIPE_EVENT_SOURCE: 'stripe.com/ed_1' }),
      ).message,
    ).toBe(
      'Invalid configuration: STRIPE_EVENT_SOURCE must be a Stripe partner event source name, aws.partner/stripe.com/ed_…',
    );
  });
});
