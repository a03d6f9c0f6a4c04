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

/**
 * How each price was checked on the date above: AWS's pages could not be opened from the machine
 * the bench was written on, so each is the figure AWS publishes as quoted by a dated copy.
 */
export const PRICE_PROVENANCE = [
  'Lambda arm64 $0.0000133334 per GB-s (first 7.5 billion GB-s a month) and $0.20 per 1M requests: as quoted from AWS’s page by cloudchipr.com (“AWS Lambda Pricing Breakdown”, 2024), unchanged since arm64 pricing began in 2021.',
  'SQS $0.40 per 1M standard requests (first 100 billion a month), each 64 KB of payload one request: as quoted by cloudburn.io (March 2026) and factualminds.com (June 2026).',
  'Secrets Manager $0.05 per 10 000 API calls (and $0.40 per secret a month, not per payout): from a transcription of AWS’s page dated 2026-09-20 (api-evangelist, “amazon secrets manager plans pricing”).',
  'CloudWatch Logs $0.50 per GB ingested (standard class; Lambda logs’ first tier since May 2025) and $0.03 per GB-month stored: as quoted by c3x.dev and hykell.com (June 2026).',
];
