import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import type { OutboxEvent } from './db/payout-events.repository.ts';
import { EVENT_PUBLISH_TRY_TIMEOUT_MS } from './runtime-limits.ts';

/** PutEvents takes at most this many entries. */
export const PUT_EVENTS_BATCH_LIMIT = 10;

/** The `source` of every payout event on the bus (docs/payout-events.md). */
export const PAYOUT_EVENT_SOURCE = 'payouts';

export interface PayoutEventBus {
  /**
   * Puts up to PUT_EVENTS_BATCH_LIMIT events on the bus; resolves to those EventBridge did not
   * accept, with its reason. Throws if the call itself failed (then none may count as published).
   */
  put(events: readonly OutboxEvent[]): Promise<{ failed: { id: string; error: string }[] }>;
}

/**
 * The bus of a Lambda: region and endpoint from the environment (AWS_REGION,
 * AWS_ENDPOINT_URL_EVENTBRIDGE) as usual. Short timeouts: a payout waits for the publishing right
 * after its commit, and an event not published now is the sweeper's.
 */
export function createPayoutEventBus(busName: string): PayoutEventBus {
  const client = new EventBridgeClient({
    // Two tries of at most 1 s to connect and 3 s to answer: within EVENT_PUBLISH_BUDGET_MS.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1_000, requestTimeout: EVENT_PUBLISH_TRY_TIMEOUT_MS },
  });
  return createEventBridgePayoutEventBus(client, busName);
}

/** `busName`: the bus's name or ARN. */
export function createEventBridgePayoutEventBus(
  client: EventBridgeClient,
  busName: string,
): PayoutEventBus {
  return {
    async put(events) {
      if (events.length > PUT_EVENTS_BATCH_LIMIT) {
        throw new RangeError(`put takes at most ${PUT_EVENTS_BATCH_LIMIT} events`);
      }
      if (events.length === 0) return { failed: [] };
      const result = await client.send(
        new PutEventsCommand({
          Entries: events.map((event) => ({
            EventBusName: busName,
            Source: PAYOUT_EVENT_SOURCE,
            DetailType: event.type,
            Detail: JSON.stringify(event.detail),
            Time: event.occurredAt,
          })),
        }),
      );
      // PutEvents answers 200 even when some entries failed: each failed entry, in request order,
      // carries an ErrorCode. An entry the answer does not account for counts as failed: it is
      // published again (the same event id), never taken as published without proof.
      const entries = result.Entries ?? [];
      const failed = events.flatMap((event, index) => {
        const entry = entries[index];
        if (entry?.EventId && !entry.ErrorCode) return [];
        const error = entry?.ErrorCode
          ? `${entry.ErrorCode}: ${entry.ErrorMessage ?? ''}`.trim()
          : 'PutEvents gave no result for this entry';
        return [{ id: event.id, error }];
      });
      return { failed };
    },
  };
}
