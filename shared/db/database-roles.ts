/**
 * The database roles that log in, by the name the code uses for each, with the PostgreSQL role the
 * migrations create for it (shared/db/migrations/0009-database-roles.ts): one per Lambda, and the
 * operator CLI's. The stack names a secret per role (infra/environments.ts); locally each gets a
 * login user (local/database-logins.ts).
 */
export const DATABASE_ROLES = {
  scan: 'payouts_scan',
  transfer: 'payouts_transfer',
  stripeEvents: 'payouts_stripe_events',
  reconcile: 'payouts_reconcile',
  payoutEvents: 'payouts_payout_events',
  operator: 'payouts_operator',
} as const;

export type DatabaseRole = keyof typeof DATABASE_ROLES;

export const DATABASE_ROLE_NAMES = Object.keys(DATABASE_ROLES) as DatabaseRole[];
