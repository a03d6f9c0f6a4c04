import type { Selectable } from 'kysely';

/** Stripe events the stripe-events Lambda has seen, by event id (stripe-events.repository.ts). */
export interface StripeEventsTable {
  id: string;
  type: string;
  /** The connected account the event came from; null for the platform's own events. */
  account: string | null;
  stripe_created_at: Date;
  received_at: Date;
  /** Set once the event was handled to the end; a later delivery of it then changes nothing. */
  processed_at: Date | null;
}

export type StripeEventRow = Selectable<StripeEventsTable>;
