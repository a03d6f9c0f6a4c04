import { describe, expect, it } from 'vitest';
import {
  parseEventsConfig,
  parseReconcileConfig,
  parseTransferConfig,
} from '../../shared/config.ts';

const DATABASE_URL = 'postgres://u:p@127.0.0.1:5432/payouts';
const BUS_ARN = 'arn:aws:events:eu-central-1:123456789012:event-bus/payouts-prod';

describe('the payout events configuration', () => {
  it('lets the transfer Lambda run without a bus: its events then wait for the sweeper', () => {
    const config = parseTransferConfig({
      DATABASE_URL,
      STRIPE_SECRET_KEY: 'sk_test_abc',
      PAYOUT_QUEUE_URL: 'https://sqs.eu-central-1.amazonaws.com/123456789012/payouts',
    });

    expect(config.eventBus).toBeUndefined();
  });

  it('takes the bus by ARN or by name', () => {
    expect(parseEventsConfig({ DATABASE_URL, PAYOUT_EVENT_BUS: BUS_ARN }).eventBus).toBe(BUS_ARN);
    expect(parseEventsConfig({ DATABASE_URL, PAYOUT_EVENT_BUS: 'payouts-dev' }).eventBus).toBe(
      'payouts-dev',
    );
  });

  it('fails the sweeper at start with one line naming PAYOUT_EVENT_BUS when it is missing or malformed', () => {
    expect(() => parseEventsConfig({ DATABASE_URL })).toThrow(
      'Invalid configuration: PAYOUT_EVENT_BUS is required',
    );
    expect(() => parseEventsConfig({ DATABASE_URL, PAYOUT_EVENT_BUS: 'not a bus!' })).toThrow(
      'Invalid configuration: PAYOUT_EVENT_BUS must be an EventBridge bus name or ARN',
    );
  });
});

describe('the daily reconciliation configuration', () => {
  it('reads the database, the Stripe key and the read budget, and needs no queue', () => {
    expect(
      parseReconcileConfig({
        DATABASE_URL,
        STRIPE_SECRET_ARN: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:stripe',
        STRIPE_READS_PER_SECOND: '20',
      }),
    ).toEqual({
      database: { url: DATABASE_URL },
      stripeKey: { secretArn: 'arn:aws:secretsmanager:eu-central-1:123456789012:secret:stripe' },
      stripeApiBase: undefined,
      stripeBudget: { createsPerSecond: 5, readsPerSecond: 20 },
    });
  });

  it('fails at start naming the Stripe key when there is none', () => {
    expect(() => parseReconcileConfig({ DATABASE_URL })).toThrow(
      'Invalid configuration: STRIPE_SECRET_KEY or STRIPE_SECRET_ARN must be set',
    );
  });
});
