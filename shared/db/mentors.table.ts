/** Owned by the marketplace; payouts only reads it. */
export interface MentorsTable {
  id: string;
  stripe_account_id: string | null;
}
