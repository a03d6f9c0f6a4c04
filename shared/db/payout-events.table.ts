import type { ColumnType, Selectable } from 'kysely';

/** The events the marketplace is told of (docs/payout-events.md): one per final outcome. */
export type PayoutEventType = 'payout.paid' | 'payout.failed' | 'payout.reversed';

/** What an event's `detail` holds, version 1; the same on every delivery of the event. */
export interface PayoutEventDetail {
  version: 1;
  /** The event's id: consumers de-duplicate by it (EventBridge's own `id` differs per delivery). */
  eventId: string;
  type: PayoutEventType;
  sessionId: string;
  mentorId: string;
  /** Minor units: transferred (paid), owed (failed; null if it cannot be computed), reversed. */
  amount: number | null;
  currency: string | null;
  /** The attempt's code (`paid_after_change`, a failure code, …); null for a plain payment. */
  code: string | null;
  stripeTransferId: string | null;
  /** payout.reversed: Stripe's reversal (`trr_…`) and when Stripe made it (ISO 8601 UTC); else null. */
  reversalId: string | null;
  reversedAt: string | null;
  /** When the outcome was recorded, ISO 8601 UTC. */
  occurredAt: string;
}

/** The outbox: written with the outcome, in its transaction; published after commit. */
export interface PayoutEventsTable {
  id: ColumnType<string, string | undefined, never>;
  event_type: ColumnType<PayoutEventType, PayoutEventType, never>;
  session_id: ColumnType<string, string, never>;
  detail: ColumnType<PayoutEventDetail, string, never>;
  occurred_at: ColumnType<Date, Date, never>;
  created_at: ColumnType<Date, Date | undefined, never>;
  published_at: ColumnType<Date | null, never, Date | null>;
  publish_lease_until: ColumnType<Date | null, never, Date | null>;
  publish_attempts: ColumnType<number, never, number>;
  last_publish_error: ColumnType<string | null, never, string | null>;
}

export type PayoutEventRow = Selectable<PayoutEventsTable>;
