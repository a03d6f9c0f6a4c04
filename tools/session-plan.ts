import { readPayoutControls } from '../shared/db/payout-controls.repository.ts';
import { findPayeeStanding, findPayout } from '../shared/db/payouts.repository.ts';
import { findSessionForPayout } from '../shared/db/sessions.repository.ts';
import { type PayoutPlan, planPayout } from '../shared/payout-plan.ts';
import type { CliDeps } from './cli-deps.ts';

/**
 * What the transfer Lambda would do with the session now: its own planPayout on the stored rows,
 * the payee's standing included (a held mentor, an account Stripe said is not ready).
 */
export async function planForSession(
  deps: Pick<CliDeps, 'db' | 'clock' | 'config'>,
  sessionId: string,
) {
  const [session, payout, controls, payee] = await Promise.all([
    findSessionForPayout(deps.db, sessionId),
    findPayout(deps.db, sessionId),
    readPayoutControls(deps.db),
    findPayeeStanding(deps.db, sessionId),
  ]);
  const plan: PayoutPlan = planPayout({
    session,
    payout,
    now: deps.clock.now(),
    // The functions' PAYOUTS_PAUSED pauses as the switch does (the Lambda ORs them too).
    paused: controls.paused || deps.config.paused,
    config: deps.config,
    payee,
  });
  return { plan, payout };
}

/** A message for the session can only be acknowledged without effect: its payout is final. */
export function isSettled(plan: PayoutPlan): boolean {
  return (
    plan.step === 'stop' &&
    plan.stop.kind === 'ineligible' &&
    (plan.stop.reason === 'already_paid_out' || plan.stop.reason === 'not_payable')
  );
}
