import { PRICES } from './aws-prices.ts';
import { type Figure, round, secondaryFigure } from './figures.ts';

/** What one run measured that the cost of 1 000 000 payouts is computed from. */
export interface CostInputs {
  transfer: {
    memoryMb: number;
    /** Billed Lambda time (each invocation rounded up to the ms) per payout. */
    billedMsPerPayout: number;
    invocationsPerPayout: number;
    /** Log and EMF bytes the handler wrote per payout at the stack's log level (INFO). */
    logBytesPerPayout: number;
    handBacksPerPayout: number;
    /** Payouts per second sustained at prod's concurrency: how long 1 000 000 take. */
    payoutsPerSecond: number;
    concurrency: number;
    logRetentionMonths: number;
  };
  scan: {
    memoryMb: number;
    /** Billed time of one scan per eligible session enqueued. */
    billedMsPerSession: number;
  };
  secretMaxAgeSeconds: number;
}

const PAYOUTS = 1_000_000;
/** Lambda's START, END and REPORT lines per invocation: an assumption, about their usual size. */
export const PLATFORM_LOG_BYTES_PER_INVOCATION = 350;
/** Secrets each transfer Lambda reads (the database's and Stripe's). */
const SECRETS_PER_TRANSFER_LAMBDA = 2;

export const COST_ASSUMPTIONS = [
  'us-east-1 list prices, first tier, no free tier, no savings plan.',
  'The transfer Lambda billed for its measured invocations at Stripe latency 300 ms with prod’s concurrency (slot waits included); the scan’s measured time scaled linearly to 1 000 000 sessions.',
  'SQS: one SendMessageBatch per 10 sessions (scan), one ReceiveMessage and one DeleteMessageBatch per transfer invocation (the event source mapping), one SendMessage per hand-back; idle long polls of the event source mapping are a fixed cost per day, not counted.',
  'Secrets Manager: each of prod’s transfer Lambdas reads its two secrets at its start and again after each 5-minute cache age while the payouts last (an upper bound); the scan reads one.',
  `CloudWatch: the log and EMF bytes the transfer handler wrote at INFO, plus ${PLATFORM_LOG_BYTES_PER_INVOCATION} bytes of Lambda's own lines per invocation (assumed), ingested and stored uncompressed (an upper bound) for prod’s retention; custom metrics are billed per metric and month, not per payout, and are not counted; nor are X-Ray traces, alarms and the dashboard.`,
  'Not counted: stripe-events (per Stripe event, not per payout), the daily reconciliation and the payout events sweeper (scheduled, their time not measured here).',
];

/** The cost of 1 000 000 payouts, per service, in USD. */
export function costFigures(inputs: CostInputs): Figure[] {
  const { transfer, scan } = inputs;
  const gbSeconds =
    (PAYOUTS * transfer.billedMsPerPayout * transfer.memoryMb) / 1024 / 1000 +
    (PAYOUTS * scan.billedMsPerSession * scan.memoryMb) / 1024 / 1000;
  const invocations = PAYOUTS * transfer.invocationsPerPayout + 1;
  const lambda = gbSeconds * PRICES.lambdaGbSecond.price + invocations * PRICES.lambdaRequest.price;
  const sqsRequests =
    PAYOUTS / 10 +
    2 * PAYOUTS * transfer.invocationsPerPayout +
    PAYOUTS * transfer.handBacksPerPayout;
  const sqs = sqsRequests * PRICES.sqsRequest.price;
  const runSeconds = PAYOUTS / transfer.payoutsPerSecond;
  const secretCalls =
    transfer.concurrency *
      SECRETS_PER_TRANSFER_LAMBDA *
      Math.ceil(runSeconds / inputs.secretMaxAgeSeconds) +
    1;
  const secrets = secretCalls * PRICES.secretsManagerCall.price;
  const logGb =
    (PAYOUTS * transfer.logBytesPerPayout + invocations * PLATFORM_LOG_BYTES_PER_INVOCATION) / 1e9;
  const cloudWatch =
    logGb * PRICES.logsIngestionGb.price +
    logGb * transfer.logRetentionMonths * PRICES.logsStorageGbMonth.price;
  const per = 'USD per 1M payouts';
  return [
    secondaryFigure(
      'cost: Lambda (transfer + scan)',
      round(lambda, 2),
      per,
      `${round(gbSeconds, 0)} GB-s and ${round(invocations, 0)} requests`,
    ),
    secondaryFigure('cost: SQS', round(sqs, 2), per, `${round(sqsRequests, 0)} requests`),
    secondaryFigure(
      'cost: Secrets Manager',
      round(secrets, 4),
      per,
      `${secretCalls} GetSecretValue calls over ${round(runSeconds / 3600, 1)} h of payouts`,
    ),
    secondaryFigure(
      'cost: CloudWatch Logs',
      round(cloudWatch, 2),
      per,
      `${round(logGb, 2)} GB ingested, kept ${transfer.logRetentionMonths} months`,
    ),
    secondaryFigure('cost: total', round(lambda + sqs + secrets + cloudWatch, 2), per),
  ];
}
