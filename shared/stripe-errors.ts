import Stripe from 'stripe';
import { PermanentPayoutError, TransientPayoutError } from './errors.ts';

/**
 * Sorts a failed Stripe call by what the payout should do next (CONTRACT.md, "Outcomes"):
 * - permanent: Stripe refused the request and retrying minutes later cannot fix it (restricted or
 *   missing destination, missing capability, invalid request): record for admin review.
 * - transient: the outcome may change on retry (network, timeout, 5xx, 429, balance_insufficient),
 *   or a human must look before anything is retried (bad API key): let SQS retry and finally
 *   dead-letter the message, which alarms.
 * outcomeUnknown marks the failures after which a transfer may exist although no answer said so.
 */
const TRANSIENT_INVALID_REQUEST_CODES = new Set([
  'balance_insufficient',
  'lock_timeout',
  'rate_limit',
]);

export function classifyStripeError(error: unknown): PermanentPayoutError | TransientPayoutError {
  if (!(error instanceof Stripe.errors.StripeError)) {
    const message = error instanceof Error ? error.message : String(error);
    return new TransientPayoutError(`Stripe call failed: ${message}`, 'stripe_call_failed', {
      cause: error,
      outcomeUnknown: true,
    });
  }
  const code = error.code ?? stripeTypeCode(error);
  const message = error.message;
  if (
    error instanceof Stripe.errors.StripeInvalidRequestError &&
    !TRANSIENT_INVALID_REQUEST_CODES.has(code)
  ) {
    return new PermanentPayoutError(message, code, { cause: error });
  }
  return new TransientPayoutError(message, code, {
    cause: error,
    outcomeUnknown: mayHaveExecuted(error),
  });
}

/** 5xx, no answer at all, or a key already used (with other terms, or still in flight). */
function mayHaveExecuted(error: Stripe.errors.StripeError): boolean {
  return (
    error instanceof Stripe.errors.StripeConnectionError ||
    error instanceof Stripe.errors.StripeAPIError ||
    error instanceof Stripe.errors.StripeIdempotencyError ||
    (error.statusCode ?? 0) >= 500
  );
}

function stripeTypeCode(error: Stripe.errors.StripeError): string {
  if (error instanceof Stripe.errors.StripeConnectionError) return 'stripe_connection_error';
  if (error instanceof Stripe.errors.StripeRateLimitError) return 'rate_limit';
  if (error instanceof Stripe.errors.StripeAPIError) return 'stripe_api_error';
  if (error instanceof Stripe.errors.StripeAuthenticationError)
    return 'stripe_authentication_error';
  if (error instanceof Stripe.errors.StripePermissionError) return 'stripe_permission_error';
  if (error instanceof Stripe.errors.StripeIdempotencyError) return 'idempotency_error';
  return error.type ?? 'stripe_error';
}
