import { countUnpublishedEvents } from '../../shared/db/payout-events.repository.ts';
import { type PublishDeps, publishPayoutEvents } from '../../shared/payout-events.ts';

/**
 * Publishes every payout event left unpublished: a Lambda that died between its commit and its
 * publishing, or EventBridge that refused an entry. Runs on its own schedule; the same event
 * published twice carries the same eventId (docs/payout-events.md).
 */

/** Events younger than this may still be being published right after their commit. */
export const SWEEP_GRACE_MS = 5 * 60_000;

/** Batches of 10 per sweep: 5 000 events, far more than a day's outcomes. */
const MAX_SWEEP_BATCHES = 500;

export interface SweepSummary {
  published: number;
  /** Events EventBridge did not take in this sweep. */
  refused: number;
  /** Events older than the grace still unpublished after the sweep: the alarm's metric. */
  waiting: number;
}

export async function sweepPayoutEvents(deps: PublishDeps): Promise<SweepSummary> {
  const { published, unpublished } = await publishPayoutEvents(deps, {
    maxBatches: MAX_SWEEP_BATCHES,
  });
  const graceEnds = new Date(deps.clock.now().getTime() - SWEEP_GRACE_MS);
  const waiting = await countUnpublishedEvents(deps.db, graceEnds);
  const summary = { published, refused: unpublished, waiting };
  if (waiting > 0) deps.log.warn('Payout events are waiting to be published', summary);
  else deps.log.info('Payout events swept', summary);
  return summary;
}
