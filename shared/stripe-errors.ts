import Stripe from 'stripe';
import { NoStripeSlotError, PermanentPayoutError, TransientPayoutError } from './errors.ts';
import type { StripeErrorCode, TransientCode, TransientRefusalCode } from './payout-codes.ts';

/**
 * What a failed `POST /v1/transfers` proves about its idempotency key (docs/payout-protocol.md):
 * - refused: a definitive 4xx (not 409, 429, idempotency_error, nor an auth or routing failure
 *   that never reached the key): this request created nothing. Only a replayed one (`stored`)
 *   proves that nothing ever will under the key: a fresh refusal may be one Stripe did not store,
 *   and another request under the key may still run. Permanent (the payout fails, for admin
 *   review) unless retrying later can fix it (balance_insufficient).
 * - stored_failure: Stripe replayed a stored 5xx: every request under the key has finished, but
 *   one may have created the transfer.
 * - key_rejected: idempotency_error: the key was used with other parameters; it cannot be resent.
 * - unknown: everything else says nothing definitive about the key: a timeout, a dropped
 *   connection, a 409 (still executing), a fresh 5xx (a request under the key may still run or
 *   may have created the transfer), and a 401, 403 or a 404 without Stripe's code (refused
 *   before Stripe looked at the key).
 * - rate_limited: a 429, refused before Stripe looked at the key (so, as for unknown, the key
 *   stays); `reason` is Stripe-Rate-Limited-Reason, which says how long to back off.
 */
export type TransferFailure =
  | { kind: 'refused'; stored: boolean; error: PermanentPayoutError | TransientPayoutError }
  | { kind: 'stored_failure' | 'key_rejected' | 'unknown'; error: TransientPayoutError }
  | { kind: 'rate_limited'; reason: string | undefined; error: TransientPayoutError };

const TRANSIENT_REFUSAL_CODES: ReadonlySet<string> = new Set<TransientRefusalCode>([
  'balance_insufficient',
]);

export function classifyTransferFailure(error: unknown): TransferFailure {
  if (!(error instanceof Stripe.errors.StripeError)) {
    return { kind: 'unknown', error: transient(error, 'stripe_call_failed') };
  }
  const code = stripeErrorCode(error);
  const status = error.statusCode ?? 0;
  const replayed = error.headers?.['idempotent-replayed'] === 'true';
  // By Stripe's error type, not the SDK's class: stripe-node files some idempotency errors as API errors.
  const idempotencyError =
    error instanceof Stripe.errors.StripeIdempotencyError || error.rawType === 'idempotency_error';
  if (idempotencyError && status === 400) {
    return { kind: 'key_rejected', error: transient(error, code) };
  }
  if (status === 429) {
    return {
      kind: 'rate_limited',
      reason: rateLimitedReason(error) ?? undefined,
      error: transient(error, code),
    };
  }
  if (status >= 500) {
    return { kind: replayed ? 'stored_failure' : 'unknown', error: transient(error, code) };
  }
  if (isDefinitiveRefusal(error, status)) {
    const refusal = TRANSIENT_REFUSAL_CODES.has(code)
      ? transient(error, code)
      : new PermanentPayoutError(error.message, code, { cause: error });
    return { kind: 'refused', stored: replayed, error: refusal };
  }
  return { kind: 'unknown', error: transient(error, code) };
}

/** Stripe-Rate-Limited-Reason of a 429 (global-rate, endpoint-concurrency, …); null if not a 429. */
export function rateLimitedReason(error: unknown): string | undefined | null {
  if (!(error instanceof Stripe.errors.StripeError) || error.statusCode !== 429) return null;
  return error.headers?.['stripe-rate-limited-reason'] ?? undefined;
}

/** A failed read (a search, a retrieve): always transient, whatever the status. */
export function classifyStripeReadFailure(error: unknown): TransientPayoutError {
  return error instanceof Stripe.errors.StripeError
    ? transient(error, stripeErrorCode(error))
    : transient(error, 'stripe_call_failed');
}

function isDefinitiveRefusal(error: Stripe.errors.StripeError, status: number): boolean {
  if (error instanceof Stripe.errors.StripeCardError) return true;
  if (!(error instanceof Stripe.errors.StripeInvalidRequestError)) return false;
  // A 404 without Stripe's code is a misrouted call (a proxy, a wrong base URL), not Stripe's answer.
  return status === 400 || (status === 404 && error.code !== undefined);
}

function transient(error: unknown, code: TransientCode | StripeErrorCode): TransientPayoutError {
  // The SDK reports a retry it could not send (no slot of the budget) as a connection error.
  const unsent =
    error instanceof Stripe.errors.StripeConnectionError &&
    error.detail instanceof NoStripeSlotError
      ? error.detail
      : undefined;
  const message = unsent
    ? `${unsent.message} (a retry by the Stripe SDK: what the call's earlier request did is unknown)`
    : error instanceof Stripe.errors.StripeError
      ? error.message
      : `Stripe call failed: ${error instanceof Error ? error.message : String(error)}`;
  return new TransientPayoutError(message, code, { cause: error });
}

/** Stripe's own code, else a name for the error's class; open-ended, as Stripe's codes are. */
function stripeErrorCode(error: Stripe.errors.StripeError): StripeErrorCode {
  return (error.code || nameOfCodelessError(error)) as StripeErrorCode;
}

function nameOfCodelessError(error: Stripe.errors.StripeError): string {
  if (error instanceof Stripe.errors.StripeConnectionError) return 'stripe_connection_error';
  if (error instanceof Stripe.errors.StripeRateLimitError) return 'rate_limit';
  if (error instanceof Stripe.errors.StripeAPIError) return 'stripe_api_error';
  if (error instanceof Stripe.errors.StripeAuthenticationError)
    return 'stripe_authentication_error';
  if (error instanceof Stripe.errors.StripePermissionError) return 'stripe_permission_error';
  if (error instanceof Stripe.errors.StripeIdempotencyError) return 'idempotency_error';
  return error.type ?? 'stripe_error';
}
