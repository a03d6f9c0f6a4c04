import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { PermanentPayoutError, TransientPayoutError } from '../../shared/errors.ts';
import { classifyStripeError } from '../../shared/stripe-errors.ts';

const { errors } = Stripe;

describe('classifyStripeError', () => {
  it.each([
    'insufficient_capabilities_for_transfer',
    'account_invalid',
    'transfers_not_allowed',
    'resource_missing',
    'parameter_unknown',
  ])('holds an invalid request with code %s for admin review', (code) => {
    const error = new errors.StripeInvalidRequestError({ code, message: `refused: ${code}` });

    const classified = classifyStripeError(error);

    expect(classified).toBeInstanceOf(PermanentPayoutError);
    expect(classified.code).toBe(code);
    expect(classified.message).toBe(`refused: ${code}`);
  });

  it('retries balance_insufficient: the platform balance refills, the mentor did nothing wrong', () => {
    const error = new errors.StripeInvalidRequestError({
      code: 'balance_insufficient',
      message: 'low',
    });
    expect(classifyStripeError(error)).toBeInstanceOf(TransientPayoutError);
  });

  it.each([
    [new errors.StripeAPIError({ message: 'boom' }), 'stripe_api_error'],
    [new errors.StripeConnectionError({ message: 'reset' }), 'stripe_connection_error'],
    [new errors.StripeRateLimitError({ message: 'slow down' }), 'rate_limit'],
    [new errors.StripeAuthenticationError({ message: 'bad key' }), 'stripe_authentication_error'],
    [new errors.StripePermissionError({ message: 'no' }), 'stripe_permission_error'],
    [new errors.StripeIdempotencyError({ message: 'key reused' }), 'idempotency_error'],
  ])('lets SQS retry %s (code %s)', (error, code) => {
    const classified = classifyStripeError(error);

    expect(classified).toBeInstanceOf(TransientPayoutError);
    expect(classified.code).toBe(code);
  });

  it('keeps Stripe code on a rate-limit error that carries one', () => {
    const error = new errors.StripeRateLimitError({ code: 'lock_timeout', message: 'busy' });
    expect(classifyStripeError(error).code).toBe('lock_timeout');
  });

  it('treats an error that is not from Stripe as transient', () => {
    const classified = classifyStripeError(new TypeError('socket hang up'));

    expect(classified).toBeInstanceOf(TransientPayoutError);
    expect(classified.code).toBe('stripe_call_failed');
    expect(classified.message).toBe('Stripe call failed: socket hang up');
  });
});
