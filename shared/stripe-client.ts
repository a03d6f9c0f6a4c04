import Stripe from 'stripe';

/**
 * Worst case of one SDK call: (1 + retries) tries of TIMEOUT_MS plus backoff. The payout lease and
 * the transfer Lambda's timeout are sized from STRIPE_CALL_BUDGET_MS.
 */
export const STRIPE_TIMEOUT_MS = 20_000;
export const STRIPE_MAX_NETWORK_RETRIES = 2;
export const STRIPE_CALL_BUDGET_MS = STRIPE_TIMEOUT_MS * (STRIPE_MAX_NETWORK_RETRIES + 1) + 5_000;

export function createStripeClient(secretKey: string, apiBase?: string): Stripe {
  const target = apiBase ? new URL(apiBase) : undefined;
  return new Stripe(secretKey, {
    timeout: STRIPE_TIMEOUT_MS,
    // Retries inside one call reuse our idempotency key, so they can never create a second transfer.
    maxNetworkRetries: STRIPE_MAX_NETWORK_RETRIES,
    telemetry: false,
    appInfo: { name: 'payouts' },
    ...(target && {
      host: target.hostname,
      port: target.port || (target.protocol === 'https:' ? 443 : 80),
      protocol: target.protocol === 'https:' ? 'https' : 'http',
    }),
  });
}
