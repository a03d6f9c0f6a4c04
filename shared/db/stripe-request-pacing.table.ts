/** Per Stripe endpoint, when its next request may be sent (stripe-request-pacing.repository.ts). */
export interface StripeRequestPacingTable {
  endpoint: string;
  next_slot_at: Date;
}
