import Stripe from 'stripe';
import { STRIPE_MAX_NETWORK_RETRIES, STRIPE_TIMEOUT_MS } from './runtime-limits.ts';

/** `timeoutMs` is for tests that need a timeout to happen quickly. */
export function createStripeClient(
  secretKey: string,
  apiBase?: string,
  { timeoutMs = STRIPE_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Stripe {
  const target = apiBase ? new URL(apiBase) : undefined;
  return new Stripe(secretKey, {
    timeout: timeoutMs,
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
