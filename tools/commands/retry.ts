import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { findPayout } from '../../shared/db/payouts.repository.ts';
import { findSessionForPayout } from '../../shared/db/sessions.repository.ts';
import { checkEligibility, payoutDecision } from '../../shared/payout-policy.ts';
import { payoutMessageBody } from '../../shared/payout-queue.ts';
import type { CliDeps } from '../cli-deps.ts';

const REASONS: Record<string, string> = {
  not_confirmed: 'the session is not confirmed',
  already_paid_out: 'the session is already paid out',
  not_payable: 'the session is marked not payable',
  too_recent: 'the session ended less than PAYOUT_GRACE_HOURS ago',
};

/** Enqueues one session after the checks the transfer Lambda would make; refuses with the reason. */
export async function retryCommand(deps: CliDeps, sessionId: string): Promise<number> {
  const refuse = (reason: string) => {
    deps.out.error(`Not enqueued: ${reason}.`);
    return 1;
  };
  if (!z.guid().safeParse(sessionId).success)
    return refuse(`"${sessionId}" is not a session id (uuid)`);
  const session = await findSessionForPayout(deps.db, sessionId);
  if (!session) return refuse('no session has this id');
  const eligibility = checkEligibility(session, deps.clock.now(), deps.config.graceHours);
  if (!eligibility.eligible) return refuse(REASONS[eligibility.reason] ?? eligibility.reason);
  const decision = payoutDecision(session, deps.config);
  if (decision.kind === 'not_payable')
    return refuse(`the net amount ${decision.net} is not positive`);
  if (decision.kind === 'hold') return refuse(`${decision.code}: ${decision.message}`);
  const payout = await findPayout(deps.db, sessionId);
  if (payout?.lease_expires_at && payout.lease_expires_at > deps.clock.now()) {
    return refuse('a transfer Lambda is paying this session right now');
  }
  await deps.sqs().send(
    new SendMessageCommand({
      QueueUrl: deps.queueUrl(),
      MessageBody: payoutMessageBody(sessionId),
    }),
  );
  deps.out.log(
    `Enqueued session ${sessionId}: ${decision.net} ${session.currency} to ${decision.destination}.`,
  );
  return 0;
}
