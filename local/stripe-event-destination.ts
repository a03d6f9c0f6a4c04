import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { stripeEventBridgeEvent } from './lambda-events.ts';
import { LOCAL_STRIPE_EVENT_SOURCE } from './pipeline-env.ts';
import type { StandInEvent, StripeStandIn } from './stripe-stand-in/stripe-stand-in.ts';

/**
 * What Stripe's event destination (type Amazon EventBridge) and the stack's two rules do, locally:
 * each event the Stripe stand-in emits that a rule matches (`account.updated` from a connected
 * account; the platform's `transfer.reversed` and `transfer.updated`) goes onto the stripe-events
 * queue in the EventBridge envelope, from the local partner event source.
 */
export interface LocalStripeEventDestination {
  /** Resolves once every event emitted so far is on the queue. */
  delivered(): Promise<void>;
  /** Events not put on the queue (SQS refused them), as EventBridge would retry and then DLQ. */
  failures(): string[];
  stop(): void;
}

export function startStripeEventDestination(options: {
  stripe: StripeStandIn;
  sqs: SQSClient;
  queueUrl: string;
}): LocalStripeEventDestination {
  const sending = new Set<Promise<void>>();
  const failures: string[] = [];
  const send = async (event: StandInEvent) => {
    const body = JSON.stringify(stripeEventBridgeEvent(event, LOCAL_STRIPE_EVENT_SOURCE));
    try {
      await options.sqs.send(
        new SendMessageCommand({ QueueUrl: options.queueUrl, MessageBody: body }),
      );
    } catch (error) {
      failures.push(`${event.id}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  const stop = options.stripe.onEvent((event) => {
    if (!matchesARule(event)) return;
    const sent = send(event).finally(() => sending.delete(sent));
    sending.add(sent);
  });
  return {
    async delivered() {
      await Promise.all([...sending]);
    },
    failures: () => [...failures],
    stop,
  };
}

function matchesARule(event: StandInEvent): boolean {
  if (event.type === 'account.updated') return event.account !== undefined;
  return (
    (event.type === 'transfer.reversed' || event.type === 'transfer.updated') &&
    event.account === undefined
  );
}
