import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import type { PlanStop } from '../../shared/payout-plan.ts';
import type { Ineligibility } from '../../shared/payout-policy.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import type { CliDeps } from '../cli-deps.ts';
import { planForSession } from '../session-plan.ts';

const INELIGIBLE: Record<Ineligibility, string> = {
  not_confirmed: 'the session is not confirmed',
  already_paid_out: 'the session is already paid out',
  not_payable: 'the session is marked not payable',
  too_recent: 'the session ended less than PAYOUT_GRACE_HOURS ago',
};

/** Why the transfer Lambda would move no money for the session now. */
function reasonNotEnqueued(stop: PlanStop): string {
  switch (stop.kind) {
    case 'paused':
      return 'payouts are paused (run payouts resume first)';
    case 'in_progress':
      return 'a transfer Lambda is paying this session right now';
    case 'unsettled':
      return `an earlier transfer request may still be running at Stripe; retry after ${stop.until.toISOString()}`;
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
export async function retryCommand(deps: CliDeps, sessionId: string): Promise<number> {
  const notEnqueued = (reason: string) => {
    deps.out.error(`Not enqueued: ${reason}.`);
    return 1;
  };
  if (!z.guid().safeParse(sessionId).success)
    return notEnqueued(`"${sessionId}" is not a session id (uuid)`);
  const { plan, payout } = await planForSession(deps, sessionId);
  if (plan.step === 'stop') return notEnqueued(reasonNotEnqueued(plan.stop));
  await deps.sqs().send(
    new SendMessageCommand({
      QueueUrl: deps.queueUrl(),
      MessageBody: payoutMessageBody(sessionId),
    }),
  );
  const unfinished =
    payout &&
    `generation ${payout.key_generation} (${payout.amount} ${payout.currency} to ${payout.destination})`;
  deps.out.log(
    plan.step === 'start'
      ? `Enqueued session ${sessionId}: ${plan.terms.amount} ${plan.terms.currency} to ${plan.terms.destination}.`
      : plan.step === 'resend'
        ? `Enqueued session ${sessionId}: its unfinished ${unfinished} will be resent with the same key.`
        : `Enqueued session ${sessionId}: Stripe will be searched for the transfer of its unfinished ${unfinished}.`,
  );
  return 0;
}
