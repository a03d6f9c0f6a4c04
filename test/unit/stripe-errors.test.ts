import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { PermanentPayoutError, TransientPayoutError } from '../../shared/errors.ts';
import { rateLimitBackoffMs } from '../../shared/stripe-budget.ts';
import { classifyStripeReadFailure, classifyTransferFailure } from '../../shared/stripe-errors.ts';

const { errors } = Stripe;
const replayed = { 'idempotent-replayed': 'true' };

describe('classifyTransferFailure', () => {
  it.each([
    'insufficient_capabilities_for_transfer',
    'account_invalid',
    'transfers_not_allowed',
    'resource_missing',
    'parameter_unknown',
  ])(
    'sorts a 400 with code %s as a permanent refusal: the payout fails, for admin review',
    (code) => {
      const error = new errors.StripeInvalidRequestError({
        code,
        message: `refused: ${code}`,
        statusCode: 400,
      });

      const failure = classifyTransferFailure(error);

      expect(failure.kind).toBe('refused');
      expect(failure.error).toBeInstanceOf(PermanentPayoutError);
      expect(failure.error.code).toBe(code);
      expect(failure.error.message).toBe(`refused: ${code}`);
    },
  );

  it('sorts balance_insufficient, fresh or replayed, as a refusal to retry with a new key', () => {
    for (const headers of [{}, replayed]) {
      const error = new errors.StripeInvalidRequestError({
        code: 'balance_insufficient',
        message: 'low',
        statusCode: 400,
        headers,
      });

      const failure = classifyTransferFailure(error);

      expect(failure.kind).toBe('refused');
      expect(failure.error).toBeInstanceOf(TransientPayoutError);
    }
  });

  it('sorts a replayed 5xx as a stored failure: every request under the key has finished', () => {
    const error = new errors.StripeAPIError({
      message: 'boom',
      statusCode: 500,
      headers: replayed,
    });
    expect(classifyTransferFailure(error)).toMatchObject({
      kind: 'stored_failure',
      error: { code: 'stripe_api_error' },
    });
  });

  it('sorts idempotency_error (the key used with other parameters) as a rejected key', () => {
    const error = new errors.StripeIdempotencyError({ message: 'other params', statusCode: 400 });
    expect(classifyTransferFailure(error)).toMatchObject({
      kind: 'key_rejected',
      error: { code: 'idempotency_error' },
    });
  });

  it.each([
    ['a fresh 5xx', new errors.StripeAPIError({ message: 'boom', statusCode: 500 })],
    ['a 503 from the edge', new errors.StripeAPIError({ message: 'busy', statusCode: 503 })],
    [
      'a 409 while a request with the key is still executing',
      new errors.StripeIdempotencyError({
        code: 'idempotency_key_in_use',
        message: 'in use',
        statusCode: 409,
      }),
    ],
    ['a timeout or dropped connection', new errors.StripeConnectionError({ message: 'reset' })],
    [
      'a 401 (refused before the key was looked at)',
      new errors.StripeAuthenticationError({ message: 'bad key', statusCode: 401 }),
    ],
    ['a 403', new errors.StripePermissionError({ message: 'no', statusCode: 403 })],
    [
      'a 404 without Stripe’s code (a misrouted call)',
      new errors.StripeInvalidRequestError({
        message: 'Unrecognized request URL',
        statusCode: 404,
      }),
    ],
    ['an error that is not from Stripe', new TypeError('socket hang up')],
  ])('sorts %s as unknown: it says nothing definitive about the key', (_name, error) => {
    const failure = classifyTransferFailure(error);

    expect(failure.kind).toBe('unknown');
    expect(failure.error).toBeInstanceOf(TransientPayoutError);
  });

  it('names a non-Stripe failure without losing its message', () => {
    expect(classifyTransferFailure(new TypeError('socket hang up')).error).toMatchObject({
      code: 'stripe_call_failed',
      message: 'Stripe call failed: socket hang up',
    });
  });

  it('sorts a 429 as rate-limited, with Stripe-Rate-Limited-Reason: refused before Stripe looked at the key', () => {
    const error = new errors.StripeRateLimitError({
      message: 'slow down',
      statusCode: 429,
      headers: { 'stripe-rate-limited-reason': 'endpoint-concurrency' },
    });

    const failure = classifyTransferFailure(error);

    expect(failure).toMatchObject({ kind: 'rate_limited', reason: 'endpoint-concurrency' });
    expect(failure.error).toBeInstanceOf(TransientPayoutError);
  });

  it('keeps Stripe’s code on a rate-limit error that carries one', () => {
    const error = new errors.StripeRateLimitError({
      code: 'lock_timeout',
      message: 'busy',
      statusCode: 429,
    });
    expect(classifyTransferFailure(error).error.code).toBe('lock_timeout');
  });
});

describe('rateLimitBackoffMs', () => {
  it('backs off by the reason: a second for a rate, a quarter for concurrency, half for none given', () => {
    expect(rateLimitBackoffMs('endpoint-rate', 1)).toBe(1_000);
    expect(rateLimitBackoffMs('global-rate', 1)).toBe(1_000);
    expect(rateLimitBackoffMs('global-concurrency', 1)).toBe(250);
    expect(rateLimitBackoffMs(undefined, 1)).toBe(500);
  });

  it('doubles with each attempt, up to 8 s', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => rateLimitBackoffMs('endpoint-rate', attempt))).toEqual([
      1_000, 2_000, 4_000, 8_000, 8_000,
    ]);
  });
});

describe('classifyStripeReadFailure', () => {
  it.each([
    new errors.StripeInvalidRequestError({ message: 'Unrecognized request URL', statusCode: 404 }),
    new errors.StripeInvalidRequestError({
      code: 'parameter_unknown',
      message: 'bad',
      statusCode: 400,
    }),
    new errors.StripeAPIError({ message: 'boom', statusCode: 500 }),
  ])('treats every failed search as transient: the outcome stays unknown', (error) => {
    expect(classifyStripeReadFailure(error)).toBeInstanceOf(TransientPayoutError);
  });
});
