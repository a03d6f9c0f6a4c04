import type { AccountState } from '../../local/stripe-stand-in/stripe-stand-in.ts';

/**
 * A mentor changes their connected account at Stripe, for a Stripe stand-in running in another
 * process (`npm start -- --keep`): its control route does what `setAccount` does, and a change of
 * a known account emits `account.updated`.
 */
export async function setAccountAtStripe(
  stripeApiBase: string,
  account: string,
  state: AccountState,
): Promise<void> {
  const response = await fetch(`${stripeApiBase}/_stand_in/accounts/${account}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: `state=${state}`,
  });
  if (response.status !== 200) {
    throw new Error(`the stand-in refused ${account} → ${state}: ${await response.text()}`);
  }
}
