import { SendMessageCommand } from '@aws-sdk/client-sqs';
import type { PlanStop } from '../../shared/payout-plan.ts';
import type { Ineligibility } from '../../shared/payout-policy.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import type { CliDeps } from '../cli-deps.ts';
import { planForSession } from '../session-plan.ts';
import { formatMoney, formatWhen, printJson } from './format.ts';

const INELIGIBLE: Record<Ineligibility, string> = {
  not_confirmed: 'the session is not confirmed',
  already_paid_out: 'the session is already paid out',
  not_payable: 'the session is marked not payable',
  too_recent: 'the session ended less than PAYOUT_GRACE_HOURS ago',
};

/** Why the transfer Lambda would move no money for the session now. */
function reasonNotEnqueued(deps: CliDeps, stop: PlanStop): string {
  switch (stop.kind) {
    case 'paused':
      return deps.config.paused
        ? 'payouts are paused (PAYOUTS_PAUSED=true on the functions)'
        : 'payouts are paused (run npx payouts resume first)';
    case 'in_progress':
      return 'a transfer Lambda is paying this session right now';
    case 'unsettled':
      return `an earlier transfer request may still be running at Stripe; retry after ${formatWhen(stop.until, deps.clock.now())}`;
    case 'session_not_found':
      return 'no session has this id';
    case 'ineligible':
      return INELIGIBLE[stop.reason];
    case 'not_payable':
      return `the net amount ${stop.net} is not positive`;
    case 'failed':
      return `${stop.code}: ${stop.message}`;
    case 'inconsistent':
      return stop.message;
  }
}

/**
 * Enqueues one session if the transfer Lambda would act on it now, by the Lambda's own planPayout;
 * otherwise says why not and exits 1. The Lambda takes every decision that can start a request.
 */
export async function retryCommand(
  deps: CliDeps,
  sessionId: string,
  options: { json: boolean },
): Promise<number> {
  const { plan, payout } = await planForSession(deps, sessionId);
  if (plan.step === 'stop') {
    const reason = reasonNotEnqueued(deps, plan.stop);
    if (options.json)
      printJson(deps.out, { sessionId, enqueued: false, stop: plan.stop.kind, reason });
    deps.out.error(`Not enqueued: ${reason}.`);
    return 1;
  }
  await deps.sqs().send(
    new SendMessageCommand({
      QueueUrl: deps.queueUrl(),
      MessageBody: payoutMessageBody(sessionId),
    }),
  );
  if (options.json) {
    printJson(deps.out, {
      sessionId,
      enqueued: true,
      step: plan.step,
      ...(plan.step === 'start' ? { terms: plan.terms } : { generation: payout?.key_generation }),
    });
    return 0;
  }
  const unfinished =
    payout &&
    `generation ${payout.key_generation} (${formatMoney(payout.amount, payout.currency)} to ${payout.destination})`;
  deps.out.log(
    plan.step === 'start'
      ? `Enqueued session ${sessionId}: ${formatMoney(plan.terms.amount, plan.terms.currency)} to ${plan.terms.destination}.`
      : plan.step === 'resend'
        ? `Enqueued session ${sessionId}: its unfinished ${unfinished} will be resent with the same key.`
        : `Enqueued session ${sessionId}: Stripe will be searched for the transfer of its unfinished ${unfinished}.`,
  );
  return 0;
}
