import type { StripeErrorCode, TransientCode } from './payout-codes.ts';

/**
 * Errors split by what the caller does with them:
 * - PermanentPayoutError: retrying minutes later cannot help; the payout fails (held for admin
 *   review) and the message is acknowledged.
 * - TransientPayoutError: throw it on, so SQS redelivers the message and finally dead-letters it.
 */
export class PayoutError extends Error {
  constructor(
    message: string,
    readonly code: TransientCode | StripeErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PayoutError';
  }
}

/** Stripe refused the transfer for a reason only a person can fix. */
export class PermanentPayoutError extends PayoutError {
  declare readonly code: StripeErrorCode;

  constructor(message: string, code: StripeErrorCode, options?: { cause?: unknown }) {
    super(message, code, options);
    this.name = 'PermanentPayoutError';
  }
}

export class TransientPayoutError extends PayoutError {
  constructor(
    message: string,
    code: TransientCode | StripeErrorCode,
    options?: { cause?: unknown },
  ) {
    super(message, code, options);
    this.name = 'TransientPayoutError';
  }
}

/**
 * Not a failure: the payout could not start or finish now (too little time left in the invocation,
 * the Stripe request budget fully booked, Stripe's 429 with no time to back off). The record is
 * handed back to the queue as a fresh message, so waiting costs no receive and pages nobody.
 */
export class DeferredPayoutError extends TransientPayoutError {
  constructor(message: string, code: 'deferred' | 'rate_limited', options?: { cause?: unknown }) {
    super(message, code, options);
    this.name = 'DeferredPayoutError';
  }
}

/**
 * What the Stripe client's HTTP layer throws instead of sending a request for which no slot of the
 * budget came in time (stripe-budget.ts): the SDK reports it as a connection error.
 */
export class NoStripeSlotError extends Error {
  constructor(readonly endpoint: string) {
    super(`No slot of the Stripe request budget for ${endpoint} in time; the request was not sent`);
    this.name = 'NoStripeSlotError';
  }
}

/** Another invocation holds the payout's lease right now; SQS brings the message back later. */
export class PayoutInProgressError extends TransientPayoutError {
  constructor(sessionId: string) {
    super(`Payout for session ${sessionId} is in progress elsewhere`, 'payout_in_progress');
    this.name = 'PayoutInProgressError';
  }
}

/** An SQS body that is not {"sessionId":"<uuid>"}; it is never acknowledged, so it ends in the DLQ. */
export class MalformedMessageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedMessageError';
  }
}

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** The scan could not enqueue every eligible session; it throws after sending all it could. */
export class ScanIncompleteError extends Error {
  constructor(
    readonly failedSessionIds: readonly string[],
    readonly enqueued: number,
  ) {
    super(
      `Scan enqueued ${enqueued} sessions but could not enqueue ${failedSessionIds.length}: ` +
        `${failedSessionIds.slice(0, 10).join(', ')}${failedSessionIds.length > 10 ? ', …' : ''}`,
    );
    this.name = 'ScanIncompleteError';
  }
}

/** The daily reconciliation could not compare its whole range (Stripe or the database down). */
export class ReconciliationIncompleteError extends Error {
  constructor(since: Date, until: Date, options: { cause: unknown }) {
    const cause = options.cause instanceof Error ? options.cause.message : String(options.cause);
    super(
      `Reconciliation of ${since.toISOString()} → ${until.toISOString()} could not complete: ${cause}`,
      options,
    );
    this.name = 'ReconciliationIncompleteError';
  }
}
