import type { Kysely } from 'kysely';
import type { Clock } from './clock.ts';
import type { Database } from './db/database.ts';
import {
  claimUnpublishedEvents,
  markEventsPublished,
  markEventsUnpublished,
} from './db/payout-events.repository.ts';
import type { Log } from './logger.ts';
import { type PayoutEventBus, PUT_EVENTS_BATCH_LIMIT } from './payout-event-bus.ts';

/**
 * Publishes the outbox (docs/payout-events.md): events written with their outcomes, in the same
 * transactions, go to EventBridge after commit. At least once: a row is marked published only
 * after EventBridge accepted it, so a publisher that dies in between leaves it for the next one,
 * which sends the same event (same eventId) again. Nothing else writes events, so none is invented.
 */

/** How long a publisher holds the events it took; one that died is replaced after this. */
export const PUBLISH_LEASE_MS = 60_000;
/** An event EventBridge did not take is tried again after this (the next sweep). */
export const PUBLISH_RETRY_DELAY_MS = 5 * 60_000;

export interface PublishDeps {
  db: Kysely<Database>;
  bus: PayoutEventBus;
  clock: Clock;
  log: Log;
}

export interface PublishSummary {
  published: number;
  /** Events EventBridge did not take (or a call that failed): they wait for the next sweep. */
  unpublished: number;
}

/**
 * Publishes unpublished events, oldest first, in batches, until none is left, a batch fails, or
 * `maxBatches` is reached; optionally one session's only. Per-entry failures stay unpublished
 * with their reason; a failed call leaves its whole batch so. Database errors are thrown.
 */
export async function publishPayoutEvents(
  deps: PublishDeps,
  scope: { sessionId?: string; maxBatches?: number } = {},
): Promise<PublishSummary> {
  const summary: PublishSummary = { published: 0, unpublished: 0 };
  for (let batch = 0; batch < (scope.maxBatches ?? Number.POSITIVE_INFINITY); batch += 1) {
    const now = deps.clock.now();
    const events = await claimUnpublishedEvents(deps.db, {
      now,
      leaseUntil: new Date(now.getTime() + PUBLISH_LEASE_MS),
      limit: PUT_EVENTS_BATCH_LIMIT,
      ...(scope.sessionId && { sessionId: scope.sessionId }),
    });
    if (events.length === 0) break;
    let failed: { id: string; error: string }[];
    try {
      ({ failed } = await deps.bus.put(events));
    } catch (error) {
      const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failed = events.map((event) => ({ id: event.id, error: reason }));
    }
    const failedIds = new Set(failed.map((failure) => failure.id));
    const published = events.filter((event) => !failedIds.has(event.id)).map((event) => event.id);
    const retryAt = new Date(deps.clock.now().getTime() + PUBLISH_RETRY_DELAY_MS);
    await markEventsPublished(deps.db, published, deps.clock.now());
    await markEventsUnpublished(deps.db, failed, retryAt);
    summary.published += published.length;
    summary.unpublished += failed.length;
    if (failed.length > 0) {
      deps.log.warn('EventBridge did not take some payout events; they wait for the next sweep', {
        eventIds: failed.map((failure) => failure.id),
        errors: [...new Set(failed.map((failure) => failure.error))],
      });
      // EventBridge is refusing or failing: leave the rest to the next sweep.
      break;
    }
    if (events.length < PUT_EVENTS_BATCH_LIMIT) break;
  }
  return summary;
}

/**
 * After the transaction that recorded a session's outcome committed: publishes its events at once,
 * best effort. It never fails the payout: whatever goes wrong, the sweeper publishes them later.
 */
export async function publishSessionEventsAfterCommit(
  deps: PublishDeps,
  sessionId: string,
): Promise<void> {
  try {
    await publishPayoutEvents(deps, { sessionId, maxBatches: 1 });
  } catch (error) {
    deps.log.warn('Could not publish the payout events now; the sweeper will', {
      sessionId,
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
