import Stripe from 'stripe';
import type { TransferTerms } from './payout-plan.ts';
import { STRIPE_MAX_NETWORK_RETRIES, STRIPE_TIMEOUT_MS } from './runtime-limits.ts';
import { paceStripeRequest } from './stripe-budget.ts';

/**
 * The SDK's Node HTTP client, with each request held to the Stripe request budget just before it
 * leaves (stripe-budget.ts, SendSlot): so the SDK's own retries inside a call are paced too, and a
 * request held after its slot's check is judged where it is sent.
 */
class PacedHttpClient extends Stripe.HttpClient {
  private readonly node = Stripe.createNodeHttpClient();

  override getClientName(): string {
    return this.node.getClientName();
  }

  override async makeRequest(
    ...request: Parameters<Stripe.HttpClient['makeRequest']>
  ): ReturnType<Stripe.HttpClient['makeRequest']> {
    const [host, port, path, method, headers, ...rest] = request;
    await paceStripeRequest(headers);
    return this.node.makeRequest(host, port, path, method, headers, ...rest);
  }
}

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
    httpClient: new PacedHttpClient(),
    appInfo: { name: 'payouts' },
    ...(target && {
      host: target.hostname,
      port: target.port || (target.protocol === 'https:' ? 443 : 80),
      protocol: target.protocol === 'https:' ? 'https' : 'http',
    }),
  });
}

/**
 * Follows one idempotency key through the SDK's own events: whether every request it sent under
 * the key got an answer back. A timed-out attempt, or one the SDK retried (it emits no response
 * event for those), may still reach Stripe later.
 */
export function watchIdempotencyKey(stripe: Pick<Stripe, 'on' | 'off'>, idempotencyKey: string) {
  let sent = 0;
  let answered = 0;
  const onRequest = (event: Stripe.RequestEvent) => {
    if (event.idempotency_key === idempotencyKey) sent += 1;
  };
  const onResponse = (event: Stripe.ResponseEvent) => {
    if (event.idempotency_key === idempotencyKey) answered += 1;
  };
  stripe.on('request', onRequest);
  stripe.on('response', onResponse);
  return {
    everyRequestAnswered: () => sent > 0 && sent === answered,
    stop() {
      stripe.off('request', onRequest);
      stripe.off('response', onResponse);
    },
  };
}

/** The terms Stripe made a transfer with; destination and source may come expanded as objects. */
export function transferTerms(transfer: Stripe.Transfer): TransferTerms {
  const { destination, source_transaction: source } = transfer;
  return {
    amount: transfer.amount,
    currency: transfer.currency,
    destination: typeof destination === 'string' ? destination : (destination?.id ?? ''),
    sourceTransaction: typeof source === 'string' ? source : (source?.id ?? null),
  };
}
