/*
 * NEGATIVE CONTROL 1: the payout protocol as it was before the fix of finding 1, which spin must
 * refute. Same model as payout-protocol.pml (same Stripe, network, crashes, clock), with the old
 * claimPayout and classification (the #ifdef BEFORE_FIX parts there):
 * - after a timeout, a dropped connection, a 409 or any 5xx the lease is released with
 *   outcome_unknown = true;
 * - the next claim that sees outcome_unknown (or a key older than 20 h) searches Stripe at once,
 *   without waiting for the earlier request to finish, and if the search finds nothing starts
 *   generation + 1 with a new key;
 * - a search failing with a 4xx is recorded as a refusal, which also ends the generation, and so
 *   does any 400.
 * Expected: assertion (b) fails, and with -DCHECK_B=0 the double transfer (a) itself. check.sh
 * runs it with -DREFUSALS_STORED=1 (Stripe stores every refusal, as assumed then), so that the
 * shortest counterexample is finding 1 and not the unstored refusal of negative control 2.
 */
#define BEFORE_FIX
#include "payout-protocol.pml"
