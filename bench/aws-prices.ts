import type { PriceSource } from './figures.ts';

/**
 * AWS's published on-demand prices, us-east-1, arm64, first tier, as read on the date given. The
 * source is AWS's own pricing page; where only a transcription of it could be read here, the
 * date is that transcription's and the README says so.
 */
const CHECKED = '2026-12-05';

export const PRICES = {
  lambdaGbSecond: {
    item: 'Lambda duration, arm64 (first 7.5 billion GB-s a month)',
    price: 0.0000133334,
    unit: 'USD per GB-second',
    source: 'https://aws.amazon.com/lambda/pricing/',
    checked: CHECKED,
  },
  lambdaRequest: {
    item: 'Lambda requests',
    price: 0.2 / 1_000_000,
    unit: 'USD per request ($0.20 per 1M)',
    source: 'https://aws.amazon.com/lambda/pricing/',
    checked: CHECKED,
  },
  sqsRequest: {
    item: 'SQS standard queue requests (each 64 KB chunk of a payload is one)',
    price: 0.4 / 1_000_000,
    unit: 'USD per request ($0.40 per 1M)',
    source: 'https://aws.amazon.com/sqs/pricing/',
    checked: CHECKED,
  },
  secretsManagerCall: {
    item: 'Secrets Manager API calls',
    price: 0.05 / 10_000,
    unit: 'USD per call ($0.05 per 10 000)',
    source: 'https://aws.amazon.com/secrets-manager/pricing/',
    checked: CHECKED,
  },
  logsIngestionGb: {
    item: 'CloudWatch Logs ingestion, standard class (Lambda logs: first tier)',
    price: 0.5,
    unit: 'USD per GB',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    checked: CHECKED,
  },
  logsStorageGbMonth: {
    item: 'CloudWatch Logs storage',
    price: 0.03,
    unit: 'USD per GB-month',
    source: 'https://aws.amazon.com/cloudwatch/pricing/',
    checked: CHECKED,
  },
} satisfies Record<string, PriceSource>;

export const PRICE_LIST: PriceSource[] = Object.values(PRICES);
